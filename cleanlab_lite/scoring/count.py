"""Confident-learning estimates on (K,) and (K, K) arrays: thresholds, the confident joint's
calibration, the noise matrices, class priors and the number of issues.

Everything here is small-matrix algebra; the per-row work lives in the engine. Semantics follow
cleanlab 2.9's `count` module (same rounding, same clipping) so results match it exactly.
"""
from __future__ import annotations

import numpy as np

THRESHOLD_FLOOR = 2e-6      # cleanlab's CONFIDENT_THRESHOLDS_LOWER_BOUND
ABSENT_THRESHOLD = 2.0      # threshold of a class with no rows: nothing is confidently in it
CLIP_LOW = 1e-6             # cleanlab's CLIPPING_LOWER_BOUND for class priors
TINY = 1e-100


def confident_thresholds(labels: np.ndarray, given: np.ndarray, k: int) -> np.ndarray:
    """Per-class threshold t_k = mean self-confidence of the rows labeled k, shape (K,)."""
    counts = np.bincount(labels, minlength=k)
    sums = np.bincount(labels, weights=given, minlength=k)
    t = np.where(counts > 0, sums / np.maximum(counts, 1), ABSENT_THRESHOLD)
    return np.maximum(t, THRESHOLD_FLOOR)


def round_preserving_row_totals(mat: np.ndarray) -> np.ndarray:
    """Round each row to integers keeping its rounded total: the rows that rounded low get +1
    on their largest remainders, the rows that rounded high -1 on their smallest (cleanlab's
    rule, with the same argsort so ties resolve the same way). Vectorized over rows."""
    mat = np.asarray(mat, dtype=float)
    ints = mat.round()
    diff = mat.sum(axis=1).round() - ints.sum(axis=1).round()          # (K,)
    if mat.size and (diff != 0).any():
        k = mat.shape[1]
        order = np.argsort(mat - ints, axis=1)                        # ascending remainders
        n = np.minimum(np.abs(diff), k)[:, None]
        pos = np.arange(k)[None, :]
        inc = np.where(diff[:, None] > 0, pos >= k - n, 0) - np.where(diff[:, None] < 0, pos < n, 0)
        np.put_along_axis(ints, order, np.take_along_axis(ints, order, axis=1) + inc, axis=1)
    return ints.astype(np.int64)


def calibrate(cj: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """Scale each row of the confident joint to its class count, then the total to N; integers."""
    cal = (cj.T / np.clip(cj.sum(axis=1), TINY, None) * label_counts).T
    cal = cal / np.clip(cal.sum(), TINY, None) * label_counts.sum()
    return round_preserving_row_totals(cal)


def joint_distribution(cj_calibrated: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
    """cleanlab's estimate_joint from a calibrated joint: calibrate again, normalize to sum 1."""
    cal = calibrate(cj_calibrated, label_counts)
    return cal / np.clip(float(cal.sum()), TINY, None)


def clip_noise_rates(m: np.ndarray) -> np.ndarray:
    diag = np.diagonal(m).copy()
    m = np.clip(m, 0, 0.9999)
    np.fill_diagonal(m, diag)
    return m / np.clip(m.sum(axis=0), TINY, None)


def latent(cj: np.ndarray, label_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class priors P(true), noise matrix P(given|true), inverse noise matrix P(true|given)).

    cleanlab's estimate_latent with py_method='cnt' and no convergence iterations.
    """
    ps = label_counts / float(label_counts.sum())
    given_counts = cj.sum(axis=1).astype(float)
    true_counts = cj.sum(axis=0).astype(float)
    nm = cj / np.clip(true_counts, TINY, None)
    inm = cj.T / np.clip(given_counts, TINY, None)
    py = inm.diagonal() / np.clip(nm.diagonal(), TINY, None) * ps
    py = np.clip(py, CLIP_LOW, 1.0)
    py = py / np.clip(py.sum(), TINY, None)
    return py, clip_noise_rates(nm), clip_noise_rates(inm)


def keep_at_least_n_per_class(pcm: np.ndarray, n: int, frac_noise: float = 1.0) -> np.ndarray:
    """Raise each column's diagonal of the prune-count matrix (cj.T) to n, taking the increase
    evenly from that column's other counts, then keep only `frac_noise` of the off-diagonals."""
    diag = np.diagonal(pcm)
    new_diag = np.maximum(diag, n)
    diff = new_diag - diag
    nnz = np.maximum(np.count_nonzero(pcm, axis=0) - 1.0, 1.0)
    m = pcm - diff / nnz
    m[m < 0] = 0
    np.fill_diagonal(m, new_diag)
    reduced = m * frac_noise
    np.fill_diagonal(reduced, m.diagonal())
    np.fill_diagonal(reduced, m.diagonal() + np.sum(m - reduced, axis=0))
    return round_preserving_row_totals(reduced.astype(int)).astype(int)


def prune_counts_per_class(pcm: np.ndarray, label_counts: np.ndarray, num_to_remove) -> np.ndarray:
    """cleanlab's redistribution of the prune counts for `num_to_remove_per_class`."""
    num = np.asarray(num_to_remove, dtype=float)
    psy = pcm / np.sum(pcm, axis=1)
    noise_per_s = psy.sum(axis=1) - psy.diagonal()
    with np.errstate(divide="ignore", invalid="ignore"):
        tmp = (psy.T * num / noise_per_s).T
    np.fill_diagonal(tmp, label_counts - num)
    return round_preserving_row_totals(tmp)
