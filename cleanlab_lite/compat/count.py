"""cleanlab 2.9's `cleanlab.count` for single-label classification: confident joint, its
calibration, the joint, thresholds, latent estimates, the number of issues, and the
cross-validation helpers. Same names, arguments, defaults and return types."""
from __future__ import annotations

import warnings

import numpy as np

from cleanlab_lite.compat._inputs import as_labels, cleanlab_errors, engine, single_label
from cleanlab_lite.scoring import count as _count

TINY = _count.TINY
ESTIMATION_METHODS = ["off_diagonal", "off_diagonal_calibrated", "off_diagonal_custom"]
PY_METHODS = ("cnt", "eqn", "marginal", "marginal_ps")


def _label_counts(labels, k: int) -> np.ndarray:
    return np.bincount(as_labels(labels).astype(np.int64), minlength=k)[:k]


# ---- thresholds and the confident joint -------------------------------------------------------
def get_confident_thresholds(labels, pred_probs, multi_label: bool = False) -> np.ndarray:
    """Per-class thresholds (K,): mean p_k over the rows labeled k (2 for an absent class)."""
    single_label(multi_label, "get_confident_thresholds")
    return engine(labels, pred_probs).stats["thresholds"].copy()


def compute_confident_joint(labels, pred_probs, *, thresholds=None, calibrate: bool = True,
                            multi_label: bool = False, return_indices_of_off_diagonals: bool = False):
    """Confident joint (K, K) of given (rows) vs true (columns) labels, calibrated by default;
    with `return_indices_of_off_diagonals=True`, also the indices of the rows counted off it."""
    single_label(multi_label, "compute_confident_joint")
    eng = engine(labels, pred_probs, thresholds)
    cj = eng.calibrated_joint() if calibrate else eng.confident_joint()
    if return_indices_of_off_diagonals:
        return cj, np.flatnonzero(eng.off_diagonal())
    return cj


def calibrate_confident_joint(confident_joint, labels, *, multi_label: bool = False) -> np.ndarray:
    """Scale rows to the given-label counts and the total to N; integers keeping row totals."""
    single_label(multi_label, "calibrate_confident_joint")
    cj = np.asarray(confident_joint)
    return _count.calibrate(cj, _label_counts(labels, len(cj)))


def estimate_joint(labels, pred_probs, *, confident_joint=None, multi_label: bool = False) -> np.ndarray:
    """Estimated joint P(given, true), (K, K), sums to 1."""
    single_label(multi_label, "estimate_joint")
    if confident_joint is None:
        cal = compute_confident_joint(labels, pred_probs, calibrate=True)
    elif labels is not None:
        cal = calibrate_confident_joint(confident_joint, labels)
    else:
        cal = np.asarray(confident_joint)
    return cal / np.clip(float(np.sum(cal)), TINY, None)


# ---- latent estimates ---------------------------------------------------------------------------
def _clip_values(x, low, high, new_sum):
    x = np.clip(x, low, high)
    return x * new_sum / np.clip(np.sum(x), TINY, None)


def compute_py(ps, noise_matrix, inverse_noise_matrix, *, py_method="cnt",
               true_labels_class_counts=None) -> np.ndarray:
    """P(true = k) from P(given = k) and the noise matrices, by `py_method`."""
    if py_method == "cnt":
        py = inverse_noise_matrix.diagonal() / np.clip(noise_matrix.diagonal(), TINY, None) * ps
    elif py_method == "eqn":
        py = np.linalg.inv(noise_matrix).dot(ps)
    elif py_method == "marginal":
        if true_labels_class_counts is None:
            raise ValueError('py_method == "marginal" requires true_labels_class_counts')
        py = true_labels_class_counts / np.clip(float(sum(true_labels_class_counts)), TINY, None)
    elif py_method == "marginal_ps":
        py = np.dot(inverse_noise_matrix, ps)
    else:
        raise ValueError(f"py_method {py_method} should be in [cnt, eqn, marginal, marginal_ps]")
    return _clip_values(py, _count.CLIP_LOW, 1.0, 1.0)


def compute_inv_noise_matrix(py, noise_matrix, *, ps=None) -> np.ndarray:
    """P(true | given) from P(true) and P(given | true)."""
    joint = noise_matrix * py
    ps = joint.sum(axis=1) if ps is None else ps
    return _count.clip_noise_rates(joint.T / np.clip(ps, TINY, None))


def compute_noise_matrix_from_inverse(ps, inverse_noise_matrix, *, py=None) -> np.ndarray:
    """P(given | true) from P(given) and P(true | given)."""
    joint = (inverse_noise_matrix * ps).T
    py = joint.sum(axis=0) if py is None else py
    return _count.clip_noise_rates(joint / np.clip(py, TINY, None))


def _converge_estimates(ps, py, noise_matrix, inverse_noise_matrix, *,
                        inv_noise_matrix_iterations=5, noise_matrix_iterations=3):
    for _ in range(noise_matrix_iterations):
        for _ in range(inv_noise_matrix_iterations):
            inverse_noise_matrix = compute_inv_noise_matrix(py, noise_matrix, ps=ps)
            py = compute_py(ps, noise_matrix, inverse_noise_matrix)
        noise_matrix = compute_noise_matrix_from_inverse(ps, inverse_noise_matrix, py=py)
    return py, noise_matrix, inverse_noise_matrix


def estimate_latent(confident_joint, labels, *, py_method: str = "cnt",
                    converge_latent_estimates: bool = False):
    """(py, noise_matrix, inv_noise_matrix): P(true), P(given | true), P(true | given)."""
    cj = np.asarray(confident_joint)
    y = as_labels(labels)
    ps = _label_counts(y, len(cj)) / float(len(y))
    given_counts = cj.sum(axis=1).astype(float)
    true_counts = cj.sum(axis=0).astype(float)
    nm = cj / np.clip(true_counts, TINY, None)
    inm = cj.T / np.clip(given_counts, TINY, None)
    py = compute_py(ps, nm, inm, py_method=py_method, true_labels_class_counts=true_counts)
    nm, inm = _count.clip_noise_rates(nm), _count.clip_noise_rates(inm)
    if converge_latent_estimates:
        py, nm, inm = _converge_estimates(ps, py, nm, inm)
        py = _clip_values(py, 1e-5, 1.0, 1.0)
        nm, inm = _count.clip_noise_rates(nm), _count.clip_noise_rates(inm)
    return py, nm, inm


def estimate_py_and_noise_matrices_from_probabilities(labels, pred_probs, *, thresholds=None,
                                                      converge_latent_estimates: bool = True,
                                                      py_method: str = "cnt", calibrate: bool = True):
    """(py, noise_matrix, inv_noise_matrix, confident_joint) from out-of-sample pred_probs."""
    cj = compute_confident_joint(labels, pred_probs, thresholds=thresholds, calibrate=calibrate)
    py, nm, inm = estimate_latent(cj, labels, py_method=py_method,
                                  converge_latent_estimates=converge_latent_estimates)
    return py, nm, inm, cj


# ---- number of issues ---------------------------------------------------------------------------
def num_label_issues(labels, pred_probs, *, confident_joint=None,
                     estimation_method: str = "off_diagonal", multi_label: bool = False) -> int:
    """Estimated number of label issues; cleanlab's default `off_diagonal`."""
    single_label(multi_label, "num_label_issues")
    if isinstance(confident_joint, np.ndarray) and estimation_method != "off_diagonal_custom":
        warnings.warn("The supplied `confident_joint` is ignored as `confident_joint` is "
                      "recomuputed internally using the supplied `labels` and `pred_probs`. If "
                      "you still want to use custom `confident_joint` call function with "
                      "`estimation_method='off_diagonal_custom'`.")
    if estimation_method in ("off_diagonal", "off_diagonal_calibrated"):
        with cleanlab_errors():
            return engine(labels, pred_probs).num_issues(estimation_method)
    if estimation_method == "off_diagonal_custom":
        if not isinstance(confident_joint, np.ndarray):
            raise ValueError("No `confident_joint` provided. For 'estimation_method' = "
                             "off_diagonal_custom you need to provide pre-calculated "
                             "`confident_joint` matrix.")
        engine(labels, pred_probs)                     # validates the inputs
        joint = estimate_joint(labels, pred_probs, confident_joint=confident_joint)
        return int(np.rint((1.0 - joint.trace()) * len(as_labels(labels))))
    raise ValueError(f"{estimation_method} is not a valid estimation method! Please choose a "
                     f"valid estimation method: {ESTIMATION_METHODS}")


# ---- cross-validation helpers (scikit-learn classifiers) ---------------------------------------
def _default_clf():
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(solver="lbfgs")


def _rows(X, idx):
    return np.asarray(X)[idx] if isinstance(X, list) else X[idx]


def _append_row(X, row):
    import scipy.sparse as sp
    return sp.vstack([X, row]) if sp.issparse(X) else np.concatenate([X, row])


def estimate_cv_predicted_probabilities(X, labels, clf=None, *, cv_n_folds=5, seed=None,
                                        clf_kwargs={}, validation_func=None) -> np.ndarray:  # noqa: B006
    """Out-of-sample pred_probs (N, K) from stratified k-fold cross-validation of `clf`
    (default LogisticRegression). A class missing from a training fold gets one of its holdout
    rows copied in, which is then predicted as its given label, as cleanlab does."""
    import sklearn.base
    from sklearn.model_selection import StratifiedKFold

    clf = _default_clf() if clf is None else clf
    y = as_labels(labels)
    k = int(y.max()) + 1 if len(y) else 0
    kf = StratifiedKFold(n_splits=cv_n_folds, shuffle=True, random_state=seed)
    out = np.zeros((len(y), k))
    for train, hold in kf.split(X=y, y=y):
        model = sklearn.base.clone(clf)
        Xt, yt = _rows(X, train), y[train]
        dup = {}
        for c in sorted(set(range(k)) - set(yt.tolist())):
            i = int(np.flatnonzero(y[hold] == c)[0])
            dup[c] = i
            yt = np.append(yt, c)
            Xt = _append_row(Xt, _rows(X, hold[[i]]))
        if validation_func is not None and not callable(validation_func):
            raise TypeError("validation_func must be callable function with args: X_val, y_val")
        vkw = validation_func(_rows(X, hold), y[hold]) if validation_func else {}
        model.fit(Xt, yt, **clf_kwargs, **vkw)
        p = model.predict_proba(_rows(X, hold))
        for c, i in dup.items():
            p[i] = np.eye(p.shape[1])[c]
        out[hold] = p
    return out


def estimate_confident_joint_and_cv_pred_proba(X, labels, clf=None, *, cv_n_folds=5,
                                               thresholds=None, seed=None, calibrate=True,
                                               clf_kwargs={}, validation_func=None):  # noqa: B006
    """(confident_joint, pred_probs) with pred_probs from cross-validation of `clf`."""
    p = estimate_cv_predicted_probabilities(X, labels, clf, cv_n_folds=cv_n_folds, seed=seed,
                                            clf_kwargs=clf_kwargs, validation_func=validation_func)
    cj = compute_confident_joint(labels, p, thresholds=thresholds, calibrate=calibrate)
    return cj, p


def estimate_py_noise_matrices_and_cv_pred_proba(X, labels, clf=None, *, cv_n_folds=5,
                                                 thresholds=None, converge_latent_estimates=False,
                                                 py_method="cnt", seed=None, clf_kwargs={},  # noqa: B006
                                                 validation_func=None):
    """(py, noise_matrix, inv_noise_matrix, confident_joint, pred_probs) via cross-validation."""
    cj, p = estimate_confident_joint_and_cv_pred_proba(
        X, labels, clf, cv_n_folds=cv_n_folds, thresholds=thresholds, seed=seed,
        clf_kwargs=clf_kwargs, validation_func=validation_func)
    py, nm, inm = estimate_latent(cj, labels, py_method=py_method,
                                  converge_latent_estimates=converge_latent_estimates)
    return py, nm, inm, cj, p


def estimate_noise_matrices(X, labels, clf=None, *, cv_n_folds=5, thresholds=None,
                            converge_latent_estimates=True, seed=None, clf_kwargs={},  # noqa: B006
                            validation_func=None):
    """(noise_matrix, inv_noise_matrix) via cross-validation of `clf`."""
    return estimate_py_noise_matrices_and_cv_pred_proba(
        X, labels, clf, cv_n_folds=cv_n_folds, thresholds=thresholds,
        converge_latent_estimates=converge_latent_estimates, seed=seed, clf_kwargs=clf_kwargs,
        validation_func=validation_func)[1:-2]
