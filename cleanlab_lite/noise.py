"""Synthetic label noise for benchmarks: flip a known fraction of labels, keep the truth.

Three kinds, all described by a noise matrix ``P`` of shape (K, K) with
``P[i, j] = P(noisy label = i | true label = j)`` (columns sum to 1, cleanlab's convention):

- ``symmetric``: every flipped label goes to one of the other K-1 classes, uniformly.
- ``class_dependent``: a random matrix with a given trace (sum of the diagonal), optionally sparse
  (a fraction of the off-diagonal entries is exactly zero). The per-class noise rates differ and
  every column keeps its diagonal entry larger than any off-diagonal one, so the true class stays
  the most likely given label (the condition confident learning needs).
- ``pairwise``: each flipped label goes to the next class, ``c -> (c + 1) mod K``.

``rate`` is the fraction of labels that actually change (a flip never lands on the true class).
Flips are drawn *exactly*, not by independent coin tosses: class ``j`` loses
``round(count_j * (1 - P[j, j]))`` labels (rounded so the total matches) and their destinations
follow column ``j`` of ``P`` by largest-remainder rounding, so the realized noise matrix is as
close to ``P`` as the counts allow. The same seed gives the same flips.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleanlab_lite.errors import ColumnError, UserInputError

KINDS = ("symmetric", "class_dependent", "pairwise")


@dataclass
class NoiseResult:
    """What `noise_manifest` wrote: the output path, the flips and the realized noise."""
    out: Path
    n: int
    num_flipped: int
    classes: list
    noise_matrix: np.ndarray      # (K, K) the matrix the flips were drawn from
    realized_matrix: np.ndarray   # (K, K) counts of (noisy, true) pairs divided by true counts


# ---- noise matrices -----------------------------------------------------------------------------

def make_noise_matrix(num_classes: int, kind: str, rate: float | None = None, *,
                      trace: float | None = None, sparsity: float = 0.0,
                      seed: int | np.random.Generator = 0) -> np.ndarray:
    """The noise matrix P(noisy | true) of a kind, shape (K, K), columns summing to 1.

    `rate` is the average off-diagonal mass per column (the flip rate on balanced classes);
    `trace` (class_dependent only) is an alternative way to give it: rate = 1 - trace / K.
    `sparsity` (class_dependent only) is the fraction of off-diagonal entries set to zero.
    """
    k = int(num_classes)
    if kind not in KINDS:
        raise UserInputError(f"--kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    if k < 2:
        raise UserInputError(f"noise needs at least 2 classes, found {k}; check --label-col")
    rate = _resolve_rate(k, kind, rate, trace)
    if kind != "class_dependent" and sparsity:
        raise UserInputError(f"--sparsity {sparsity} only applies to --kind class_dependent; "
                             "drop it or change --kind")
    rng = np.random.default_rng(seed)
    eye = np.eye(k)
    if kind == "symmetric":
        return (1.0 - rate) * eye + rate / (k - 1) * (1.0 - eye)
    if kind == "pairwise":
        return (1.0 - rate) * eye + rate * np.roll(eye, 1, axis=0)
    return _class_dependent(k, rate, sparsity, rng)


def _resolve_rate(k: int, kind: str, rate: float | None, trace: float | None) -> float:
    if trace is not None:
        if kind != "class_dependent":
            raise UserInputError(f"--trace only applies to --kind class_dependent; use --rate "
                                 f"for {kind} noise")
        if not 1.0 <= trace <= k:
            raise UserInputError(f"--trace {trace:g} must be between 1 and the number of classes "
                                 f"({k}); e.g. --trace {0.8 * k:g} flips about 20% of labels")
        from_trace = 1.0 - trace / k
        if rate is not None and abs(rate - from_trace) > 1e-9:
            raise UserInputError(f"--rate {rate:g} and --trace {trace:g} disagree (with {k} "
                                 f"classes the trace means rate {from_trace:g}); give only one")
        rate = from_trace
    if rate is None:
        raise UserInputError("--rate is required (the fraction of labels to flip, e.g. 0.2 or 20%)")
    if not 0.0 <= rate < 1.0:
        raise UserInputError(f"--rate {rate:g} must be at least 0 and below 1; e.g. --rate 0.2")
    return float(rate)


def _class_dependent(k: int, rate: float, sparsity: float, rng: np.random.Generator) -> np.ndarray:
    if not 0.0 <= sparsity < 1.0:
        raise UserInputError(f"--sparsity {sparsity:g} must be at least 0 and below 1 (the "
                             "fraction of off-diagonal entries that are zero)")
    nnz = max(1, int(round((1.0 - sparsity) * (k - 1))))   # non-zero off-diagonals per column
    # Column noise m goes to nnz entries with weights w = 0.5 * Dirichlet + 0.5 / nnz, so the
    # largest is at most m * (0.5 + 0.5 / nnz); it stays below the diagonal 1 - m when
    # m < 2 nnz / (3 nnz + 1). `cap` keeps a 5% margin.
    cap = 0.95 * 2.0 * nnz / (3.0 * nnz + 1.0)
    if rate > cap:
        raise UserInputError(f"--rate {rate:g} is too high for class_dependent noise with "
                             f"{k} classes and --sparsity {sparsity:g} (at most {cap:.3f} keeps "
                             "the true class the most likely label); lower --rate or --sparsity")
    # Per-class noise rates: random around `rate`, mean exactly `rate`, each within [0, cap].
    m = rate * k * rng.dirichlet(np.full(k, 4.0))
    for _ in range(100):
        over = np.clip(m - cap, 0.0, None)
        if over.sum() <= 1e-12:
            break
        m = np.minimum(m, cap)
        room = cap - m
        m = m + over.sum() * room / room.sum()
    P = np.zeros((k, k))
    for j in range(k):               # loop over classes, not rows
        others = np.delete(np.arange(k), j)
        dest = rng.choice(others, size=nnz, replace=False)
        w = 0.5 * rng.dirichlet(np.ones(nnz)) + 0.5 / nnz
        P[dest, j] = m[j] * w
        P[j, j] = 1.0 - m[j]
    return P


# ---- flipping -----------------------------------------------------------------------------------

def _largest_remainder(target: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Integers summing to `total`, each floor or ceil of `target` (random tie-break)."""
    base = np.floor(target).astype(np.int64)
    short = int(total - base.sum())
    if short > 0:
        rem = target - base
        order = np.lexsort((rng.random(len(target)), -rem))
        base[order[:short]] += 1
    return base


def flip_labels(labels: np.ndarray, noise_matrix: np.ndarray, *,
                seed: int | np.random.Generator = 0) -> np.ndarray:
    """Noisy copy of integer `labels` (N,) drawn from `noise_matrix` (K, K) = P(noisy | true).

    The number of flips per class and per destination follow the matrix exactly (up to
    rounding); which rows flip is random. Returns an int64 array (N,).
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(labels, dtype=np.int64)
    P = np.asarray(noise_matrix, dtype=np.float64)
    k = P.shape[0]
    counts = np.bincount(y, minlength=k)
    off = 1.0 - np.diag(P)
    n_flip = _largest_remainder(counts * off, int(round(float((counts * off).sum()))), rng)
    n_flip = np.minimum(n_flip, counts)
    order = np.argsort(y, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    noisy = y.copy()
    for j in range(k):               # loop over classes, not rows
        if n_flip[j] == 0:
            continue
        members = order[starts[j]:starts[j + 1]]
        chosen = rng.choice(members, size=n_flip[j], replace=False)
        col = P[:, j].copy()
        col[j] = 0.0
        per_dest = _largest_remainder(n_flip[j] * col / col.sum(), int(n_flip[j]), rng)
        noisy[chosen] = rng.permutation(np.repeat(np.arange(k), per_dest))
    return noisy


def inject_noise(labels: np.ndarray, *, kind: str, rate: float | None = None,
                 trace: float | None = None, sparsity: float = 0.0, num_classes: int | None = None,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy labels (N,), noise matrix (K, K)) for integer `labels` (N,) in 0..K-1."""
    y = np.asarray(labels, dtype=np.int64)
    k = int(num_classes if num_classes is not None else y.max() + 1)
    rng = np.random.default_rng(seed)
    P = make_noise_matrix(k, kind, rate, trace=trace, sparsity=sparsity, seed=rng)
    return flip_labels(y, P, seed=rng), P


def realized_noise_matrix(true: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
    """Empirical P(noisy | true), shape (K, K); a column of a class with no rows is all zero."""
    k = int(num_classes)
    joint = np.bincount(np.asarray(noisy) * k + np.asarray(true), minlength=k * k).reshape(k, k)
    return joint / np.maximum(joint.sum(axis=0, keepdims=True), 1)


# ---- manifests ----------------------------------------------------------------------------------



def noise_manifest(manifest: str | Path, out: str | Path, *, kind: str, rate: float | None = None,
                   trace: float | None = None, sparsity: float = 0.0, seed: int = 0,
                   label_col: str = "label", true_col: str = "true_label") -> NoiseResult:
    """Write `out`: `manifest` with `label_col` replaced by noisy labels and the original labels
    in `true_col`, in the input's format. Classes are the distinct values of `label_col`
    (`data.labels`); rows without a label stay as they are. `manifest` may be a folder of class
    subfolders (its rows: absolute image paths and the folder names as labels)."""
    import pandas as pd

    from cleanlab_lite.data.folders import read_table
    from cleanlab_lite.data.labels import encode_labels, like_column, unlabeled_mask
    from cleanlab_lite.data.manifest import manifest_format, write_manifest
    from cleanlab_lite.guards import check_output

    manifest, out = Path(manifest), Path(out)
    check_output(out, "--out", inputs=[(manifest, "the input manifest")])
    manifest_format(out)
    df, _ = read_table(manifest, raw=True)   # CSV cells stay the exact text of the file
    if label_col not in df.columns:
        raise ColumnError(f"manifest {manifest} has no column {label_col!r} (columns: "
                          f"{', '.join(df.columns[:12])}); pass the label column with --label-col")
    if true_col in df.columns:
        raise ColumnError(f"manifest {manifest} already has a column {true_col!r}; noise would "
                          "overwrite it: pass another name with --true-col")
    col = df[label_col]
    labelled = ~unlabeled_mask(col)        # rows without a label stay as they are
    y, classes = encode_labels(col[labelled], where=f"manifest {manifest} column {label_col!r}")
    noisy, P = inject_noise(y, kind=kind, rate=rate, trace=trace, sparsity=sparsity,
                            num_classes=len(classes), seed=seed)
    result = df.copy()
    values = np.array(like_column(classes, col), dtype=object)
    result.loc[labelled, label_col] = pd.Series(values[noisy], index=df.index[labelled], dtype=col.dtype)
    result[true_col] = col
    write_manifest(result, out)
    return NoiseResult(out=out, n=len(df), num_flipped=int((noisy != y).sum()),
                       classes=list(classes), noise_matrix=P,
                       realized_matrix=realized_noise_matrix(y, noisy, len(classes)))
