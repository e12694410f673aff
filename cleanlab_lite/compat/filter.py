"""cleanlab 2.9's `cleanlab.filter` for single-label classification: `find_label_issues` with
cleanlab's default (`prune_by_noise_rate`) and every option, `find_predicted_neq_given`,
`find_label_issues_using_argmax_confusion_matrix`. Same names, arguments, defaults, results."""
from __future__ import annotations

import warnings

import numpy as np

from cleanlab_lite.compat import count as _ccount
from cleanlab_lite.compat._inputs import cleanlab_errors, engine, single_label
from cleanlab_lite.scoring import count as _count
from cleanlab_lite.scoring.api import CLEANLAB_FILTERS, issues_from

NO_FRACTION = ("confident_learning", "predicted_neq_given", "low_normalized_margin",
               "low_self_confidence")


def find_label_issues(labels, pred_probs, *, return_indices_ranked_by: str | None = None,
                      rank_by_kwargs: dict | None = None, filter_by: str = "prune_by_noise_rate",
                      frac_noise: float = 1.0, num_to_remove_per_class=None,
                      min_examples_per_class=1, confident_joint=None, n_jobs: int | None = None,
                      verbose: bool = False, multi_label: bool = False) -> np.ndarray:
    """Boolean mask (N,) of likely label issues, or with `return_indices_ranked_by` their
    indices, most severe first. `n_jobs` is accepted (the engine picks its own threads; the
    results do not depend on it). `num_to_remove_per_class`: an int (every class) or a list."""
    if filter_by not in CLEANLAB_FILTERS:
        raise ValueError(f"filter_by={filter_by!r} is not valid; use one of "
                         f"{', '.join(CLEANLAB_FILTERS)}")
    single_label(multi_label, "find_label_issues")
    if n_jobs is not None and n_jobs < 1:
        raise ValueError(f"n_jobs={n_jobs} is not valid; use None or a positive number")
    if filter_by in NO_FRACTION and (frac_noise != 1.0 or num_to_remove_per_class is not None):
        warnings.warn(f"frac_noise and num_to_remove_per_class parameters are only supported "
                      f"for filter_by 'prune_by_noise_rate', 'prune_by_class', and 'both'. They "
                      f"are not supported for methods {', '.join(NO_FRACTION)}.")
    if num_to_remove_per_class is not None and filter_by in NO_FRACTION:
        raise ValueError("filter_by 'confident_learning', 'predicted_neq_given', "
                         "'low_normalized_margin' or 'low_self_confidence' is not supported (yet) "
                         "when setting 'num_to_remove_per_class'")
    if filter_by == "confident_learning" and isinstance(confident_joint, np.ndarray):
        warnings.warn("The supplied `confident_joint` is ignored when `filter_by = "
                      "'confident_learning'`; confident joint will be re-estimated from the "
                      "given labels.")
        confident_joint = None
    eng = engine(labels, pred_probs)
    if num_to_remove_per_class is not None and np.ndim(num_to_remove_per_class) == 0:
        num_to_remove_per_class = [int(num_to_remove_per_class)] * eng.k
    with cleanlab_errors():
        mask = issues_from(eng, filter_by, frac_noise=frac_noise,
                           num_to_remove_per_class=num_to_remove_per_class,
                           min_examples_per_class=min_examples_per_class,
                           joint=None if confident_joint is None else np.asarray(confident_joint))
    if verbose:
        print(f"Number of label issues found: {int(mask.sum())}")
    if return_indices_ranked_by is None:
        return mask
    from cleanlab_lite.compat.rank import order_label_issues
    return order_label_issues(mask, eng.labels, pred_probs, rank_by=return_indices_ranked_by,
                              rank_by_kwargs=rank_by_kwargs or {})


def find_predicted_neq_given(labels, pred_probs, *, multi_label: bool = False) -> np.ndarray:
    """Boolean mask (N,): argmax(pred_probs) != given label."""
    single_label(multi_label, "find_predicted_neq_given")
    eng = engine(labels, pred_probs)
    return eng.stats["argmax"] != eng.labels


def find_label_issues_using_argmax_confusion_matrix(labels, pred_probs, *, calibrate: bool = True,
                                                    filter_by: str = "prune_by_noise_rate"):
    """Baseline: the confusion matrix of argmax vs given label as the confident joint."""
    eng = engine(labels, pred_probs)
    k = eng.k
    cj = np.bincount(eng.labels * k + eng.stats["argmax"], minlength=k * k).reshape(k, k)
    if calibrate:
        cj = _ccount.calibrate_confident_joint(cj, eng.labels)
    return find_label_issues(labels, pred_probs, confident_joint=cj, filter_by=filter_by)


def _keep_at_least_n_per_class(prune_count_matrix, n: int, *, frac_noise: float = 1.0):
    """cleanlab's private helper: raise each column's diagonal to n, then keep frac_noise."""
    return _count.keep_at_least_n_per_class(np.asarray(prune_count_matrix), n, frac_noise)


def _reduce_prune_counts(prune_count_matrix, frac_noise: float = 1.0):
    """cleanlab's private helper: off-diagonal counts times frac_noise, the rest on the diagonal."""
    m = np.asarray(prune_count_matrix)
    new = m * frac_noise
    np.fill_diagonal(new, m.diagonal())
    np.fill_diagonal(new, m.diagonal() + np.sum(m - new, axis=0))
    return new.astype(int)
