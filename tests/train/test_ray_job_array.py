"""Job arrays without Ray: every fold trained by its own process (`--fold i`, as a SLURM array task
would), all at once into one run folder, then a plain `train` merges without training anything and
gives the same out-of-fold probabilities as one process training every fold."""
from __future__ import annotations

import pytest

import hashlib
import json
import subprocess
import sys

import numpy as np
from click.testing import CliRunner

from cleanlab_lite.cli import main

ARGS = ["--folds", "2", "--epochs", "3", "--quiet", "--seed", "7"]


@pytest.mark.slow
def test_folds_as_separate_processes_then_merge(tabular_csv, tmp_path):
    before = hashlib.sha256(tabular_csv.read_bytes()).hexdigest()
    run = tmp_path / "array-run"
    tasks = [subprocess.Popen([sys.executable, "-m", "cleanlab_lite", "train", str(tabular_csv),
                               "--out", str(run), *ARGS, "--fold", str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    for i, task in enumerate(tasks):
        out, _ = task.communicate(timeout=240)
        assert task.returncode == 0, out
        assert f"Fold {i} done in {run}" in out
    assert not (run / "pred_probs.npy").exists()      # no task merges on its own

    merged = CliRunner().invoke(main, ["train", str(tabular_csv), "--out", str(run), *ARGS])
    assert merged.exit_code == 0, merged.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["trained_folds"], metrics["reused_folds"]) == (0, 2)

    single = CliRunner().invoke(main, ["train", str(tabular_csv), "--out", str(tmp_path / "one"), *ARGS])
    assert single.exit_code == 0, single.output
    np.testing.assert_allclose(np.load(run / "pred_probs.npy"),
                               np.load(tmp_path / "one" / "pred_probs.npy"), atol=1e-6)
    assert hashlib.sha256(tabular_csv.read_bytes()).hexdigest() == before
