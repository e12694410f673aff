"""Which model trains the folds: `--model auto`'s choice for tables and embeddings, and the
dispatch to the scikit-learn models or the torch loop. Importing this does not import torch;
only a torch model does.

The auto rule comes from `benchmarks/bench_tabular.py` (tables in docs/training.md): on the
small real tables (wine, breast cancer) the regularised logistic regression finds the flipped
rows best and gradient boosting worst, on digits and on non-linear synthetic tables it is the
other way round; the mean of the probabilities of a small boosted model, the logistic
regression and 15 nearest neighbours (`hgb+logreg+knn`) is above the better of the two on all
three and on most held-out tables (0.041 under boosting on 5,000 rows of diamonds, its worst),
and trains digits' five folds in about a second. From HGB_MIN_ROWS rows on boosting alone wins, and it is the only model that takes
missing values. Embeddings (dense, already informative features) go to
`logreg`, the linear probe cleanlab's tutorials use.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.features import one_hot
from cleanlab_lite.errors import ConfigError, DataError
from cleanlab_lite.train import foldplan
from cleanlab_lite.train.foldplan import TrainResult, check_backend
from cleanlab_lite.train.sklearn_models import SKLEARN_MODELS, check_options, torch_only_options

TORCH_TABULAR = ("mlp", "linear")
TABULAR_CHOICES = ("auto",) + SKLEARN_MODELS + TORCH_TABULAR
NAN_MODELS = ("hgb",)          # models that take missing feature values as they are
HGB_MIN_ROWS = 10_000          # tables with at least this many rows: auto picks hgb alone
SMALL_TABLE_MODEL = "hgb+logreg+knn"   # auto for tables under HGB_MIN_ROWS rows


def auto_model(kind: str, n_rows: int, has_nan: bool = False, torch_options: bool = False) -> str:
    """`--model auto` for tabular features and embeddings (see the module docstring). When the
    options given only fit a torch model (--epochs, --loss, --batch-size, --gpus-per-fold...), it is
    the torch MLP, as before scikit-learn models existed."""
    if torch_options and not has_nan:
        return "mlp"
    if has_nan or (kind == "tabular" and n_rows >= HGB_MIN_ROWS):
        return "hgb"
    return SMALL_TABLE_MODEL if kind == "tabular" else "logreg"


def choose_model(name: str, ds, cfg: TrainConfig | None = None) -> str:
    """The concrete model for `ds`; image data keeps `name` (the torch loop resolves it)."""
    name = str(name).lower()
    if ds.kind == "image":
        return name
    if name not in TABULAR_CHOICES:
        raise ConfigError(f"--model {name} does not fit {ds.kind} data; use one of "
                          f"{', '.join(TABULAR_CHOICES)}")
    if name == "auto":
        torch_opts = cfg is not None and bool(torch_only_options(cfg, SMALL_TABLE_MODEL))
        return auto_model(ds.kind, ds.n, bool(np.isnan(ds.X).any()), torch_opts)
    return name


def check_missing(ds, name: str) -> None:
    """Missing feature values (NaN) only go to models that handle them."""
    if ds.kind == "image" or name in NAN_MODELS:
        return
    nan = np.isnan(ds.X)
    if nan.any():
        r, j = map(int, np.argwhere(nan)[0])
        col = ds.feature_names[j] if ds.feature_names else f"column {j}"
        raise DataError(f"row {r}: feature {col!r} is missing (NaN), which --model {name} cannot "
                        f"use; fill or drop such rows, or use --model hgb (handles missing values)")


IMAGE_RECIPE = {"snapshots": 4, "label_smoothing": "0.1"}   # auto for images (docs/training.md)
OTHER_RECIPE = {"snapshots": 1, "label_smoothing": "0"}


def recipe(cfg: TrainConfig, kind: str) -> TrainConfig:
    """cfg with the training recipe's `auto` values made concrete for `kind`: for image data the
    recipe measured best at finding flipped labels (`benchmarks/bench_recipe.py`: the mean of 4
    snapshots of the held-out predictions, label smoothing 0.1 with --loss ce), else none."""
    rec = IMAGE_RECIPE if kind == "image" else OTHER_RECIPE
    changes = {}
    if cfg.snapshots is None:
        changes["snapshots"] = rec["snapshots"]
    if str(cfg.label_smoothing).strip().lower() == "auto":
        changes["label_smoothing"] = rec["label_smoothing"] if cfg.loss == "ce" else "0"
    return dataclasses.replace(cfg, **changes) if changes else cfg


def fold_config(cfg: TrainConfig, kind: str) -> TrainConfig:
    """The config the folds train with, checked before anything is written: with --backbone,
    --head on the embeddings (the weights belong to the backbone); otherwise cfg itself; the
    recipe's auto values made concrete (`recipe`)."""
    head = str(cfg.head).lower()
    target = cfg.backbone or str(cfg.model).lower()
    if cfg.pretrained and target != "auto" and kind == "image":
        from cleanlab_lite.train import pretrained

        if pretrained.is_name(cfg.pretrained):     # fetch (or fail offline) before writing anything
            pretrained.named_state_dict(target, cfg.pretrained)
    if cfg.backbone:
        if kind != "image":
            raise ConfigError(f"--backbone {cfg.backbone} needs image data (a path column); for "
                              f"{kind} data drop --backbone, or pass ready embeddings with --embeddings")
        if str(cfg.model).lower() != "auto":
            raise ConfigError(f"--model {cfg.model} and --backbone {cfg.backbone} were both given; "
                              f"with --backbone choose the model trained on the embeddings with --head")
        if head not in TABULAR_CHOICES:
            raise ConfigError(f"--head {cfg.head} is not known; use one of {', '.join(TABULAR_CHOICES)}")
        cfg, kind = dataclasses.replace(cfg, model=head, pretrained=None), "embedding"
    elif head != "auto":
        raise ConfigError(f"--head {cfg.head} applies only with --backbone NAME (embed the "
                          f"images once, then train the head); use --model without --backbone")
    cfg = recipe(cfg, kind)
    name = str(cfg.model).lower()
    if kind != "image" and name not in TABULAR_CHOICES:
        raise ConfigError(f"--model {cfg.model} does not fit {kind} data; use one of "
                          f"{', '.join(TABULAR_CHOICES)}")
    if name in SKLEARN_MODELS:
        check_options(cfg, name)
    return cfg


def train_folds(ds, folds: np.ndarray, cfg: TrainConfig, run_dir) -> TrainResult:
    """Train one model per (repeat, fold) and return out-of-fold probabilities and metrics, with
    the model `cfg.model` resolves to (the torch loop or a scikit-learn model).

    ds:    cleanlab_lite.data.dataset.Dataset (images uint8 (N, C, H, W); tabular float32 (N, D))
    folds: int (R, N) (or (N,) when R == 1), fold index of each row per repeat, 0..cfg.folds-1
    run_dir: results go to run_dir/folds/... (`foldplan`, `cleanlab_lite.run`); finished folds
           with the same fingerprint are reused.

    With cfg.fold = i only fold i (of every repeat) is trained and pred_probs is None; a later
    call without cfg.fold trains what is missing and merges. cfg.backend "ray" runs the folds as
    Ray tasks (`train.ray_backend`); the files written are the same.

    metrics: backend, model, device, epochs, batch_size, lr, loss, folds, repeats; timings
    (prepare_s, train_s, predict_s, total_s for the work done in this call); per_fold: list of
    per-fold records (accuracy, balanced_accuracy, macro_f1, per_class when K <= 100, n_train,
    n_val, train_s, predict_s, node, device, threads, reused); oof: the same measures over all
    rows against the given labels.
    """
    t0 = time.perf_counter()
    try:
        trainer = fold_trainer(ds, folds, cfg)
        if trainer.torch_model:
            ds = torch_view(ds)
        return foldplan.train(ds, folds, run_dir, trainer, t0)
    finally:
        if cfg.backend == "ray":    # a connection `worker_device` made and no job used
            from cleanlab_lite.train import ray_backend

            ray_backend.close()


def fold_trainer(ds, folds: np.ndarray, cfg: TrainConfig) -> foldplan.Trainer:
    """The trainer of the model `cfg.model` resolves to for `ds` (options checked)."""
    cfg = recipe(cfg, ds.kind)
    name = choose_model(cfg.model, ds, cfg)
    check_missing(ds, name)
    if ds.kind != "image":
        cfg = dataclasses.replace(cfg, model=name)     # the fingerprint names the model trained
    check_backend(cfg)
    if name in SKLEARN_MODELS:
        from cleanlab_lite.train import sklearn_models

        return sklearn_models.fold_trainer(ds, cfg, name)
    from cleanlab_lite.train import loop

    return loop.fold_trainer(torch_view(ds), folds, cfg)


def torch_view(ds):
    """ds as torch models take it: category codes one-hot (scikit-learn models take the codes)."""
    if getattr(ds, "levels", None):
        return dataclasses.replace(ds, X=one_hot(ds.X, ds.levels), levels=None, feature_names=None)
    return ds


def check_concurrency(ds, folds: np.ndarray, cfg: TrainConfig) -> None:
    """Refuse (exit 2), before anything is written, --parallel-folds N that the memory cannot hold
    (`parallel.concurrency`)."""
    if cfg.backend != "local" or cfg.parallel_folds == 1:
        return
    from cleanlab_lite.train import parallel

    trainer = fold_trainer(ds, folds, cfg)
    jobs = cfg.repeats * (1 if cfg.fold is not None else cfg.folds)
    parallel.concurrency(ds, trainer.cfg, jobs, trainer.device, trainer.torch_model,
                         (trainer.resolved or {}).get("batch_size"))
