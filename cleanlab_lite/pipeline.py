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
from cleanlab_lite.data.features import spec_record
from cleanlab_lite.data.load import Loaded, Table, load_dataset, read_table
from cleanlab_lite.data.folders import folder_config
from cleanlab_lite.data.manifest import manifest_format, write_manifest
from cleanlab_lite.errors import ConfigError, DataError
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


def _scan_folder(path: Path, data_cfg: DataConfig, run: Run, log):
    """(rows, manifest path, data options): a class-folder dataset's rows
    (`data.folders.scan_class_folders`), its manifest RUN/dataset.csv and options; for a
    manifest file (None, path, data_cfg)."""
    from cleanlab_lite.data.folders import check_run_outside, is_class_folder_dataset, scan_class_folders

    if not is_class_folder_dataset(path):
        return None, path, data_cfg
    check_run_outside(path, run.path)
    scanned = scan_class_folders(path)
    other = f", skipped {scanned.skipped} file(s) that are not images" if scanned.skipped else ""
    log(f"Found {len(scanned.table)} images in {scanned.table['label'].nunique()} class folders "
        f"of {path}{other}")
    return scanned, run.built_manifest_path, folder_config(data_cfg, scanned.root)


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


def _write_inputs(run: Run, scanned, manifest: Path, loaded: Loaded, data_cfg: DataConfig,
                  log) -> None:
    """The manifest built from class folders, skipped.csv, and the lines about rows left out."""
    if scanned is not None:
        write_manifest(scanned.table, manifest)
        log(f"Wrote the manifest of {scanned.root} to {manifest}")
    if len(loaded.unlabeled):
        log(f"Left out {len(loaded.unlabeled)} row(s) without a label (column "
            f"{data_cfg.label_col!r}), e.g. row {int(loaded.unlabeled[0])}; they are not trained "
            "on or ranked, and export writes them unchanged")
    if loaded.skipped:
        count = run.write_skipped(loaded.skipped)
        log(f"Warning: left out {count} unusable row(s) (--skip-bad), e.g. row "
            f"{loaded.skipped[0][0]}: {loaded.skipped[0][2]}; listed in {run.skipped_path}")


def _resolved_config(manifest: Path, fmt: str, data_cfg: DataConfig, train_cfg: TrainConfig,
                     loaded: Loaded) -> dict:
    """config.yaml: the input's record, the options as resolved, the feature columns, versions."""
    ds = loaded.dataset
    data_root = data_cfg.data_root or str(manifest.parent)
    return {
        "manifest": str(manifest.resolve()),
        "manifest_format": fmt,
        "manifest_sha256": file_sha256(manifest),
        "embeddings_sha256": file_sha256(data_cfg.embeddings) if data_cfg.embeddings else None,
        "kind": ds.kind,
        "n": ds.n,
        "num_classes": ds.num_classes,
        "data": {**to_dict(data_cfg), "data_root": str(Path(data_root).resolve()),
                 "image_size": loaded.image_size, "path_col": loaded.path_col,
                 **(spec_record(loaded.spec) if loaded.spec else {})},
        "unlabeled_rows": len(loaded.unlabeled),
        "train": to_dict(train_cfg),
        "versions": {"clean_labels": __version__, "torch": _version("torch"),
                     "scikit_learn": _version("scikit-learn"),
                     "numpy": np.__version__, "python": platform.python_version()},
    }


def _feature_summary(loaded: Loaded) -> dict:
    """The categorical feature columns and the text columns left out (column -> why)."""
    spec = loaded.spec
    return {"categorical": list(spec.categories) if spec else [],
            "left_out": dict(spec.left_out) if spec else {}}


def _metrics(fold_metrics: dict, t_load: float, loaded: Loaded, embedded, train_cfg) -> dict:
    """metrics.json: the folds' metrics plus load time, cache reuse, unlabeled rows, backbone."""
    metrics = dict(fold_metrics)
    timings = dict(metrics.get("timings", {}))
    timings["load_and_decode_s"] = round(t_load, 3)
    metrics["timings"] = timings
    metrics["image_cache_reused"] = loaded.cache_reused
    metrics["unlabeled_rows"] = len(loaded.unlabeled)
    if embedded:
        timings["embed_s"] = round(embedded.seconds, 3)
        metrics["backbone"] = {"name": train_cfg.backbone, "pretrained": train_cfg.pretrained,
                               "dim": embedded.dim, "cache_reused": embedded.reused,
                               "cache": str(embedded.cache_path) if embedded.cache_path else None}
    return metrics


def _embed(loaded: Loaded, train_cfg: TrainConfig, run: Run, log):
    """--backbone: the images' embeddings (cached in the run folder), computed once."""
    from cleanlab_lite.train.embed import embed_dataset

    ds = loaded.dataset
    image_key = Path(loaded.cache_path).stem if loaded.cache_path else None
    embedded = embed_dataset(ds, train_cfg, run, image_key)
    log(f"Embedded {ds.n} images with {train_cfg.backbone} ({embedded.dim} features) in "
        f"{embedded.seconds:.1f} s" + (" (cached)" if embedded.reused else ""))
    return embedded


NOMINAL_IMAGE = (3, 224, 224)       # a size every image model takes, for checking a name alone


def _check_before_decode(table: Table, manifest: Path, label_col: str, cfg: TrainConfig) -> None:
    """The checks that need the labels but not the decoded images or parsed features, run before
    anything is written or decoded: at least two classes, classes and groups that fit --folds,
    and for image runs the model name and the weights (the backbone and the device were checked
    by check_machine_options)."""
    if len(table.class_values) < 2:
        shown = ", ".join(repr(str(c)) for c in table.class_values) or "none"
        raise DataError(f"manifest {manifest}: column {label_col!r} (--label-col) holds one "
                        f"class ({shown}); finding wrong labels needs at least 2 classes, so "
                        "add the other classes' rows or check --label-col")
    assign_repeats(table.labels, cfg.folds, cfg.repeats, seed=cfg.seed, groups=table.groups,
                   classes=[str(c) for c in table.class_values])
    if table.kind != "image":
        if cfg.pretrained:
            raise ConfigError(f"--pretrained {cfg.pretrained} loads weights into an image model, "
                              f"and {manifest} holds {table.kind} data; drop --pretrained")
        return
    from cleanlab_lite.train import models, pretrained

    model = cfg.backbone or str(cfg.model).lower()
    if not cfg.backbone and model != "auto":    # the name and kind only: the size comes later
        models.resolve_model_name(model, "image", NOMINAL_IMAGE)
    if cfg.pretrained and not pretrained.is_name(cfg.pretrained):
        pretrained.load_state_dict(model, cfg.pretrained)     # a missing or unreadable file
    elif cfg.pretrained and model != "auto":
        pretrained.weights_enum_member(model, cfg.pretrained)


def _check_plan(ds, folds, fold_cfg, train_cfg) -> None:
    """The checks that need the loaded data, before any run file is written. With --backbone
    the folds train on embeddings (computed after the run files are written)."""
    from cleanlab_lite.train.choose import check_concurrency

    if train_cfg.backbone:
        from cleanlab_lite.train import models

        models.check_backbone(train_cfg.backbone, tuple(ds.X.shape[1:]), train_cfg.pretrained)
    _check_against_data(dataclasses.replace(ds, kind="embedding") if train_cfg.backbone else ds,
                        fold_cfg)
    if not train_cfg.backbone:      # embeddings do not exist yet: checked when their folds start
        check_concurrency(ds, folds, fold_cfg)


def run_train(manifest: str | Path, data_cfg: DataConfig, train_cfg: TrainConfig, out: str | Path,
              *, log=print, config_path: str | Path | None = None) -> dict:
    """Train k-fold models on `manifest` and write the run folder `out`. Returns a summary dict.
    config_path: the --config file the options came from (never written over)."""
    from cleanlab_lite.train import check_backend, train_folds
    from cleanlab_lite.train.choose import fold_config

    manifest, out = Path(manifest), Path(out)
    run = Run(out)
    check_out_folder(out, "--out", inputs=[(manifest, "the manifest"),
                                           (data_cfg.embeddings, "the embeddings"),
                                           (config_path, "the config file")])
    scanned, manifest, data_cfg = _scan_folder(manifest, data_cfg, run, log)
    fmt = manifest_format(manifest)
    check_backend(train_cfg)        # e.g. --backend ray without Ray: fail before any file is written
    check_machine_options(train_cfg, data_cfg)
    t0 = time.perf_counter()
    table = read_table(manifest, data_cfg, scanned.table if scanned is not None else None)
    if table.image_paths:            # no run file over an image, before any is written
        check_out_folder(out, "--out", inputs=[(p, "the image") for p in table.image_paths])
    _check_before_decode(table, manifest, data_cfg.label_col, train_cfg)
    loaded: Loaded = load_dataset(manifest, data_cfg, cache_dir=run.cache_dir, df=table.df,
                                  allow_nan=str(train_cfg.model).lower() in NAN_OK)
    t_load = time.perf_counter() - t0
    ds = loaded.dataset
    fold_cfg = fold_config(train_cfg, ds.kind)
    folds = assign_repeats(ds.labels, train_cfg.folds, train_cfg.repeats, seed=train_cfg.seed,
                           groups=ds.groups, classes=ds.classes)
    _check_plan(ds, folds, fold_cfg, train_cfg)
    out.mkdir(parents=True, exist_ok=True)
    _write_inputs(run, scanned, manifest, loaded, data_cfg, log)
    resolved = _resolved_config(manifest, fmt, data_cfg, train_cfg, loaded)
    run.write_config(resolved)
    run.write_rows(loaded.table, folds[0])
    run.write_classes(loaded.class_values)
    run.write_labels(ds.labels)
    embedded = _embed(loaded, train_cfg, run, log) if train_cfg.backbone else None
    result = train_folds(embedded.dataset if embedded else ds, folds, fold_cfg, out)
    if result.metrics.get("device"):
        resolved["device"] = result.metrics["device"]
        run.write_config(resolved)
    summary = {"run": str(out), "n": ds.n, "k": ds.num_classes, "kind": ds.kind,
               "features": ds.feature_names, "unlabeled": len(loaded.unlabeled),
               "skipped": len(loaded.skipped), "complete": result.pred_probs is not None,
               **_feature_summary(loaded)}
    if result.pred_probs is None:
        return summary
    pp = np.asarray(result.pred_probs, dtype=np.float32)
    run.write_pred_probs(pp)
    metrics = _metrics(result.metrics, t_load, loaded, embedded, train_cfg)
    run.write_metrics(metrics)
    run.record_train_outputs(resolved)      # last: config.yaml with `outputs` means train finished
    summary["metrics"] = metrics
    return summary

