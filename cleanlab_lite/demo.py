"""`clean-labels demo`: the whole pipeline on the embedded digits data with injected noise."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.config import DataConfig, RankConfig, TrainConfig, build
from cleanlab_lite.errors import ConfigError


def run_demo(out: str | Path, *, noise: float = 0.10, seed: int = 0, device: str = "auto",
             quiet: bool = False, log=print) -> dict:
    """Write digits (with `noise` flipped labels), train, rank, export; score the flags."""
    from cleanlab_lite.data.demo import write_digits
    from cleanlab_lite.export import export_run
    from cleanlab_lite.guards import check_out_folder
    from cleanlab_lite.pipeline import run_train
    from cleanlab_lite.rank import rank_run
    from cleanlab_lite.run import Run

    t0 = time.perf_counter()
    if not 0.0 <= noise < 1.0:     # checked before anything is written
        raise ConfigError(f"--noise {noise!r} must be at least 0 and below 1; use e.g. 0.1")
    data_cfg = DataConfig(id_col="id", feature_cols=None)
    train_cfg = build(TrainConfig, {"device": device, "quiet": quiet, "seed": seed}, source="flags")
    out = check_out_folder(out, "--out", what="the demo data and run")
    manifest = write_digits(out / "data", noise=noise, seed=seed)
    log(f"Wrote 1797 digit images and {manifest} with {noise:.0%} of labels flipped")
    run = Run(out / "run")
    summary = run_train(manifest, data_cfg, train_cfg, run.path, log=log)
    m = summary["metrics"]
    log(f"train:  5-fold {m.get('model', '')} on {m.get('device', '?')}, out-of-fold accuracy "
        f"{m['oof']['accuracy']:.4f} (noisy labels), {time.perf_counter() - t0:.1f} s so far")
    rank_summary = rank_run(run.path, RankConfig())
    log(f"rank:   {rank_summary['num_flagged']} rows flagged ({rank_summary['filter_by']}), "
        f"estimated noise rate {rank_summary['estimated_noise_rate']:.1%}")
    cleaned = export_run(run.path, mode="drop_flagged")
    log(f"export: {cleaned.out} keeps {cleaned.n_out} of {cleaned.n_in} rows (--drop-flagged)")

    ranking = run.read_ranking()
    truth = pd.read_csv(manifest)
    flipped = (truth["label"] != truth["true_label"]).to_numpy()
    flagged = np.zeros(len(truth), dtype=bool)
    flagged[ranking.loc[ranking["is_label_issue"], "row"].to_numpy()] = True
    tp = int((flipped & flagged).sum())
    pp = run.read_pred_probs()
    labels = truth["label"].to_numpy()
    pred = pp.argmax(1)
    return {
        "manifest": str(manifest), "run": str(run.path), "cleaned": str(cleaned.out),
        "num_flipped": int(flipped.sum()), "num_flagged": int(flagged.sum()), "true_positives": tp,
        "precision": tp / max(1, int(flagged.sum())), "recall": tp / max(1, int(flipped.sum())),
        "oof_accuracy": float((pred == labels).mean()),
        "oof_accuracy_true": float((pred == truth["true_label"].to_numpy()).mean()),
        "estimated_noise_rate": rank_summary.get("estimated_noise_rate"),
        "seconds": time.perf_counter() - t0, "train_summary": summary,
    }
