"""scikit-learn fold models for tabular features and embeddings, the way cleanlab's tutorials
get out-of-fold probabilities for tables:

    hgb             HistGradientBoostingClassifier (missing values handled natively)
    logreg          StandardScaler -> LogisticRegression (lbfgs, multinomial, C = 0.1)
    knn             StandardScaler -> 15 nearest neighbours, votes weighted by 1 / distance
    hgb+logreg      the mean of the members' probabilities (hgb early-stopped; in the mean of
                    three, also small)
    hgb+logreg+knn

Same fold plan, fingerprints, resume, --fold, metrics and run-folder layout as the torch loop
(see `foldplan`); each fold's fitted estimator is saved as model.joblib. The folds run in this
process, or with `--backend ray` one Ray task per fold (`run_fold`, on CPUs). Class weights and
--weight-col become `sample_weight`; --balance resamples the training rows once per fold.
Nothing here imports torch, in this process or in the Ray tasks.
"""
from __future__ import annotations

import dataclasses
import functools
import socket
import time

import numpy as np

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.features import feature_levels, scaler
from cleanlab_lite.errors import ConfigError
from cleanlab_lite.fold_files import SKLEARN_MODEL
from cleanlab_lite.train import foldplan, weighting
from cleanlab_lite.train.foldplan import FoldJob, FoldResult, Trainer
from cleanlab_lite.train.metrics import classification_metrics
from cleanlab_lite.train.threads import cpu_threads, limit_threads

SKLEARN_MODELS = ("hgb", "logreg", "knn", "hgb+logreg", "hgb+logreg+knn")
# hgb: scikit-learn's defaults (boosting rounds / learning rate; --epochs / --lr override them).
# logreg: C = 0.1, ten times scikit-learn's regularisation: on noisy labels it found the flipped
# rows better on every small table measured (F1 of the flags, 10% noise, 3 seeds: wine 0.917 vs
# 0.901 at C = 1, breast cancer 0.894 vs 0.859; benchmarks/bench_tabular.py, docs/training.md).
HGB_MAX_ITER = 100
HGB_LR = 0.1
LOGREG_C = 0.1
LOGREG_MAX_ITER = 1000
KNN_NEIGHBORS = 15
# The boosting member of a mean, per mean. In hgb+logreg (as it was first built): at most 50
# rounds at learning rate 0.2, stopping when 10 rounds in a row do not improve the loss on a 10%
# validation split of the training folds. In hgb+logreg+knn it is smaller still: trees of at
# most 15 leaves on 64 bins per feature, and 5 rounds' patience. On digits the mean of three
# trains in under half the time of hgb+logreg and finds more of the flipped rows; inside
# hgb+logreg the small member lost F1 on wine and breast cancer, so the pair keeps its own
# (benchmarks/bench_tabular.py, docs/training.md).
MEAN_HGB = {
    "hgb+logreg": {"max_iter": 50, "learning_rate": 0.2, "early_stopping": True},
    "hgb+logreg+knn": {"max_iter": 50, "learning_rate": 0.2, "early_stopping": True,
                       "max_bins": 64, "max_leaf_nodes": 15, "n_iter_no_change": 5},
}


class MeanProba:
    """Fitted estimators whose predict_proba is averaged (each was fit on the same rows)."""

    def __init__(self, members: list):
        self.members = members
        self.classes_ = members[0].classes_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.mean([m.predict_proba(X) for m in self.members], axis=0)


def torch_only_options(cfg: TrainConfig, name: str) -> list[str]:
    """The options set in cfg that only mean something for torch training (for model `name`)."""
    torch_only = {"--loss": cfg.loss != "ce",
                  "--label-smoothing": str(cfg.label_smoothing).strip() not in ("0", "0.0", "auto"),
                  "--batch-size": cfg.batch_size is not None,
                  "--weight-decay": cfg.weight_decay is not None,
                  "--pretrained": cfg.pretrained is not None,
                  "--gpus-per-fold": bool(cfg.gpus_per_fold),
                  "--snapshots": cfg.snapshots not in (None, 1),
                  "--knn": cfg.knn != TrainConfig.knn}
    if name != "hgb":
        torch_only.update({"--epochs": cfg.epochs is not None, "--lr": cfg.lr is not None})
    return [flag for flag, set_ in torch_only.items() if set_]


def check_options(cfg: TrainConfig, name: str) -> None:
    """Options that only mean something for torch training are errors, not silently ignored."""
    flags = torch_only_options(cfg, name)
    if flags:
        raise ConfigError(f"{flags[0]} does not apply to --model {name} (a scikit-learn model); "
                          f"drop {flags[0]} or use a torch model such as --model mlp or linear")


def members(name: str) -> list[str]:
    """The models whose probabilities `name` averages ("hgb+logreg" -> ["hgb", "logreg"])."""
    return str(name).split("+")


def build_estimator(name: str, cfg: TrainConfig, seed: int, levels: tuple[int, ...] | None = None):
    """A fresh, unfitted estimator for `name` with the fold's seed (for a mean such as
    hgb+logreg: a list of the members). levels: which feature columns hold category codes
    (`data.features.feature_levels`): native categories in hgb, one-hot in logreg and knn."""
    if name not in SKLEARN_MODELS:
        raise ConfigError(f"--model {name!r} is not a scikit-learn model; use one of "
                          f"{', '.join(SKLEARN_MODELS)}")
    if "+" in name:
        return [_member(m, cfg, seed, mean=name, levels=levels) for m in members(name)]
    return _member(name, cfg, seed, levels=levels)


def _member(name: str, cfg: TrainConfig, seed: int, mean: str | None = None,
            levels: tuple[int, ...] | None = None):
    """One model; `mean`: the name of the mean it is a member of, if any."""
    if name == "hgb":
        from sklearn.ensemble import HistGradientBoostingClassifier

        cats = {"categorical_features": [n > 0 for n in levels]} if levels else {}
        if mean is not None:
            return HistGradientBoostingClassifier(**MEAN_HGB[mean], **cats,
                                                  random_state=seed % (2 ** 32))
        return HistGradientBoostingClassifier(
            learning_rate=HGB_LR if cfg.lr is None else float(cfg.lr),
            max_iter=HGB_MAX_ITER if cfg.epochs is None else int(cfg.epochs),
            random_state=seed % (2 ** 32), **cats)
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import Pipeline

        return Pipeline([("standardscaler", scaler(levels)), ("logisticregression",
                         LogisticRegression(C=LOGREG_C, max_iter=LOGREG_MAX_ITER))])
    return WeightedKNN(KNN_NEIGHBORS, levels)


class WeightedKNN:
    """k-nearest-neighbour class probabilities on standardised features: each of the k nearest
    training rows votes for its label with its sample weight divided by its distance; a query
    with training rows at distance 0 takes their votes alone (scikit-learn's
    weights="distance", plus per-row weights, which KNeighborsClassifier does not take). Rows of
    weight 0 are left out of the neighbours; classes_ still lists every label seen."""

    def __init__(self, n_neighbors: int = KNN_NEIGHBORS, levels: tuple[int, ...] | None = None):
        self.n_neighbors = n_neighbors
        self.levels = levels

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None):
        from sklearn.neighbors import NearestNeighbors

        self.classes_, y_idx = np.unique(y, return_inverse=True)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
        keep = w > 0
        if not keep.any():
            raise ConfigError("every training row of a fold has weight 0; check --weight-col")
        X, self.y_, self.w_ = X[keep], y_idx[keep], w[keep]
        self.scaler_ = scaler(getattr(self, "levels", None)).fit(X, sample_weight=self.w_)
        self.nn_ = NearestNeighbors(n_neighbors=min(self.n_neighbors, len(self.y_)))
        self.nn_.fit(self.scaler_.transform(X))
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        dist, idx = self.nn_.kneighbors(self.scaler_.transform(X))
        return knn_votes(dist, self.y_[idx], self.w_[idx], len(self.classes_))


def knn_votes(dist: np.ndarray, labels: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, C) probabilities from the k neighbours' distances, label indices and weights (n, k):
    each neighbour adds weight / distance to its label; where a row has neighbours at distance 0,
    only those vote. A row whose votes sum to 0 (all weights 0) gets the uniform distribution."""
    exact = dist <= 0.0
    vote = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float64),
                    1.0 / np.maximum(dist, np.finfo(np.float64).tiny)) * weights
    n = dist.shape[0]
    cell = (np.arange(n)[:, None] * n_classes + labels).ravel()    # (row, class) as one index
    out = np.bincount(cell, weights=vote.ravel(), minlength=n * n_classes).reshape(n, n_classes)
    total = out.sum(axis=1, keepdims=True)
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / n_classes)


def _fit(est, X: np.ndarray, y: np.ndarray, sw: np.ndarray | None):
    """Fit `est` (or each of a list) with per-row weights; returns the fitted model."""
    if isinstance(est, list):
        return MeanProba([_fit(e, X, y, sw) for e in est])
    if sw is None:
        return est.fit(X, y)
    if hasattr(est, "steps"):   # the logreg pipeline: route the weights to both steps
        return est.fit(X, y, standardscaler__sample_weight=sw, logisticregression__sample_weight=sw)
    return est.fit(X, y, sample_weight=sw)


def predict_proba(est, X: np.ndarray, num_classes: int) -> np.ndarray:
    """float32 (n, K) probabilities; classes absent from the training rows get 0."""
    p = est.predict_proba(X)
    out = np.zeros((X.shape[0], num_classes), dtype=np.float64)
    out[:, np.asarray(est.classes_, dtype=np.int64)] = p
    out = np.clip(out, 0.0, None)
    out /= out.sum(axis=1, keepdims=True)
    return out.astype(np.float32)


def fold_trainer(ds, cfg: TrainConfig, name: str) -> Trainer:
    """The trainer for scikit-learn model `name` (see `choose.train_folds` for the arguments, the
    run-folder layout and the metrics). The folds run one after another in this process, as Ray
    tasks (cfg.backend "ray") or in fold processes, each with `cpu_threads` OpenMP/BLAS threads."""
    if name not in SKLEARN_MODELS:
        build_estimator(name, cfg, 0)       # raises the error naming the valid models
    check_options(cfg, name)
    weighting.class_weights(ds.labels, ds.num_classes, cfg.class_weight, cfg.effective_number_beta)
    # --device only picks where torch trains: on Ray these folds reserve CPUs, never a GPU
    return Trainer(dataclasses.replace(cfg, device="cpu"), None,
                   functools.partial(run_fold, name=name), functools.partial(_run_local, name=name),
                   write_fold, device="cpu", torch_model=False)


def _run_local(ds, cfg: TrainConfig, todo: list[FoldJob], finish, name: str) -> float:
    """The folds one after another in this process."""
    X = np.asarray(ds.X, dtype=np.float32)
    with limit_threads(cpu_threads(cfg, X, torch_model=False)):
        for job in todo:
            finish(job, train_fold(ds, X, job, cfg, name))
    return 0.0


def run_fold(ds, job: FoldJob, cfg: TrainConfig, name: str) -> FoldResult:
    """One job on its own (a Ray task, a fold process): `train_fold` with `cpu_threads` threads
    (on Ray, --cpus-per-fold cores)."""
    X = np.asarray(ds.X, dtype=np.float32)
    cores = max(1, int(cfg.cpus_per_fold)) if cfg.backend == "ray" else None
    with limit_threads(cpu_threads(cfg, X, torch_model=False, cores=cores)):
        return train_fold(ds, X, job, cfg, name)


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


def train_fold(ds, X: np.ndarray, job: FoldJob, cfg: TrainConfig, name: str) -> FoldResult:
    """Fit `name` on the job's training rows (resampled by --balance) and predict its held-out
    rows. X: ds.X as float32 (N, D)."""
    rng = np.random.default_rng(job.seed)
    rows = weighting.balanced_rows(job.train_rows, ds.labels[job.train_rows], cfg.balance, rng)
    t = time.perf_counter()
    est = _fit(build_estimator(name, cfg, job.seed, feature_levels(ds)), X[rows], ds.labels[rows],
               _sample_weight(ds, cfg, rows))
    t_train = time.perf_counter() - t
    t = time.perf_counter()
    probs = predict_proba(est, X[job.val_rows], ds.num_classes)
    t_pred = time.perf_counter() - t
    K = ds.num_classes
    n_iter = _n_iter(est)
    fm = classification_metrics(ds.labels[job.val_rows], probs.argmax(axis=1), ds.classes,
                                per_class=K <= foldplan.PER_CLASS_FOLD_MAX_K)
    rec = {"repeat": job.repeat, "fold": job.fold, "fingerprint": job.fingerprint,
           "model": name, "device": "cpu", "node": socket.gethostname(),
           "threads": _threads_in_use(), "epochs": n_iter if "hgb" in name else None,
           "n_iter": n_iter, "batch_size": None,
           "lr": _hgb_lr(name, cfg),
           "n_train": int(rows.size), "n_val": int(job.val_rows.size), "train_s": t_train,
           "predict_s": t_pred, "reused": False, **fm}
    return FoldResult(rec, probs, est)


def write_fold(job: FoldJob, result: FoldResult) -> dict:
    """Write one fold's files atomically (the estimator as model.joblib), its record last."""
    import joblib

    job.files.write(lambda tmp: joblib.dump(result.state, tmp), result.probs, job.val_rows,
                    result.record, model_file=SKLEARN_MODEL)
    return {**result.record, "probs": result.probs}


def _threads_in_use() -> int:
    """The OpenMP threads this fold ran with (set by `limit_threads` around it)."""
    from threadpoolctl import threadpool_info

    counts = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "openmp"]
    return max(counts) if counts else 1


def _hgb_lr(name: str, cfg: TrainConfig) -> float | None:
    """The boosting learning rate `name` trains with (None without a boosting member)."""
    if name == "hgb":
        return HGB_LR if cfg.lr is None else float(cfg.lr)
    return MEAN_HGB[name]["learning_rate"] if name in MEAN_HGB else None


def _n_iter(est) -> int | None:
    """Boosting rounds (hgb, also in a mean with hgb) or solver iterations (logreg) actually run;
    None for knn."""
    if isinstance(est, MeanProba):
        est = est.members[0]
    final = est[-1] if hasattr(est, "steps") else est
    n = getattr(final, "n_iter_", None)
    return None if n is None else int(np.max(n))
