"""`clean-labels train`: load + validate the manifest, assign folds, train k models, and write
the run folder (rows.parquet, classes.json, labels.npy, config.yaml, pred_probs.npy, metrics.json).
"""
from __future__ import annotations

import dataclasses
import platform
import time
from pathlib import Path

import numpy as np

from cleanlab_lite import __version__
from cleanlab_lite.config import DataConfig, TrainConfig, to_dict
from cleanlab_lite.data.load import Loaded, load_dataset
from cleanlab_lite.data.manifest import manifest_format
from cleanlab_lite.errors import UserInputError
from cleanlab_lite.folds import assign_repeats
from cleanlab_lite.guards import check_out_folder
from cleanlab_lite.io import file_sha256
from cleanlab_lite.run import Run
from cleanlab_lite.train.choose import NAN_MODELS

NAN_OK = ("auto",) + NAN_MODELS     # --model values that accept missing feature values


def _version(dist: str) -> str:
    """An installed package's version without importing it (scikit-learn runs never load torch)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def check_machine_options(train_cfg: TrainConfig, data_cfg: DataConfig) -> None:
    """The option checks that need neither the data nor torch's training code, run before the
    manifest is read (so before the decode cache or any run file is written): --device (a GPU is
    there, cuda:N exists) unless the model is a scikit-learn one, and --backbone (a torchvision
    model with a known classifier head; its image-size rule when --image-size is given)."""
    from cleanlab_lite.device import check_device
    from cleanlab_lite.train.sklearn_models import SKLEARN_MODELS

    if train_cfg.backbone:
        from cleanlab_lite.train import models

        side = data_cfg.image_size
        models.check_backbone(train_cfg.backbone, None if side is None else (3, side, side),
                              train_cfg.pretrained)
    if train_cfg.backbone or str(train_cfg.model).lower() not in SKLEARN_MODELS:
        check_device(train_cfg.device)


def _check_against_data(ds, cfg: TrainConfig) -> None:
    """The option checks that need the data (class count, kind, shape) or the machine (a GPU),
    run before any run file is written; the values alone were checked by config.RULES.
    cfg: the folds' config (`choose.fold_config`); a scikit-learn model never imports torch."""
    from cleanlab_lite.train import weighting
    from cleanlab_lite.train.choose import choose_model
    from cleanlab_lite.train.sklearn_models import SKLEARN_MODELS

    weighting.class_weights(ds.labels, ds.num_classes, cfg.class_weight, cfg.effective_number_beta)
    if choose_model(cfg.model, ds, cfg) in SKLEARN_MODELS:
        return
    import torch

    from cleanlab_lite.train import losses, models
    models.resolve_model_name(cfg.model, ds.kind, tuple(ds.X.shape[1:]), pretrained=cfg.pretrained)
    losses.per_sample_loss(cfg, ds.num_classes, torch.device("cpu"))


def run_train(manifest: str | Path, data_cfg: DataConfig, train_cfg: TrainConfig, out: str | Path,
              *, log=print, config_path: str | Path | None = None) -> dict:
    """Train k-fold models on `manifest` and write the run folder `out`. Returns a summary dict.
    config_path: the --config file the options came from (never written over)."""
    from cleanlab_lite.train import check_backend, train_folds
    from cleanlab_lite.train.choose import check_concurrency, fold_config

    manifest, out = Path(manifest), Path(out)
    run = Run(out)
    fmt = manifest_format(manifest)
    check_out_folder(out, "--out", inputs=[(manifest, "the manifest"),
                                           (data_cfg.embeddings, "the embeddings"),
                                           (config_path, "the config file")])
    check_backend(train_cfg)        # e.g. --backend ray without Ray: fail before any file is written
    check_machine_options(train_cfg, data_cfg)
    t0 = time.perf_counter()
    loaded: Loaded = load_dataset(manifest, data_cfg, cache_dir=run.cache_dir,
                                  allow_nan=str(train_cfg.model).lower() in NAN_OK)
    t_load = time.perf_counter() - t0
    ds = loaded.dataset
    fold_cfg = fold_config(train_cfg, ds.kind)
    folds = assign_repeats(ds.labels, train_cfg.folds, train_cfg.repeats, seed=train_cfg.seed,
                           groups=ds.groups, classes=ds.classes)
    # with --backbone the folds train on embeddings (computed after the run files are written)
    if train_cfg.backbone:
        from cleanlab_lite.train import models

        models.check_backbone(train_cfg.backbone, tuple(ds.X.shape[1:]), train_cfg.pretrained)
    _check_against_data(dataclasses.replace(ds, kind="embedding") if train_cfg.backbone else ds,
                        fold_cfg)
    if not train_cfg.backbone:      # embeddings do not exist yet: checked when their folds start
        check_concurrency(ds, folds, fold_cfg)
    out.mkdir(parents=True, exist_ok=True)
    if loaded.skipped:
        count = run.write_skipped(loaded.skipped)
        log(f"Warning: left out {count} unusable row(s) (--skip-bad), e.g. row "
            f"{loaded.skipped[0][0]}: {loaded.skipped[0][2]}; listed in {run.skipped_path}")
    data_root = data_cfg.data_root or str(manifest.parent)
    resolved = {
        "manifest": str(manifest.resolve()),
        "manifest_format": fmt,
        "manifest_sha256": file_sha256(manifest),
        "embeddings_sha256": file_sha256(data_cfg.embeddings) if data_cfg.embeddings else None,
        "kind": ds.kind,
        "n": ds.n,
        "num_classes": ds.num_classes,
        "data": {**to_dict(data_cfg), "data_root": str(Path(data_root).resolve()),
                 "image_size": loaded.image_size},
        "train": to_dict(train_cfg),
        "versions": {"clean_labels": __version__, "torch": _version("torch"),
                     "scikit_learn": _version("scikit-learn"),
                     "numpy": np.__version__, "python": platform.python_version()},
    }
    run.write_config(resolved)
    run.write_rows(loaded.table, folds[0])
    run.write_classes(loaded.class_values)
    run.write_labels(ds.labels)
    embedded = None
    if train_cfg.backbone:
        from cleanlab_lite.train.embed import embed_dataset

        image_key = Path(loaded.cache_path).stem if loaded.cache_path else None
        embedded = embed_dataset(ds, train_cfg, run, image_key)
        log(f"Embedded {ds.n} images with {train_cfg.backbone} ({embedded.dim} features) in "
            f"{embedded.seconds:.1f} s" + (" (cached)" if embedded.reused else ""))
    result = train_folds(embedded.dataset if embedded else ds, folds, fold_cfg, out)
    if result.metrics.get("device"):
        resolved["device"] = result.metrics["device"]
        run.write_config(resolved)
    summary = {"run": str(out), "n": ds.n, "k": ds.num_classes, "kind": ds.kind,
               "features": ds.feature_names,
               "skipped": len(loaded.skipped), "complete": result.pred_probs is not None}
    if result.pred_probs is None:
        return summary
    pp = np.asarray(result.pred_probs, dtype=np.float32)
    run.write_pred_probs(pp)
    metrics = dict(result.metrics)
    timings = dict(metrics.get("timings", {}))
    timings["load_and_decode_s"] = round(t_load, 3)
    metrics["timings"] = timings
    metrics["image_cache_reused"] = loaded.cache_reused
    if embedded:
        timings["embed_s"] = round(embedded.seconds, 3)
        metrics["backbone"] = {"name": train_cfg.backbone, "pretrained": train_cfg.pretrained,
                               "dim": embedded.dim, "cache_reused": embedded.reused,
                               "cache": str(embedded.cache_path) if embedded.cache_path else None}
    run.write_metrics(metrics)
    run.record_train_outputs(resolved)      # last: config.yaml with `outputs` means train finished
    summary["metrics"] = metrics
    return summary

