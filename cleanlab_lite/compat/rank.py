"""cleanlab 2.9's `cleanlab.rank` for single-label classification: label quality scores (single
model and ensemble), ordering of issues, top issues. Same names, arguments, defaults, results."""
from __future__ import annotations

import warnings

import numpy as np

from cleanlab_lite.compat._inputs import as_labels, cleanlab_errors, engine
from cleanlab_lite.scoring.api import METHODS, scores_from

WEIGHTINGS = ("uniform", "accuracy", "log_loss_search", "custom")
LOG_LOSS_T = [1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 2e2]
CLIP_LOW = 1e-6


def get_label_quality_scores(labels, pred_probs, *, method: str = "self_confidence",
                             adjust_pred_probs: bool = False) -> np.ndarray:
    """Label quality per row (N,), in [0, 1]; lower = more likely mislabeled."""
    if method not in METHODS:
        raise ValueError(f"Passed method {method!r} is not in the list of valid methods: "
                         f"{', '.join(METHODS)}")
    with cleanlab_errors():
        return scores_from(engine(labels, pred_probs), method, adjust_pred_probs)


def get_self_confidence_for_each_label(labels, pred_probs) -> np.ndarray:
    """p[given label] per row, shape (N,)."""
    return np.asarray(pred_probs)[np.arange(len(as_labels(labels))), as_labels(labels)]


def get_normalized_margin_for_each_label(labels, pred_probs) -> np.ndarray:
    """(p[given] - max other p + 1) / 2 per row, shape (N,)."""
    y = as_labels(labels)
    p = np.asarray(pred_probs)
    sc = p[np.arange(len(y)), y]
    other = p.copy()
    other[np.arange(len(y)), y] = -np.inf
    return (sc - other.max(axis=1) + 1) / 2


def get_confidence_weighted_entropy_for_each_label(labels, pred_probs) -> np.ndarray:
    """cleanlab's confidence-weighted entropy score per row, shape (N,)."""
    return get_label_quality_scores(labels, pred_probs, method="confidence_weighted_entropy")


def _log_loss(y, p) -> float:
    from sklearn.metrics import log_loss
    return float(log_loss(y, p))


def _log_loss_weights(y, pred_probs_list, temperatures) -> np.ndarray:
    """exp(-t * log loss) weights, t chosen to minimize the weighted ensemble's log loss."""
    losses = []
    for p in pred_probs_list:
        q = np.clip(p, CLIP_LOW, None)
        losses.append(_log_loss(y, q / q.sum(axis=1)[:, None]))
    best, best_w = np.inf, None
    for t in temperatures:
        w = np.exp(-t * np.array(losses))
        w = w / w.sum()
        loss = _log_loss(y, sum(wi * p for wi, p in zip(w, pred_probs_list)))
        if loss < best:
            best, best_w = loss, w
    return best_w


def get_label_quality_ensemble_scores(labels, pred_probs_list, *, method: str = "self_confidence",
                                      adjust_pred_probs: bool = False,
                                      weight_ensemble_members_by: str = "accuracy",
                                      custom_weights=None, log_loss_search_T_values=LOG_LOSS_T,
                                      verbose: bool = True) -> np.ndarray:
    """Weighted average of each model's label quality scores, shape (N,) (cleanlab's ensemble:
    scores are averaged, not pred_probs; `rank --pred-probs A --pred-probs B` averages
    pred_probs instead)."""
    assert isinstance(pred_probs_list, list), (
        f"pred_probs_list needs to be a list. Provided pred_probs_list is a {type(pred_probs_list)}")
    assert len(pred_probs_list) > 0, "pred_probs_list is empty."
    if len(pred_probs_list) == 1:
        warnings.warn("pred_probs_list only has one element. Consider using "
                      "get_label_quality_scores() if you only have a single array of pred_probs.")
    if custom_weights is not None and weight_ensemble_members_by != "custom":
        raise ValueError("custom_weights provided but weight_ensemble_members_by is not 'custom'")
    if weight_ensemble_members_by not in WEIGHTINGS:
        raise ValueError(f"{weight_ensemble_members_by} is not a valid weighting; use one of "
                         f"{', '.join(WEIGHTINGS)}")
    y = as_labels(labels)
    scores = np.vstack([get_label_quality_scores(y, p, method=method,
                                                 adjust_pred_probs=adjust_pred_probs)
                        for p in pred_probs_list]).T
    if verbose:
        print(f"Weighting scheme for ensemble: {weight_ensemble_members_by}")
    if weight_ensemble_members_by == "uniform":
        return scores.mean(axis=1)
    if weight_ensemble_members_by == "accuracy":
        acc = np.array([(np.asarray(p).argmax(axis=1) == y).mean() for p in pred_probs_list])
        weights = acc / acc.sum()
    elif weight_ensemble_members_by == "log_loss_search":
        weights = _log_loss_weights(y, [np.asarray(p) for p in pred_probs_list],
                                    log_loss_search_T_values)
    else:
        assert custom_weights is not None, "custom_weights is None! Please pass a valid custom_weights."
        assert len(custom_weights) == len(pred_probs_list), (
            "Length of custom_weights array must match the number of models: len(pred_probs_list).")
        weights = np.asarray(custom_weights)
    if verbose:
        for i, w in enumerate(weights):
            print(f"  Model {i} weight   : {w}")
    return (scores * weights).sum(axis=1)


def order_label_issues(label_issues_mask, labels, pred_probs, *, rank_by: str = "self_confidence",
                       rank_by_kwargs: dict = {}) -> np.ndarray:  # noqa: B006
    """Indices of the rows in `label_issues_mask`, most severe (lowest score) first."""
    mask = np.asarray(label_issues_mask, dtype=bool)
    scores = get_label_quality_scores(labels, pred_probs, method=rank_by, **rank_by_kwargs)
    idx = np.flatnonzero(mask)
    return idx[np.argsort(scores[mask])]


def find_top_issues(quality_scores, *, top: int = 10) -> np.ndarray:
    """Indices of the `top` lowest quality scores, lowest first (all if top is None)."""
    q = np.asarray(quality_scores)
    if top is None or top > len(q):
        top = len(q)
    return q.argsort()[:top]
