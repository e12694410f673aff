"""Public scoring functions. All take `labels` of shape (N,) (int class indices) and
`pred_probs` of shape (N, K) — an array, a `.npy` path (read in chunks, never loaded whole) or a
list of those (averaged: an ensemble of models or seeds) — with keyword-only options.

Names and options follow cleanlab 2.9 (`filter.find_label_issues`, `rank.get_label_quality_scores`,
`count.num_label_issues`, ...), with the same meaning. Two differences, both documented where
they apply: the confident joint takes its argmax over the classes above threshold only
(`cj_argmax="confident"`, the fix; `cj_argmax="cleanlab"` reproduces cleanlab), and the default
flagging rule is `adaptive` (scoring/adaptive.py), which measured best on real human label noise
(cleanlab's default is `prune_by_noise_rate`; see docs/scoring.md for the F1 table).
"""
from __future__ import annotations

import numpy as np

from cleanlab_lite.config import ESTIMATION_METHODS, FILTERS, METHODS  # noqa: F401  (API)
from cleanlab_lite.scoring import count
from cleanlab_lite.scoring.adaptive import adaptive_count, flag_scores, lowest
from cleanlab_lite.scoring.engine import Engine

CLEANLAB_FILTERS = FILTERS[1:]          # the filters cleanlab 2.9 has, with its meanings
DEFAULT_METHOD = "self_confidence"
DEFAULT_FILTER = "adaptive"     # best F1 on real and synthetic noise (docs/scoring.md)
DEFAULT_ESTIMATION = "adaptive"
CLIP_LOW = 1e-6


def _choice(name: str, value, valid) -> str:
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; use one of: {', '.join(valid)}")
    return value


def _engine(labels, pred_probs, *, renormalize=False, cj_argmax="confident", device="cpu",
            chunk_rows=None, engine=None) -> Engine:
    if engine is not None:
        return engine
    return Engine.create(labels, pred_probs, renormalize=renormalize, cj_argmax=cj_argmax,
                         device=device, chunk_rows=chunk_rows)


# ---- scores ---------------------------------------------------------------------------------
def scores_from(eng: Engine, method: str, adjust_pred_probs: bool = False) -> np.ndarray:
    """Label quality per row, shape (N,), in [0, 1]; lower means more likely mislabeled."""
    _choice("method", method, METHODS)
    if adjust_pred_probs and method == "confidence_weighted_entropy":
        raise ValueError("adjust_pred_probs=True is not supported for method="
                         "'confidence_weighted_entropy'; use self_confidence or normalized_margin")
    y = eng.labels
    if not adjust_pred_probs:
        if method == "self_confidence":
            eng.ensure_a()
            return eng.stats["given"].copy()
        if method == "normalized_margin":
            eng.ensure_a(max_other=True)
            return (eng.stats["given"] - eng.stats["max_other"] + 1) / 2
        eng.ensure_a(entropy=True)
        sc = np.clip(eng.stats["given"], CLIP_LOW, None)
        x = eng.stats["entropy"] / sc
        return np.log(x + 1) / np.clip(x, CLIP_LOW, None)
    # adjusted pred_probs: p'_j = (p_j - t_j + max t) / sum_i (p_i - t_i + max t)
    eng.ensure_a(rowsum64=True)
    s = eng.stats
    t = s["thresholds"]
    tmax = t.max()
    denom = s["rowsum64"] - t.sum() + eng.k * tmax
    sc = (s["given"] - t[y] + tmax) / denom
    if method == "self_confidence":
        return sc
    eng.ensure_b(adj_margin=True)
    mo = (eng.stats["max_other_adj"] + tmax) / denom
    return (sc - mo + 1) / 2


def label_quality_scores(labels, pred_probs, *, method: str = DEFAULT_METHOD,
                         adjust_pred_probs: bool = False, renormalize: bool = False,
                         device: str = "cpu", chunk_rows: int | None = None) -> np.ndarray:
    """Label quality score per row, shape (N,), in [0, 1]; LOWER = more likely mislabeled.

    method: 'self_confidence' (p[given]), 'normalized_margin' ((p[given] - max other p + 1) / 2)
    or 'confidence_weighted_entropy' (cleanlab's). adjust_pred_probs subtracts the per-class
    confident thresholds from pred_probs first (as cleanlab). A list of pred_probs is averaged
    (ensemble) before scoring.
    """
    eng = _engine(labels, pred_probs, renormalize=renormalize, device=device, chunk_rows=chunk_rows)
    return scores_from(eng, method, adjust_pred_probs)


# ---- estimates ------------------------------------------------------------------------------
def confident_joint(labels, pred_probs, *, calibrate: bool = False, cj_argmax: str = "confident",
                    renormalize: bool = False, device: str = "cpu") -> np.ndarray:
    """Confident joint C[given, true] of shape (K, K), integer counts.

    Row i with given label k is counted in C[k, j] when p_j >= t_j (t = per-class mean
    self-confidence) for some j; j is the most likely of the classes above threshold
    (`cj_argmax='confident'`). cleanlab 2.9 instead takes the argmax over ALL classes when two or
    more pass their thresholds, which can count a row toward a class below its threshold; pass
    `cj_argmax='cleanlab'` for that. Diagonal entries are at least 1, as cleanlab's.
    calibrate=True returns the calibrated joint (see `calibrated_joint`).
    """
    eng = _engine(labels, pred_probs, renormalize=renormalize, cj_argmax=cj_argmax, device=device)
    return eng.calibrated_joint() if calibrate else eng.confident_joint()


def calibrated_joint(labels, pred_probs, *, cj_argmax: str = "confident", renormalize: bool = False,
                     device: str = "cpu") -> np.ndarray:
    """The confident joint scaled so row k sums to the count of label k and the total is N,
    rounded to integers keeping row totals. Shape (K, K)."""
    return confident_joint(labels, pred_probs, calibrate=True, cj_argmax=cj_argmax,
                           renormalize=renormalize, device=device)


def _latent(labels, pred_probs, cj_argmax, renormalize, device):
    eng = _engine(labels, pred_probs, renormalize=renormalize, cj_argmax=cj_argmax, device=device)
    return count.latent(eng.calibrated_joint(), eng.label_counts)


def noise_matrix(labels, pred_probs, *, cj_argmax: str = "confident", renormalize: bool = False,
                 device: str = "cpu") -> np.ndarray:
    """Estimated P(given = i | true = j), shape (K, K), columns sum to 1."""
    return _latent(labels, pred_probs, cj_argmax, renormalize, device)[1]


def inverse_noise_matrix(labels, pred_probs, *, cj_argmax: str = "confident",
                         renormalize: bool = False, device: str = "cpu") -> np.ndarray:
    """Estimated P(true = i | given = j), shape (K, K), columns sum to 1."""
    return _latent(labels, pred_probs, cj_argmax, renormalize, device)[2]


def class_priors(labels, pred_probs, *, cj_argmax: str = "confident", renormalize: bool = False,
                 device: str = "cpu") -> np.ndarray:
    """Estimated P(true = k), shape (K,), sums to 1 (cleanlab's py, method 'cnt')."""
    return _latent(labels, pred_probs, cj_argmax, renormalize, device)[0]


def estimate_num_issues(labels, pred_probs, *, estimation_method: str = DEFAULT_ESTIMATION,
                        cj_argmax: str = "confident", renormalize: bool = False,
                        device: str = "cpu") -> int:
    """Estimated number of label issues.

    'adaptive' (default; cleanlab's default is 'off_diagonal'): the rows predicted as another
    class that are off the confident joint's diagonal after the pred_probs are temperature-scaled
    to the given labels and sharpened (scoring/adaptive.py); it does not collapse on a sharp
    model and tracks human label noise (docs/scoring.md). 'off_diagonal': rows counted off the confident joint's diagonal whose given label is not
    (within 1e-6) the argmax; 'off_diagonal_calibrated': N * (1 - trace of the calibrated joint
    distribution). Same as cleanlab's `num_label_issues`.
    """
    _choice("estimation_method", estimation_method, ESTIMATION_METHODS)
    eng = _engine(labels, pred_probs, renormalize=renormalize, cj_argmax=cj_argmax, device=device)
    return eng.num_issues(estimation_method)


num_label_issues = estimate_num_issues


# ---- filters --------------------------------------------------------------------------------
def issues_from(eng: Engine, filter_by: str, *, frac_noise: float = 1.0,
                num_to_remove_per_class=None, min_examples_per_class: int = 1,
                joint: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of shape (N,): True where the label is flagged as an issue. `joint`: the
    (K, K) joint the prune_by_* filters count from (default: the engine's calibrated joint)."""
    _choice("filter_by", filter_by, FILTERS)
    y, n, k = eng.labels, eng.n, eng.k
    if num_to_remove_per_class is not None:
        if filter_by not in ("prune_by_noise_rate", "prune_by_class", "both"):
            raise ValueError(f"num_to_remove_per_class works only with filter_by prune_by_class, "
                             f"prune_by_noise_rate or both, not {filter_by!r}")
        if len(num_to_remove_per_class) != k:
            raise ValueError(f"num_to_remove_per_class has {len(num_to_remove_per_class)} entries; "
                             f"it needs one per class ({k})")
    if not 0.0 <= float(frac_noise) <= 1.0:
        raise ValueError(f"frac_noise={frac_noise} is not valid; use a fraction in [0, 1]")
    if filter_by == "adaptive":
        return lowest(flag_scores(eng), int(round(adaptive_count(eng)["num_issues"] * frac_noise)))
    if filter_by in ("low_self_confidence", "low_normalized_margin"):
        scores = scores_from(eng, filter_by[4:])
        num = eng.num_issues("off_diagonal")
        mask = np.zeros(n, dtype=bool)
        if num > 0:
            mask[np.argsort(scores, kind="stable")[:num]] = True
        return mask
    if filter_by == "predicted_neq_given":
        eng.ensure_a()
        mask = eng.stats["argmax"] != y
    elif filter_by == "confident_learning":
        mask = eng.off_diagonal().copy()
    else:
        counts = eng.label_counts
        joint = eng.calibrated_joint() if joint is None else np.asarray(joint)
        pcm = count.keep_at_least_n_per_class(joint.T, min_examples_per_class, frac_noise)
        if num_to_remove_per_class is not None:
            pcm = count.prune_counts_per_class(pcm, counts, num_to_remove_per_class)
        eligible = (counts > min_examples_per_class) & (counts > 1)
        mask = np.ones(n, dtype=bool)
        if filter_by in ("prune_by_class", "both"):
            mask &= _prune_by_class(eng, pcm, eligible)
        if filter_by in ("prune_by_noise_rate", "both"):
            prune = pcm.T * eligible[:, None]        # prune[k, j]: given k toward j
            np.fill_diagonal(prune, 0)
            mask &= eng.margin_candidates(prune)
    mask &= ~eng.reduce_mask
    return mask


def _prune_by_class(eng: Engine, pcm: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Per class k, flag the (count_k - pcm[k, k]) rows of class k with the lowest p[k]
    (ties: the lower row index first). One partition per class for its cut value, then one
    vectorized comparison over N."""
    eng.ensure_a()
    y, given, k = eng.labels, eng.stats["given"], eng.k
    counts = eng.label_counts
    num = np.where(eligible, counts - np.diagonal(pcm), 0)
    if not (num > 0).any():
        return np.zeros(eng.n, dtype=bool)
    small = y.astype(np.int16) if k < 2**15 else y          # radix sort for small ints
    gs = given[np.argsort(small, kind="stable")]              # given, grouped by class
    bounds = np.concatenate([[0], np.cumsum(counts)])
    cut = np.where(num >= counts, np.inf, -np.inf)            # all rows / no rows
    for c in np.flatnonzero((num > 0) & (num < counts)):     # loop over classes, not rows
        cut[c] = np.partition(gs[bounds[c]:bounds[c + 1]], num[c] - 1)[num[c] - 1]
    mask = given < cut[y]
    short = np.where(np.isfinite(cut), num - np.bincount(y[mask], minlength=k), 0)
    if (short > 0).any():                                     # rows equal to the cut: lowest rows first
        tied = np.flatnonzero((given == cut[y]) & (short[y] > 0))
        ty = y[tied]
        o = np.argsort(ty, kind="stable")
        first = np.searchsorted(ty[o], ty[o], side="left")
        take = (np.arange(len(o)) - first) < short[ty[o]]
        mask[tied[o][take]] = True
    return mask


def find_label_issues(labels, pred_probs, *, filter_by: str = DEFAULT_FILTER,
                      return_indices_ranked_by: str | None = None,
                      rank_by_kwargs: dict | None = None, frac_noise: float = 1.0,
                      num_to_remove_per_class=None, min_examples_per_class: int = 1,
                      cj_argmax: str = "confident", renormalize: bool = False,
                      device: str = "cpu", chunk_rows: int | None = None) -> np.ndarray:
    """Flag likely label errors. Returns a boolean mask of shape (N,) (True = issue), or, with
    `return_indices_ranked_by=<method>`, the flagged row indices sorted most suspect first.

    filter_by:
      adaptive             (default, not in cleanlab) the estimate_num_issues(...,
                           estimation_method="adaptive") rows predicted as another class that
                           are most likely mislabeled under the estimated noise matrix (with
                           fewer than 500 rows per class: the lowest self-confidence); the count
                           is confident learning's on temperature-calibrated, sharpened
                           pred_probs, capped on near-clean data (scoring/adaptive.py,
                           docs/scoring.md)
    and cleanlab's, with cleanlab's meanings:
      prune_by_noise_rate  per (given k, true j) flag the C[k, j] rows of class k with the
                           largest p_j - p_k (C = calibrated confident joint)
      prune_by_class       per class k flag the rows with the lowest p_k, as many as the joint's
                           off-diagonal mass of row k
      both                 rows flagged by both of the above
      confident_learning   rows counted off the confident joint's diagonal
      predicted_neq_given  argmax(p) != given label
      low_self_confidence / low_normalized_margin
                           the estimate_num_issues rows with the lowest score
    All but the last two never flag a row whose given label is (within 1e-6) the argmax.
    frac_noise, num_to_remove_per_class, min_examples_per_class as in cleanlab.
    cj_argmax: 'confident' (default, argmax over classes above threshold) or 'cleanlab'.
    """
    eng = _engine(labels, pred_probs, renormalize=renormalize, cj_argmax=cj_argmax, device=device,
                  chunk_rows=chunk_rows)
    mask = issues_from(eng, filter_by, frac_noise=frac_noise,
                       num_to_remove_per_class=num_to_remove_per_class,
                       min_examples_per_class=min_examples_per_class)
    if return_indices_ranked_by is None:
        return mask
    kw = dict(rank_by_kwargs or {})
    scores = scores_from(eng, return_indices_ranked_by, bool(kw.pop("adjust_pred_probs", False)))
    if kw:
        raise ValueError(f"rank_by_kwargs has unknown keys {sorted(kw)}; only adjust_pred_probs")
    idx = np.flatnonzero(mask)
    return idx[np.argsort(scores[idx], kind="stable")]
