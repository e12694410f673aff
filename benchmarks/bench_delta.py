"""The CI gate on changed data: `check RUN --manifest CURRENT` against a full retrain.

A pull request edits labels and adds rows. The run folder was trained on the data BEFORE the
pull request (the "base" manifest); the current manifest is the base with 1% of the labels
flipped (the edit) plus 2% new rows, a fifth of which carry a wrong label. The benchmark reports

- the wall time of `clean-labels check RUN --manifest CURRENT` (a fresh process, as in CI),
- the wall time of a full retrain (`clean-labels train`, default options), the baseline,
- precision / recall of the gate's flags on the edited rows and on the new rows, against the
  injected truth.

    # digits (scikit-learn, no download): writes the data, trains the base run, runs the gate and
    # retrains the current manifest in the same run, in a scratch folder
    python benchmarks/bench_delta.py digits --work /tmp/bench-delta

    # any image manifest (e.g. MNIST PNGs): step 1 writes base.csv / current.csv / truth.csv,
    python benchmarks/bench_delta.py prepare /work/mnist/png/manifest.csv --work W
    # step 2 is yours: time the training of the base run (it is the retrain baseline)
    /usr/bin/time -p clean-labels train W/base.csv --out W/run --id-col id
    # step 3 runs the gate on it and compares with the base run's own training time
    python benchmarks/bench_delta.py gate --work W --run W/run

Floors (issue 11): the gate >= 50x faster than retraining on MNIST, recall >= 0.9 on the flipped
edits with precision >= 0.8.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

FLIP_FRAC = 0.01        # share of the base rows whose label the edit flips
NEW_FRAC = 0.02         # new rows, as a share of all rows
NEW_WRONG_FRAC = 0.2    # share of the new rows that carry a wrong label


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("clean-labels")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cleanlab_lite"]


def prepare(manifest: Path, work: Path, *, seed: int = 0, label_col: str = "label",
            path_col: str = "path", data_root: Path | None = None) -> dict:
    """Write work/base.csv (the data the run is trained on), work/current.csv (after the pull
    request) and work/truth.csv (per current row: change, wrong). Image paths become absolute."""
    rng = np.random.default_rng(seed)
    df = pd.read_csv(manifest)
    root = Path(data_root) if data_root else manifest.resolve().parent
    df[path_col] = [p if os.path.isabs(p) else str(root / p) for p in df[path_col].astype(str)]
    classes = np.sort(df[label_col].unique())
    k = len(classes)
    n = len(df)
    n_new = int(round(NEW_FRAC * n))
    new_idx = np.sort(rng.choice(n, n_new, replace=False))
    base = df.drop(index=new_idx).reset_index(drop=True)
    new = df.iloc[new_idx].reset_index(drop=True)

    def wrong(labels: pd.Series, count: int) -> tuple[pd.Series, np.ndarray]:
        pos = np.sort(rng.choice(len(labels), count, replace=False))
        code = np.searchsorted(classes, labels.to_numpy())
        out = labels.copy()
        out.iloc[pos] = classes[(code[pos] + rng.integers(1, k, size=count)) % k]
        mask = np.zeros(len(labels), dtype=bool)
        mask[pos] = True
        return out, mask

    current = base.copy()
    current[label_col], flipped = wrong(base[label_col], int(round(FLIP_FRAC * len(base))))
    new_labels, new_wrong = wrong(new[label_col], int(round(NEW_WRONG_FRAC * n_new)))
    new[label_col] = new_labels
    current = pd.concat([current, new], ignore_index=True)
    truth = pd.DataFrame({
        "id": current["id"],
        "change": ["edited" if f else "unchanged" for f in flipped] + ["new"] * n_new,
        "wrong": np.concatenate([flipped, new_wrong]),
        "true_label": pd.concat([base[label_col], df.iloc[new_idx][label_col]], ignore_index=True),
    })
    work.mkdir(parents=True, exist_ok=True)
    base.to_csv(work / "base.csv", index=False)
    current.to_csv(work / "current.csv", index=False)
    truth.to_csv(work / "truth.csv", index=False)
    return {"base_rows": len(base), "current_rows": len(current), "edited": int(flipped.sum()),
            "new": n_new, "new_wrong": int(new_wrong.sum())}
