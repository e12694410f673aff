"""scikit-learn fold models for tabular features and embeddings, the way cleanlab's tutorials
get out-of-fold probabilities for tables:

    hgb     HistGradientBoostingClassifier (missing values handled natively)
    logreg  StandardScaler -> LogisticRegression (lbfgs, multinomial)

Same fold plan, fingerprints, resume, --fold, metrics and run-folder layout as the torch loop
(see `foldplan`); each fold's fitted estimator is saved as model.joblib. Class weights and
--weight-col become `sample_weight`; --balance resamples the training rows once per fold.
Nothing here imports torch.
"""
from __future__ import annotations

import os
import time

import numpy as np

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.errors import ConfigError
from cleanlab_lite.train import foldplan, weighting
from cleanlab_lite.train.foldplan import FoldTask, TrainResult

SKLEARN_MODELS = ("hgb", "logreg")
MODEL_FILE = "model.joblib"
# Defaults (scikit-learn's own, which cleanlab's tutorials use): boosting rounds / learning rate
# for hgb (--epochs / --lr override them), inverse regularisation strength and iteration cap for
# logreg.
HGB_MAX_ITER = 100
HGB_LR = 0.1
LOGREG_C = 1.0
LOGREG_MAX_ITER = 1000


def check_options(cfg: TrainConfig, name: str) -> None:
    """Options that only mean something for torch training are errors, not silently ignored."""
    torch_only = {"--loss": cfg.loss != "ce",
                  "--label-smoothing": str(cfg.label_smoothing).strip() not in ("0", "0.0"),
                  "--batch-size": cfg.batch_size is not None,
                  "--weight-decay": cfg.weight_decay is not None,
                  "--pretrained": cfg.pretrained is not None}
    if name == "logreg":
        torch_only.update({"--epochs": cfg.epochs is not None, "--lr": cfg.lr is not None})
    for flag, set_ in torch_only.items():
        if set_:
            raise ConfigError(f"{flag} does not apply to --model {name} (a scikit-learn model); "
                              f"drop {flag} or use a torch model such as --model mlp or linear")


def build_estimator(name: str, cfg: TrainConfig, seed: int):
    """A fresh, unfitted estimator for `name` with the fold's seed."""
    if name == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            learning_rate=HGB_LR if cfg.lr is None else float(cfg.lr),
            max_iter=HGB_MAX_ITER if cfg.epochs is None else int(cfg.epochs),
            random_state=seed % (2 ** 32))
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(),
                             LogisticRegression(C=LOGREG_C, max_iter=LOGREG_MAX_ITER))
    raise ConfigError(f"--model {name!r} is not a scikit-learn model; use one of "
                      f"{', '.join(SKLEARN_MODELS)}")


def _fit(est, name: str, X: np.ndarray, y: np.ndarray, sw: np.ndarray | None) -> None:
    if sw is None:
        est.fit(X, y)
    elif name == "logreg":   # a pipeline: route the weights to both steps
        est.fit(X, y, standardscaler__sample_weight=sw, logisticregression__sample_weight=sw)
    else:
        est.fit(X, y, sample_weight=sw)


def predict_proba(est, X: np.ndarray, num_classes: int) -> np.ndarray:
    """float32 (n, K) probabilities; classes absent from the training rows get 0."""
    p = est.predict_proba(X)
    out = np.zeros((X.shape[0], num_classes), dtype=np.float64)
    out[:, np.asarray(est.classes_, dtype=np.int64)] = p
    out = np.clip(out, 0.0, None)
    out /= out.sum(axis=1, keepdims=True)
    return out.astype(np.float32)


def cpu_threads(cfg: TrainConfig) -> int:
    """OpenMP threads for hgb: cfg.threads when set, else every core (scikit-learn's default)."""
    if cfg.threads < 0:
        raise ConfigError(f"--threads {cfg.threads} must be >= 0 (0 = automatic)")
    return int(cfg.threads) or (os.cpu_count() or 1)


def train_folds(ds, folds: np.ndarray, cfg: TrainConfig, run_dir, name: str) -> TrainResult:
    """Out-of-fold probabilities from scikit-learn model `name` (see `loop.train_folds` for the
    arguments, the run-folder layout and the metrics)."""
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    if name not in SKLEARN_MODELS:
        build_estimator(name, cfg, 0)       # raises the error naming the valid models
    check_options(cfg, name)
    weighting.class_weights(ds.labels, ds.num_classes, cfg.class_weight, cfg.effective_number_beta)
    plan = foldplan.make_plan(ds, folds, cfg, run_dir)
    threads = cpu_threads(cfg)
    X = np.asarray(ds.X, dtype=np.float32)
    info = {"model": name, "device": "cpu", "threads": threads,
            "epochs": (cfg.epochs or HGB_MAX_ITER) if name == "hgb" else None,
            "batch_size": None, "lr": (cfg.lr or HGB_LR) if name == "hgb" else None}

    def train_one(task: FoldTask) -> dict:
        return _train_one(ds, X, cfg, name, task)

    with threadpool_limits(limits=threads):
        return foldplan.run_plan(ds, cfg, plan, train_one, info, t0)


def _sample_weight(ds, cfg: TrainConfig, rows: np.ndarray) -> np.ndarray | None:
    """Class weight of each row's label times its --weight-col weight; None when all are 1."""
    sw = None
    if str(cfg.class_weight).lower() != "none":
        cw = weighting.class_weights(ds.labels[rows], ds.num_classes, cfg.class_weight,
                                     cfg.effective_number_beta)
        sw = cw[ds.labels[rows]].astype(np.float64)
    if ds.weights is not None:
        w = np.asarray(ds.weights, dtype=np.float64)[rows]
        sw = w if sw is None else sw * w
    return sw


def _train_one(ds, X: np.ndarray, cfg: TrainConfig, name: str, task: FoldTask) -> dict:
    import joblib

    rng = np.random.default_rng(task.seed)
    rows = weighting.balanced_rows(task.train, ds.labels[task.train], cfg.balance, rng)
    est = build_estimator(name, cfg, task.seed)
    t = time.perf_counter()
    _fit(est, name, X[rows], ds.labels[rows], _sample_weight(ds, cfg, rows))
    t_train = time.perf_counter() - t
    t = time.perf_counter()
    probs = predict_proba(est, X[task.val], ds.num_classes)
    t_pred = time.perf_counter() - t
    extra = {"model": name, "device": "cpu", "n_iter": _n_iter(est)}
    rec = foldplan.fold_record(ds, task, probs, extra, t_train, t_pred)
    return foldplan.write_fold(task, rec, probs, lambda tmp: joblib.dump(est, tmp), MODEL_FILE)


def _n_iter(est) -> int | None:
    """Boosting rounds (hgb) or solver iterations (logreg) actually run."""
    final = est[-1] if hasattr(est, "steps") else est
    n = getattr(final, "n_iter_", None)
    return None if n is None else int(np.max(n))
