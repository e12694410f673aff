"""Near-clean, small and weak-model dev sets for the flag count: out-of-fold pred_probs from
scikit-learn models (`cross_val_predict`, trained on the noisy labels) with a known set of flipped
rows. Built on first use and cached as .npz (pred_probs, labels, true_labels), deterministic.

| name | data | rows | flipped | model |
|---|---|---|---|---|
| digits-0.5 / digits-2 | scikit-learn digits | 1,797 | 0.5% / 2% | logistic regression, 5 folds |
| digits-900 | the first 900 digits | 900 | 10% | logistic regression, 3 folds |
| mnist-0.5 | MNIST test images (if the folder is given), 50 PCA components | 10,000 | 0.5% | logistic regression, 5 folds |
| near-clean-93 | make_classification, 10 classes, a model ~93% accurate | 10,000 | 0.8% | logistic regression, 5 folds |
| table-1000 | make_classification, 4 classes | 1,000 | 3% | gradient boosting, 5 folds |
| weak-table | make_classification, 4 classes that barely separate (accuracy ~0.58) | 2,500 | 8% | logistic regression, 5 folds |
| weak-table-6 | the same with 6 classes (accuracy ~0.5) | 3,000 | 8% | logistic regression, 5 folds |
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SETS = ("digits-0.5", "digits-2", "digits-900", "mnist-0.5", "near-clean-93", "table-1000",
        "weak-table", "weak-table-6")


def flip(y: np.ndarray, rate: float, k: int, seed: int) -> np.ndarray:
    """A copy of y with round(rate * N) rows moved to another class, uniformly (seeded)."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(len(y), int(round(rate * len(y))), replace=False)
    noisy = y.copy()
    noisy[rows] = (y[rows] + rng.integers(1, k, len(rows))) % k
    return noisy


def _oof(model, X, y, folds: int) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    return cross_val_predict(model, X, y, cv=cv, method="predict_proba")


def _build(name: str, mnist: Path | None):
    from sklearn.datasets import load_digits, make_classification
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    logreg = LogisticRegression(max_iter=500, C=0.1)
    folds = 5
    if name.startswith("digits"):
        X, y = load_digits(return_X_y=True)
        rate = {"digits-0.5": 0.005, "digits-2": 0.02, "digits-900": 0.10}[name]
        if name == "digits-900":
            X, y, folds = X[:900], y[:900], 3
        X, model = StandardScaler().fit_transform(X), logreg
    elif name == "mnist-0.5":
        if mnist is None:
            return None
        import sys
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from _evalutil import mnist_test
        from sklearn.decomposition import PCA
        imgs, y = mnist_test(mnist)
        X = PCA(50, random_state=0).fit_transform(imgs.reshape(len(y), -1) / 255.0)
        rate, model = 0.005, LogisticRegression(max_iter=1000, C=1.0)
    elif name == "near-clean-93":
        X, y = make_classification(n_samples=10_000, n_features=20, n_informative=10,
                                   n_classes=10, n_clusters_per_class=1, class_sep=2.0,
                                   random_state=1)
        rate, model = 0.008, logreg
    elif name == "table-1000":
        X, y = make_classification(n_samples=1000, n_features=12, n_informative=6, n_classes=4,
                                   n_clusters_per_class=1, class_sep=1.5, random_state=2)
        rate, model = 0.03, HistGradientBoostingClassifier(max_iter=100, random_state=0)
    else:
        k = 4 if name == "weak-table" else 6
        X, y = make_classification(n_samples=2500 if k == 4 else 3000, n_features=10,
                                   n_informative=4, n_classes=k, n_clusters_per_class=2,
                                   class_sep=0.85 if k == 4 else 1.1, random_state=3 + k)
        rate, model = 0.08, logreg
    k = int(y.max()) + 1
    noisy = flip(y, rate, k, seed=len(name))
    p = _oof(model, X, noisy, folds).astype(np.float32)
    return p / p.sum(axis=1, keepdims=True), noisy, y


def load_dev(name: str, cache: Path, mnist: Path | None = None):
    """(pred_probs (N, K) float32, given labels (N,), true labels (N,)), or None when the set
    needs data that was not given (MNIST)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{name}.npz"
    if not path.is_file():
        built = _build(name, mnist)
        if built is None:
            return None
        np.savez(path, pred_probs=built[0], labels=built[1], true_labels=built[2])
    z = np.load(path)
    return z["pred_probs"], z["labels"].astype(np.int64), z["true_labels"].astype(np.int64)
