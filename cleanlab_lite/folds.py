"""Fold assignment: stratified (optionally group-aware) k-fold, seeded, repeatable."""
from __future__ import annotations

import numpy as np

from cleanlab_lite.errors import DataError


def assign_folds(labels: np.ndarray, n_folds: int, *, seed: int = 0,
                 groups: np.ndarray | None = None, classes: list[str] | None = None) -> np.ndarray:
    """Fold index (0..n_folds-1) per row, int64 (N,).

    Stratified by label so each fold holds every class in about the same proportion; with
    `groups`, rows that share a group always land in the same fold (StratifiedGroupKFold).
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    labels = np.asarray(labels)
    n = labels.shape[0]
    if n_folds < 2:
        raise DataError(f"--folds {n_folds} is too small; use at least 2 folds")
    if n_folds > n:
        raise DataError(f"--folds {n_folds} is larger than the number of rows ({n}); "
                        "use fewer folds")
    counts = np.bincount(labels)
    small = np.flatnonzero((counts > 0) & (counts < n_folds))
    if len(small):
        c = int(small[0])
        name = classes[c] if classes is not None else str(c)
        if counts[c] < 2:
            raise DataError(f"class {name!r} has 1 row, and k-fold needs at least 2 rows of every "
                            "class (one to train on, one to judge); add rows of that class or "
                            "remove it")
        raise DataError(f"class {name!r} has {counts[c]} rows, fewer than --folds {n_folds}; "
                        f"use --folds {int(counts[c])} or fewer, or remove that class")
    folds = np.empty(n, dtype=np.int64)
    if groups is None:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = splitter.split(np.zeros(n), labels)
    else:
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise DataError(f"--group-col has {n_groups} distinct group, and k-fold needs at "
                            "least 2 (rows of one group stay in one fold); use a column with "
                            "more groups or drop --group-col")
        if n_groups < n_folds:
            raise DataError(f"--group-col has {n_groups} distinct groups, fewer than --folds "
                            f"{n_folds}; use --folds {n_groups} or fewer")
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = splitter.split(np.zeros(n), labels, groups)
    for i, (_, test) in enumerate(splits):
        folds[test] = i
    return folds


def assign_repeats(labels: np.ndarray, n_folds: int, repeats: int = 1, *, seed: int = 0,
                   groups: np.ndarray | None = None, classes: list[str] | None = None) -> np.ndarray:
    """(R, N) fold indices, repeat r seeded with seed + r."""
    if repeats < 1:
        raise DataError(f"--repeats {repeats} must be at least 1")
    return np.stack([assign_folds(labels, n_folds, seed=seed + r, groups=groups, classes=classes)
                     for r in range(repeats)])
