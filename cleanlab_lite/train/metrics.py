"""Classification metrics from one confusion matrix (numpy only, no per-row loops).

Macro averages follow scikit-learn: they run over the classes that occur in the true labels or
the predictions; a class with no predicted rows has precision 0 (and no true rows: recall 0).
"""
from __future__ import annotations

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) int64 counts, rows = true class, columns = predicted class."""
    flat = np.asarray(y_true, dtype=np.int64) * num_classes + np.asarray(y_pred, dtype=np.int64)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str],
                           per_class: bool = True) -> dict:
    """accuracy, balanced_accuracy, macro_f1 and (optionally) per-class precision/recall/f1/support."""
    k = len(classes)
    cm = confusion(y_true, y_pred, k).astype(np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    seen = (support > 0) | (predicted > 0)
    n = cm.sum()
    out = {
        "n": int(n),
        "accuracy": float(tp.sum() / n) if n else 0.0,
        "balanced_accuracy": float(recall[support > 0].mean()) if (support > 0).any() else 0.0,
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
    }
    if per_class:
        out["per_class"] = {
            str(name): {"precision": float(precision[j]), "recall": float(recall[j]),
                        "f1": float(f1[j]), "support": int(support[j])}
            for j, name in enumerate(classes)
        }
    return out
