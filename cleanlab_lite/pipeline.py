"""`clean-labels train` from top to bottom (`run_train`): find the data, check, decode, assign
the folds, write the run's inputs, train k models, write the run's outputs (rows.parquet,
classes.json, labels.npy, config.yaml, pred_probs.npy, metrics.json; layout in `run`). The
checks themselves live in `preflight`, the fold training in `train`.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np

from cleanlab_lite import __version__, preflight
from cleanlab_lite.config import DataConfig, TrainConfig, to_dict
from cleanlab_lite.data.features import spec_record
from cleanlab_lite.data.folders import folder_config
from cleanlab_lite.data.load import Loaded, load_dataset, read_table
from cleanlab_lite.data.manifest import manifest_format, write_manifest
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
    from cleanlab_lite.data.folders import (
        check_run_outside,
        is_class_folder_dataset,
        scan_class_folders,
    )

    if not is_class_folder_dataset(path):
        return None, path, data_cfg
    check_run_outside(path, run.path)
    scanned = scan_class_folders(path)
    other = f", skipped {scanned.skipped} file(s) that are not images" if scanned.skipped else ""
    log(f"Found {len(scanned.table)} images in {scanned.table['label'].nunique()} class folders "
        f"of {path}{other}")
    return scanned, run.built_manifest_path, folder_config(data_cfg, scanned.root)


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


def run_train(manifest: str | Path, data_cfg: DataConfig, train_cfg: TrainConfig, out: str | Path,
              *, log=print, config_path: str | Path | None = None) -> dict:
    """Train k-fold models on `manifest` and write the run folder `out`. Returns a summary dict.
    config_path: the --config file the options came from (never written over).

    The steps, in order: find the data (a manifest or class folders) and check the options alone;
    read the labels and check them; decode the data; assign the folds and check the plan against
    the data (nothing is written before this line); write the run's inputs; embed the images
    once (--backbone); train the folds; write the probabilities and metrics."""
    from cleanlab_lite.train import train_folds
    from cleanlab_lite.train.choose import fold_config

    manifest, out = Path(manifest), Path(out)
    run = Run(out)
    scanned, manifest, fmt, data_cfg = _find_data(manifest, data_cfg, train_cfg, run, config_path,
                                                  log)
    t0 = time.perf_counter()
    loaded = _read_and_decode(manifest, data_cfg, train_cfg, run, scanned)
    t_load = time.perf_counter() - t0
    ds = loaded.dataset
    fold_cfg = fold_config(train_cfg, ds.kind)
    folds = assign_repeats(ds.labels, train_cfg.folds, train_cfg.repeats, seed=train_cfg.seed,
                           groups=ds.groups, classes=ds.classes)
    preflight.check_plan(ds, folds, fold_cfg, train_cfg)
    resolved = _write_inputs(run, scanned, manifest, fmt, loaded, data_cfg, train_cfg, folds[0],
                             log)
    embedded = _embed(loaded, train_cfg, run, log) if train_cfg.backbone else None
    result = train_folds(embedded.dataset if embedded else ds, folds, fold_cfg, out)
    if result.metrics.get("device"):       # the device the folds ran on, also after --fold i
        resolved["device"] = result.metrics["device"]
        run.write_config(resolved)
    summary = {"run": str(out), "n": ds.n, "k": ds.num_classes, "kind": ds.kind,
               "features": ds.feature_names, "unlabeled": len(loaded.unlabeled),
               "skipped": len(loaded.skipped), "complete": result.pred_probs is not None,
               **_feature_summary(loaded)}
    if result.pred_probs is not None:      # None after --fold i: the other folds are still to train
        summary["metrics"] = _write_outputs(run, resolved, result, t_load, loaded, embedded,
                                            train_cfg)
    return summary


def _find_data(manifest: Path, data_cfg: DataConfig, train_cfg: TrainConfig, run: Run,
               config_path, log):
    """(scanned class folders or None, the manifest, its format, data options), after the checks
    that need no data: no run file over an input, the backend, the device and the backbone."""
    from cleanlab_lite.train import check_backend

    check_out_folder(run.path, "--out", inputs=[(manifest, "the manifest"),
                                                (data_cfg.embeddings, "the embeddings"),
                                                (config_path, "the config file")])
    scanned, manifest, data_cfg = _scan_folder(manifest, data_cfg, run, log)
    fmt = manifest_format(manifest)     # an unknown extension is the first thing said
    check_backend(train_cfg)        # e.g. --backend ray without Ray: fail before any file is written
    preflight.check_options(train_cfg, data_cfg)
    return scanned, manifest, fmt, data_cfg


def _read_and_decode(manifest: Path, data_cfg: DataConfig, train_cfg: TrainConfig, run: Run,
                     scanned) -> Loaded:
    """Read the manifest's labels, check them and the folds (`preflight.check_labels`), then
    decode the images or parse the features (into the run's decode cache)."""
    table = read_table(manifest, data_cfg, scanned.table if scanned is not None else None)
    if table.image_paths:            # no run file over an image, before any is written
        check_out_folder(run.path, "--out", inputs=[(p, "the image") for p in table.image_paths])
    preflight.check_labels(table, manifest, data_cfg.label_col, train_cfg)
    return load_dataset(manifest, data_cfg, cache_dir=run.cache_dir, df=table.df,
                        allow_nan=str(train_cfg.model).lower() in NAN_OK)


def _write_inputs(run: Run, scanned, manifest: Path, fmt: str, loaded: Loaded,
                  data_cfg: DataConfig, train_cfg: TrainConfig, folds: np.ndarray, log) -> dict:
    """The run folder's inputs: the manifest built from class folders, skipped.csv, config.yaml,
    rows.parquet (with the first repeat's folds), classes.json, labels.npy; the lines about rows
    left out. Returns config.yaml's record."""
    run.path.mkdir(parents=True, exist_ok=True)
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
    resolved = _resolved_config(manifest, fmt, data_cfg, train_cfg, loaded)
    run.write_config(resolved)
    run.write_rows(loaded.table, folds)
    run.write_classes(loaded.class_values)
    run.write_labels(loaded.dataset.labels)
    return resolved


def _write_outputs(run: Run, resolved: dict, result, t_load: float, loaded: Loaded, embedded,
                   train_cfg: TrainConfig) -> dict:
    """pred_probs.npy, metrics.json, and config.yaml with the outputs' record (written last: it
    says train finished). Returns the metrics."""
    run.write_pred_probs(np.asarray(result.pred_probs, dtype=np.float32))
    metrics = _metrics(result.metrics, t_load, loaded, embedded, train_cfg)
    run.write_metrics(metrics)
    run.record_train_outputs(resolved)
    return metrics
