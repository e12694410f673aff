"""Label quality scores, confident-learning estimates and filters: pure numpy, chunked.

    from cleanlab_lite.scoring import label_quality_scores, find_label_issues
    scores = label_quality_scores(labels, pred_probs)          # (N,), lower = more suspect
    issues = find_label_issues(labels, pred_probs)             # (N,) bool

`pred_probs` may be an (N, K) array, a `.npy` path (processed in chunks: files larger than RAM
work) or a list of those (averaged). See docs/scoring.md for the measured defaults.
"""
from cleanlab_lite.scoring.api import (  # noqa: F401
    DEFAULT_FILTER, DEFAULT_METHOD, ESTIMATION_METHODS, FILTERS, METHODS,
    calibrated_joint, class_priors, confident_joint, estimate_num_issues, find_label_issues,
    inverse_noise_matrix, issues_from, label_quality_scores, noise_matrix, num_label_issues,
    scores_from,
)
from cleanlab_lite.scoring.engine import CJ_ARGMAX, Engine  # noqa: F401
