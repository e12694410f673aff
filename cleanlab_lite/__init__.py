"""clean-labels: find wrong labels in classification datasets.

The public API works on numpy arrays: ``labels`` shape (N,), ``pred_probs`` shape (N, K).
"""
__version__ = "0.1.0"

from cleanlab_lite.errors import UserInputError, RuntimeFailure  # noqa: F401

_SCORING = {
    "label_quality_scores", "find_label_issues", "estimate_num_issues",
    "confident_joint", "noise_matrix", "calibrated_joint", "class_priors",
}


def __getattr__(name):  # lazy: `import cleanlab_lite` stays cheap (no torch, no pandas)
    if name in _SCORING:
        from cleanlab_lite import scoring
        return getattr(scoring, name)
    raise AttributeError(f"module 'cleanlab_lite' has no attribute {name!r}")
