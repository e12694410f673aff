"""Class weights and class balance on plain numpy arrays, shared by the torch losses and the
scikit-learn models (which take them as `sample_weight` / resampled rows). No torch here."""
from __future__ import annotations

import numpy as np

from cleanlab_lite.config import BALANCE, CLASS_WEIGHTS  # noqa: F401  (names used here and by sampling)
from cleanlab_lite.errors import ConfigError


def parse_floats(spec: str | float | int | list | tuple, what: str) -> list[float]:
    """'0.1' or '0.1,0.2' or [0.1, 0.2] -> [floats]; errors name the option."""
    if isinstance(spec, (int, float)):
        return [float(spec)]
    parts = list(spec) if isinstance(spec, (list, tuple)) else str(spec).split(",")
    try:
        return [float(p) for p in parts]
    except (TypeError, ValueError):
        raise ConfigError(f"{what} {spec!r} must be a number or comma-separated numbers "
                          f"(e.g. 0.1 or 0.1,0.05,...)") from None


def class_weights(labels: np.ndarray, num_classes: int, spec: str = "none",
                  beta: float = 0.999) -> np.ndarray:
    """Per-class loss weights (K,) float32 from the training labels (N,).

    none: all 1; inverse: 1/n_k; sqrt_inverse: 1/sqrt(n_k); effective_number:
    (1 - beta) / (1 - beta^n_k) (Cui et al., 2019); or an explicit list 'w1,w2,...' of K values.
    The result is scaled so that mean over training rows of w[y] == 1. Classes absent from the
    training rows get weight 0 (they never occur in the loss).
    """
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    spec_s = str(spec).strip().lower() if not isinstance(spec, (list, tuple)) else None
    present = counts > 0
    safe = np.where(present, counts, 1.0)
    if spec_s == "none":
        w = np.ones(num_classes)
    elif spec_s == "inverse":
        w = 1.0 / safe
    elif spec_s == "sqrt_inverse":
        w = 1.0 / np.sqrt(safe)
    elif spec_s == "effective_number":
        if not 0.0 < beta < 1.0:
            raise ConfigError(f"effective_number_beta={beta} must be in (0, 1); e.g. 0.999")
        w = (1.0 - beta) / (1.0 - np.power(beta, safe))
    else:
        w = np.asarray(parse_floats(spec, "--class-weight"), dtype=np.float64)
        if w.shape[0] != num_classes or (w < 0).any() or not np.isfinite(w).all():
            raise ConfigError(f"--class-weight {spec!r} must be one of {', '.join(CLASS_WEIGHTS)} or "
                              f"{num_classes} non-negative comma-separated weights (one per class)")
    w = np.where(present, w, 0.0)
    avg = float((w * counts).sum() / max(counts.sum(), 1.0))
    if avg <= 0:
        raise ConfigError(f"--class-weight {spec!r} gives every training row weight 0; "
                          f"give at least one present class a positive weight")
    return (w / avg).astype(np.float32)


def balanced_rows(rows: np.ndarray, labels: np.ndarray, mode: str,
                  rng: np.random.Generator) -> np.ndarray:
    """Training rows redrawn so every present class occurs equally often (one draw, for models
    fit in one call): oversample draws every class n_max times (all its rows once, plus draws
    with replacement), undersample n_min times without replacement; none returns `rows`.

    rows: (M,) int64 row numbers; labels: (M,) their given labels."""
    mode = str(mode).lower()
    if mode not in BALANCE:
        raise ConfigError(f"--balance {mode!r} is not known; use one of {', '.join(BALANCE)}")
    if mode == "none":
        return rows
    classes, counts = np.unique(labels, return_counts=True)
    target = counts.max() if mode == "oversample" else counts.min()
    parts = []
    for c, n in zip(classes, counts):     # a loop over classes, not rows
        members = rows[labels == c]
        if target <= n:
            parts.append(rng.permutation(members)[:target])
        else:
            parts.append(np.concatenate([members, rng.choice(members, target - n)]))
    return np.sort(np.concatenate(parts))
