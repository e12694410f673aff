from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_recall_fscore_support

from cleanlab_lite.train.metrics import classification_metrics, confusion


def test_confusion_counts():
    cm = confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_matches_scikit_learn_on_random_labels():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 4, 300))
    p[p == 4] = 0                                   # class 4 is never predicted
    m = classification_metrics(y, p, list("abcde"))
    assert m["accuracy"] == pytest.approx((y == p).mean())
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, p))
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro", zero_division=0))
    prec, rec, f1, sup = precision_recall_fscore_support(y, p, labels=range(5), zero_division=0)
    for j, name in enumerate("abcde"):
        pc = m["per_class"][name]
        assert (pc["precision"], pc["recall"], pc["f1"], pc["support"]) == pytest.approx(
            (prec[j], rec[j], f1[j], sup[j]))
    assert m["per_class"]["e"]["precision"] == 0.0


def test_macro_f1_ignores_classes_absent_from_both():
    m = classification_metrics(np.array([0, 1]), np.array([0, 1]), ["a", "b", "c"], per_class=False)
    assert m["macro_f1"] == 1.0 and "per_class" not in m
