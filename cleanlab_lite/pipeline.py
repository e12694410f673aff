"""`clean-labels train`: load + validate the manifest, assign folds, train k models, and write
the run folder (rows.parquet, classes.json, labels.npy, config.yaml, pred_probs.npy, metrics.json).
"""
from __future__ import annotations

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
from cleanlab_lite.io import file_sha256
from cleanlab_lite.run import Run


def _check_out(manifest: Path, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} is a file; pass a folder for the run")
    if manifest.resolve() in [p.resolve() for p in Run(out).owned_paths()]:
        raise UserInputError(f"--out {out} would overwrite the manifest {manifest}; "
                             "choose another folder")


def _check_against_data(ds, cfg: TrainConfig) -> None:
    """The option checks that need the data (class count, kind, shape) or the machine (a GPU),
    run before any run file is written; the values alone were checked by config.RULES."""
    import torch

    from cleanlab_lite.train import losses, models
    from cleanlab_lite.train.loop import resolve_device

    resolve_device(cfg.device)
    models.resolve_model_name(cfg.model, ds.kind, tuple(ds.X.shape[1:]))
    losses.per_sample_loss(cfg, ds.num_classes, torch.device("cpu"))
    losses.class_weights(ds.labels, ds.num_classes, cfg.class_weight, cfg.effective_number_beta)


def run_train(manifest: str | Path, data_cfg: DataConfig, train_cfg: TrainConfig, out: str | Path,
              *, log=print) -> dict:
    """Train k-fold models on `manifest` and write the run folder `out`. Returns a summary dict."""
    from cleanlab_lite.train import check_backend, train_folds  # first: sets OMP_WAIT_POLICY

    import torch

    manifest, out = Path(manifest), Path(out)
    run = Run(out)
    fmt = manifest_format(manifest)
    _check_out(manifest, out)
    check_backend(train_cfg)        # e.g. --backend ray without Ray: fail before any file is written
    t0 = time.perf_counter()
    loaded: Loaded = load_dataset(manifest, data_cfg, cache_dir=run.cache_dir)
    t_load = time.perf_counter() - t0
    ds = loaded.dataset
    folds = assign_repeats(ds.labels, train_cfg.folds, train_cfg.repeats, seed=train_cfg.seed,
                           groups=ds.groups, classes=ds.classes)
    _check_against_data(ds, train_cfg)
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
        "kind": ds.kind,
        "n": ds.n,
        "num_classes": ds.num_classes,
        "data": {**to_dict(data_cfg), "data_root": str(Path(data_root).resolve()),
                 "image_size": loaded.image_size},
        "train": to_dict(train_cfg),
        "versions": {"clean_labels": __version__, "torch": str(torch.__version__),
                     "numpy": np.__version__, "python": platform.python_version()},
    }
    run.write_config(resolved)
    run.write_rows(loaded.table, folds[0])
    run.write_classes(loaded.class_values)
    run.write_labels(ds.labels)
    result = train_folds(ds, folds, train_cfg, out)
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
    run.write_metrics(metrics)
    summary["metrics"] = metrics
    return summary

