"""Input handling shared by the compat modules: cleanlab's label containers, its error types."""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from cleanlab_lite.errors import UserInputError
from cleanlab_lite.scoring.engine import Engine


def as_labels(labels) -> np.ndarray:
    """list / numpy / pandas Series or one-column DataFrame -> 1-D numpy array."""
    if hasattr(labels, "to_numpy"):
        labels = labels.to_numpy()
    return np.asarray(labels).reshape(-1) if np.ndim(labels) > 1 else np.asarray(labels)


def single_label(multi_label: bool, where: str) -> None:
    if multi_label:
        raise NotImplementedError(f"{where}(multi_label=True) is not supported by "
                                  "cleanlab_lite.compat (single-label classification only); use "
                                  "cleanlab.multilabel_classification for multi-label data")


@contextmanager
def cleanlab_errors():
    """cleanlab raises ValueError for invalid inputs; so do the compat modules."""
    try:
        yield
    except UserInputError as e:
        raise ValueError(str(e)) from None


def engine(labels, pred_probs, thresholds=None) -> Engine:
    """An Engine with cleanlab's confident-joint argmax (and, optionally, given thresholds)."""
    with cleanlab_errors():
        eng = Engine.create(as_labels(labels), np.asarray(pred_probs), cj_argmax="cleanlab")
        eng.ensure_a()
    if thresholds is not None:
        eng.set_thresholds(np.asarray(thresholds, dtype=np.float64))
    return eng
