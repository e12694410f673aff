"""Folds at once in fold processes (`train.parallel`): the same pred_probs as one after another,
an interrupted run resumes, a memory refusal is one line with exit 2, the line that says what
will run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.train import parallel, train_folds
from cleanlab_lite.train.threads import available_cores
from tests.conftest import interrupt_when_folds_are_done
from tests.trainsets import FAST, folds_for, image_ds

IMG = ["--folds", "3", "--epochs", "2", "--batch-size", "8", "--quiet"]


def done(run: Path, i: int) -> bool:
    return (run / "folds" / f"fold-{i}" / "done.json").is_file()


@pytest.mark.slow
def test_concurrent_folds_give_the_same_pred_probs_as_one_after_another(tmp_path):
    ds, folds = image_ds(), folds_for(36, 3)[0]
    one = train_folds(ds, folds, TrainConfig(folds=3, parallel_folds=1, **FAST), tmp_path / "one")
    two = train_folds(ds, folds, TrainConfig(folds=3, parallel_folds=2, **FAST), tmp_path / "two")
    assert np.array_equal(one.pred_probs, two.pred_probs)          # bit-identical
    assert (one.metrics["parallel_folds"], two.metrics["parallel_folds"]) == (1, 2)
    for i in range(3):
        a = np.load(tmp_path / "one" / "folds" / f"fold-{i}" / "oof_probs.npy")
        b = np.load(tmp_path / "two" / "folds" / f"fold-{i}" / "oof_probs.npy")
        assert np.array_equal(a, b)
    assert not (tmp_path / "two" / "cache" / "fold-data.npy").exists()   # the shared copy is gone
    again = train_folds(ds, folds, TrainConfig(folds=3, parallel_folds=2, **FAST), tmp_path / "two")
    assert again.metrics["reused_folds"] == 3                     # resume works as before


@pytest.mark.slow
def test_an_interrupted_concurrent_run_resumes(image_manifest, tmp_path, monkeypatch,
                                               inject_faults):
    """Fold 2 hangs while folds 0 and 1 finish in two fold processes; a real SIGINT stops the run
    (exit 130, folds 0 and 1 kept); the rerun trains fold 2 only, and the result equals a run
    trained one fold after another."""
    run, ref = tmp_path / "run", tmp_path / "ref"
    inject_faults({2: "sleep"})

    interrupt_when_folds_are_done(run, (0, 1))
    args = ["train", str(image_manifest), *IMG, "--parallel-folds", "2"]
    res = CliRunner().invoke(main, [*args, "--out", str(run)])
    assert res.exit_code == 130, res.output
    assert done(run, 0) and done(run, 1) and not done(run, 2)
    assert not (run / "pred_probs.npy").exists()

    monkeypatch.undo()                                  # no faults for the rerun
    res = CliRunner().invoke(main, [*args, "--out", str(run)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["trained_folds"], metrics["reused_folds"]) == (1, 2)
    res = CliRunner().invoke(main, ["train", str(image_manifest), *IMG, "--parallel-folds", "1",
                                    "--out", str(ref)])
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.load(run / "pred_probs.npy"), np.load(ref / "pred_probs.npy"))


def test_parallel_folds_that_do_not_fit_in_memory_is_one_line_exit_2(image_manifest, tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(parallel, "available_ram", lambda: 100 << 20)      # 100 MB free
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(image_manifest), *IMG, "--parallel-folds", "3",
                                    "--out", str(run)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: --parallel-folds 3 needs about")
    assert "--parallel-folds 1" in lines[0] and "GB is available" in lines[0]
    assert not (run / "config.yaml").exists() and not (run / "folds").exists()   # refused first


def test_auto_concurrency_uses_the_cores_for_large_cpu_images_only(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 4)
    monkeypatch.setattr(parallel, "available_ram", lambda: 64 << 30)
    big = Dataset("image", np.zeros((2000, 1, 28, 28), np.uint8), np.zeros(2000, np.int64), ["a"])
    small = image_ds()
    cfg = TrainConfig()
    # 5 folds on 4 cores: all at once sharing the cores, not 4 then 1 with three cores idle
    assert parallel.concurrency(big, cfg, 5, "cpu", True) == parallel.Concurrency(5, 1)
    assert parallel.concurrency(big, cfg, 4, "cpu", True) == parallel.Concurrency(4, 1)
    assert parallel.concurrency(big, cfg, 3, "cpu", True).n == 3        # at most the folds left
    assert parallel.concurrency(small, cfg, 5, "cpu", True).n == 1      # starts cost more
    assert parallel.concurrency(big, cfg, 5, "cuda", True).n == 1       # GPU: only when asked
    assert parallel.concurrency(big, TrainConfig(parallel_folds=1), 5, "cpu", True).n == 1
    monkeypatch.setattr(parallel, "available_ram", lambda: 3 << 30)     # room for two
    assert parallel.concurrency(big, cfg, 5, "cpu", True).n == 2


def test_auto_count_leaves_no_core_idle_at_the_end():
    assert parallel.auto_count(5, 2, fits=99) == 5      # 2.5 fold-times, not 2 + 2 + 1 = 3
    assert parallel.auto_count(10, 2, fits=99) == 2     # divides evenly: one per core
    assert parallel.auto_count(3, 2, fits=99) == 3
    assert parallel.auto_count(2, 8, fits=99) == 2      # never more than the folds
    assert parallel.auto_count(5, 2, fits=3) == 2       # 3 at once is no sooner than 2
    assert parallel.auto_count(50, 2, fits=99) == 2     # at most 4 per core, and 2 divides 50
    assert parallel.auto_count(7, 1, fits=99) == 1


def test_train_says_what_will_run_in_one_line(image_manifest, tmp_path):
    res = CliRunner().invoke(main, ["train", str(image_manifest), "--folds", "2", "--epochs", "1",
                                    "--parallel-folds", "1",
                                    "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    line = [s for s in res.output.splitlines() if s.startswith("Training cnn:")]
    assert len(line) == 1
    for part in ("cnn", "2 of 2 folds", "1 at once", "1 epochs each", "on cpu", "thread"):
        assert part in line[0], line[0]
    assert available_cores() >= 1
