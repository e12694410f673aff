"""Per-chunk numpy kernels for the scoring passes. Each takes a chunk of pred_probs `P` of
shape (n, K) and its labels `y` of shape (n,), and returns small per-row arrays.

Pass A needs nothing but the chunk (validation, self-confidence, argmax, optional margin and
entropy). Pass B needs the per-class confident thresholds (the confident joint's true-label
guess). Pass C needs the prune counts (prune_by_noise_rate's margin candidates).
"""
from __future__ import annotations

import numpy as np

from cleanlab_lite.errors import PredProbsError

ROW_SUM_TOL = 1e-3          # |sum of a row - 1| allowed without --renormalize
EPS = 1e-6                  # cleanlab's FLOATING_POINT_COMPARISON


def as_float(P: np.ndarray) -> np.ndarray:
    if P.dtype.kind != "f" or P.dtype.itemsize < 4:
        if P.dtype.kind not in "fiub":
            raise PredProbsError(f"pred_probs has dtype {P.dtype}; it must hold numbers "
                                 "(float32 or float64 probabilities)")
        return P.astype(np.float32)
    return P


def check_chunk(P: np.ndarray, start: int, name: str, renormalize: bool) -> tuple[np.ndarray, np.ndarray]:
    """Validate a chunk; return (possibly renormalized chunk, row sums)."""
    rs = np.einsum("ij->i", P)          # much faster than P.sum(axis=1) for short rows
    finite = np.isfinite(rs)
    if not finite.all():
        i = int(np.argmin(finite))
        raise PredProbsError(f"{name}: row {start + i} holds NaN or inf; pred_probs must be finite "
                             "probabilities (fix the model output or drop that row)")
    if P.size and P.min() < 0:
        i = int(np.argmax((P < 0).any(axis=1)))
        j = int(np.argmax(P[i] < 0))
        raise PredProbsError(f"{name}: row {start + i} column {j} is negative ({float(P[i, j]):.4g}); "
                             "pred_probs must be probabilities >= 0 (apply softmax to logits)")
    if renormalize:
        if (rs <= 0).any():
            i = int(np.argmax(rs <= 0))
            raise PredProbsError(f"{name}: row {start + i} is all zeros and cannot be renormalized; "
                                 "every row needs some probability mass")
        P = P / rs[:, None]
        return P, P.sum(axis=1)
    off = np.abs(rs - 1.0) > ROW_SUM_TOL
    if off.any():
        i = int(np.argmax(off))
        raise PredProbsError(f"{name}: row {start + i} sums to {float(rs[i]):.6g}, not 1 "
                             f"(tolerance {ROW_SUM_TOL:g}); pass --renormalize (renormalize=True) to "
                             "divide each row by its sum, or apply softmax to logits")
    return P, rs


def pass_a(P, y, start, *, name, renormalize, max_other, entropy, rowsum64):
    """Validation and the threshold-free row statistics."""
    P = as_float(P)
    P, _ = check_chunk(P, start, name, renormalize)
    r = np.arange(len(y))
    am = P.argmax(axis=1)
    flat = P.reshape(-1)
    base = r * P.shape[1]
    out = {"given": flat[base + y].astype(np.float64), "argmax": am.astype(np.int64),
           "maxp": flat[base + am].astype(np.float64)}
    if max_other:
        Q = P.copy()
        Q[r, y] = -np.inf
        out["max_other"] = Q.max(axis=1).astype(np.float64)
    if entropy:
        D = P.astype(np.float64)
        L = np.log(D, out=np.zeros(D.shape), where=D > 0)
        out["entropy"] = -(D * L).sum(axis=1) / np.log(P.shape[1])
    if rowsum64:
        out["rowsum64"] = P.sum(axis=1, dtype=np.float64)
    return out


def float_threshold(t: np.ndarray, dtype) -> np.ndarray:
    """Smallest values v of `dtype` with v >= t, so `P >= v` equals float64 `P >= t` exactly."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return t.astype(np.float64)
    v = t.astype(dtype)
    low = v.astype(np.float64) < t
    v[low] = np.nextafter(v[low], np.array(np.inf, dtype=dtype))
    return v


def pass_b(P, y, start, *, need, name, renormalize, t_cmp, cleanlab_argmax):
    """The confident joint's true-label guess for the rows in `need` (those whose argmax is
    below its own threshold; every other row's guess is its argmax). Returns the chunk-relative
    rows as absolute indices `idx`, their `guess` and `has` (some class passes its threshold).

    t_cmp : (K,) thresholds minus 1e-6 in P's dtype, rounded up (see float_threshold).
    """
    idx = np.flatnonzero(need)
    if len(idx) == 0:
        return {"idx": idx, "guess": idx, "has": np.zeros(0, bool)}
    P = as_float(P)[idx]
    if renormalize:
        P = P / P.sum(axis=1)[:, None]
    mask = P >= t_cmp.astype(P.dtype, copy=False)
    if cleanlab_argmax:
        cnt = np.count_nonzero(mask, axis=1)
        guess = np.where(cnt > 1, P.argmax(axis=1), mask.argmax(axis=1))
        has = cnt > 0
    else:
        Q = P * mask                   # confident entries are > 0 (thresholds >= 1e-6)
        guess = Q.argmax(axis=1)
        has = Q[np.arange(len(idx)), guess] > 0
    return {"idx": idx + start, "guess": guess.astype(np.int64), "has": has}


def pass_adj(P, y, start, *, renormalize, t):
    """max over j != given of (p_j - t_j), for the adjusted normalized margin; shape (n,)."""
    P = as_float(P)
    if renormalize:
        P = P / P.sum(axis=1)[:, None]
    A = P - t
    A[np.arange(len(y)), y] = -np.inf
    return {"max_other_adj": A.max(axis=1)}


def pass_c(P, y, start, *, renormalize, prune, thr):
    """prune_by_noise_rate candidates: (pair id, margin, row) with margin >= the pair's bound.

    prune : (K, K) int, prune[k, j] rows of given class k to flag toward class j (0 = none).
    thr   : (K, K) float, current lower bound of the kept margins per pair (-inf at first).
    """
    P = as_float(P)
    if renormalize:
        P = P / P.sum(axis=1)[:, None]
    K = P.shape[1]
    r = np.arange(len(y))
    M = P - P[r, y][:, None]                   # margin p_j - p_given, in P's dtype like cleanlab
    keep = (prune[y] > 0) & (M >= thr[y])
    i, j = np.nonzero(keep)
    return {"pair": y[i] * K + j, "value": M[i, j].astype(np.float64), "row": i + start}
