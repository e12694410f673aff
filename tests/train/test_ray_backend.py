"""`--backend ray` on a real local Ray (2 CPUs, started once for this module): the same result as
the local backend (torch and scikit-learn models), interchangeable run folders, retries, a failing
fold, Ctrl-C and resume.

Faults are injected by the `inject_faults` fixture (tests/conftest.py), which wraps the function
the tasks run: a raised exception or a worker process that really exits."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.train import choose, train_folds
from cleanlab_lite.train.sklearn_models import SKLEARN_MODELS
from tests.conftest import blob_table, interrupt_when_folds_are_done, run_python
from tests.expect import assert_refused
from tests.trainsets import FAST, FLIPPED, image_ds, noisy_manifest

TAB = ["--folds", "3", "--epochs", "3", "--quiet", "--backend", "ray", "--max-retries", "1"]


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="ray is not installed; pip install 'clean-labels[ray]'")
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=128 << 20,
             logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def fold_files(run: Path) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in (run / "folds").rglob("*") if p.is_file())


def done(run: Path, i: int) -> bool:
    return (run / "folds" / f"fold-{i}" / "done.json").is_file()


@pytest.mark.slow
def test_ray_equals_local_and_the_runs_are_interchangeable(ray_cluster, tmp_path):
    ds = image_ds()
    folds = np.repeat(np.random.default_rng(1).permutation(12) % 3, 3)[None, :]
    local = train_folds(ds, folds, TrainConfig(folds=3, **FAST), tmp_path / "local")
    on_ray = train_folds(ds, folds, TrainConfig(folds=3, backend="ray", **FAST), tmp_path / "ray")
    np.testing.assert_allclose(on_ray.pred_probs, local.pred_probs, atol=1e-5)
    assert fold_files(tmp_path / "ray") == fold_files(tmp_path / "local")
    m = on_ray.metrics
    assert m["backend"] == "ray" and m["trained_folds"] == 3 and m["device"] == "cpu"
    assert [f["fold"] for f in m["per_fold"]] == [0, 1, 2]
    assert all(f["node"] and f["device"] == "cpu" and f["task_s"] >= f["train_s"] > 0
               for f in m["per_fold"])
    # A local rerun on the Ray run folder (and the other way round) reuses every fold.
    again = train_folds(ds, folds, TrainConfig(folds=3, **FAST), tmp_path / "ray")
    back = train_folds(ds, folds, TrainConfig(folds=3, backend="ray", **FAST), tmp_path / "local")
    assert again.metrics["reused_folds"] == back.metrics["reused_folds"] == 3
    np.testing.assert_array_equal(again.pred_probs, on_ray.pred_probs)


def noisy_table() -> Dataset:
    """120 rows, 3 classes, 4 features, 12 labels moved to the next class."""
    df = blob_table(n_per_class=40, k=3)
    y = np.repeat(np.arange(3), 40)
    y[::10] = (y[::10] + 1) % 3
    return Dataset("tabular", df[[f"f{i}" for i in range(4)]].to_numpy(np.float32), y,
                   ["cat", "dog", "eel"])


@pytest.mark.slow
@pytest.mark.parametrize("model", [m for m in SKLEARN_MODELS if "+" not in m])
def test_sklearn_model_on_ray_equals_local_and_a_local_rerun_reuses_its_folds(ray_cluster, tmp_path,
                                                                              model):
    ds = noisy_table()
    folds = (np.arange(ds.n) % 3)[None, :]
    cfg = TrainConfig(model=model, folds=3, quiet=True)
    local = train_folds(ds, folds, cfg, tmp_path / "local")
    on_ray = train_folds(ds, folds, TrainConfig(model=model, folds=3, quiet=True, backend="ray"),
                         tmp_path / "ray")
    np.testing.assert_allclose(on_ray.pred_probs, local.pred_probs, atol=1e-6)
    assert fold_files(tmp_path / "ray") == fold_files(tmp_path / "local")
    m = on_ray.metrics
    assert (m["backend"], m["model"], m["device"], m["trained_folds"]) == ("ray", model, "cpu", 3)
    assert all(f["threads"] == 1 and f["gpu_ids"] == [] and f["task_s"] >= f["train_s"] > 0
               for f in m["per_fold"])
    again = train_folds(ds, folds, cfg, tmp_path / "ray")      # resume locally from Ray's folds
    assert (again.metrics["trained_folds"], again.metrics["reused_folds"]) == (0, 3)
    np.testing.assert_array_equal(again.pred_probs, on_ray.pred_probs)


def test_auto_on_ray_picks_the_model_it_picks_locally_and_finds_the_flipped_rows(ray_cluster,
                                                                                 tmp_path):
    manifest = noisy_manifest(tmp_path)
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(manifest), "--out", str(run), "--folds", "3",
                                    "--quiet", "--backend", "ray"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["backend"] == "ray"
    assert metrics["model"] == choose.auto_model("tabular", 120) and metrics["model"] in SKLEARN_MODELS
    assert CliRunner().invoke(main, ["rank", str(run)]).exit_code == 0
    assert set(pd.read_csv(run / "ranking.csv")["row"].head(len(FLIPPED))) == set(FLIPPED)


@pytest.mark.slow
def test_sklearn_on_ray_imports_torch_neither_in_the_driver_nor_in_the_tasks(tmp_path):
    """Its own one-CPU Ray in a fresh process: the fold tasks and the probes share one worker."""
    pytest.importorskip("ray", reason="ray is not installed; pip install 'clean-labels[ray]'")
    manifest = noisy_manifest(tmp_path)
    code = (
        "import logging, os, sys, ray\n"
        "from cleanlab_lite.cli import main\n"
        "ray.init(address='local', num_cpus=1, include_dashboard=False,"
        " object_store_memory=80 << 20, logging_level=logging.WARNING)\n"
        f"main(['train', {str(manifest)!r}, '--out', {str(tmp_path / 'run')!r}, '--model', 'hgb',"
        " '--folds', '3', '--quiet', '--backend', 'ray'], standalone_mode=False)\n"
        "probe = ray.remote(lambda: ('torch' in sys.modules,"
        " 'cleanlab_lite.train.sklearn_models' in sys.modules))\n"
        "print('driver torch:', 'torch' in sys.modules)\n"
        "print('workers:', sorted(set(ray.get([probe.remote() for _ in range(4)]))))\n")
    out = run_python(code, timeout=180)
    assert "driver torch: False" in out
    assert "workers: [(False, True)]" in out      # the worker that trained the folds
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["backend"] == "ray"


@pytest.mark.slow
def test_a_fold_whose_first_attempt_fails_is_retried(ray_cluster, tabular_csv, tmp_path,
                                                     inject_faults):
    # fold 0 raises on its first attempt; fold 1's worker process dies (os._exit) on its first.
    seen = inject_faults({0: "raise-once", 1: "exit-once"})
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(tabular_csv), "--out", str(run), *TAB])
    assert res.exit_code == 0, res.output
    for i in (0, 1):     # the marker each first attempt left before failing
        assert (seen / f"fold-{i}").is_file()
    assert all(done(run, i) for i in range(3))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["backend"] == "ray" and metrics["trained_folds"] == 3
    assert metrics["oof"]["accuracy"] > 0.9
    assert np.load(run / "pred_probs.npy").shape == (120, 3)
    res = CliRunner().invoke(main, ["rank", str(run)])     # the later stages work as on a local run
    assert res.exit_code == 0 and (run / "ranking.csv").is_file(), res.output


def test_a_fold_that_always_fails_exits_3_and_keeps_the_others(ray_cluster, tabular_csv, tmp_path,
                                                                 inject_faults):
    inject_faults({2: "raise"})
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(tabular_csv), "--out", str(run), *TAB])
    assert res.exit_code == 3, res.output
    # (Ray's own log of the retry may follow in the output; the error is one line.)
    assert [line for line in res.output.splitlines() if line.startswith("Error:")] == [(
        f"Error: 1 of 3 folds failed on Ray: fold 3/3 in {run / 'folds' / 'fold-2'} (RuntimeError: "
        f"injected fault in fold 3/3; 2 attempts); the 2 finished folds are kept and rerunning the "
        f"same command trains only the failed ones")]
    assert done(run, 0) and done(run, 1) and not done(run, 2)
    assert not (run / "pred_probs.npy").exists()


@pytest.mark.slow
def test_ctrl_c_keeps_finished_folds_and_a_rerun_trains_only_the_rest(ray_cluster, tabular_csv,
                                                                        tmp_path, monkeypatch,
                                                                        inject_faults):
    """A real SIGINT reaches this process while fold 2 hangs (folds 0 and 1 written): the run
    exits 130 keeping folds 0 and 1, and the rerun trains fold 2 only."""
    run = tmp_path / "run"
    inject_faults({2: "sleep"})

    interrupt_when_folds_are_done(run, (0, 1))
    res = CliRunner().invoke(main, ["train", str(tabular_csv), "--out", str(run), *TAB])
    assert res.exit_code == 130, res.output
    assert "Interrupted; finished work is kept" in res.output
    assert done(run, 0) and done(run, 1) and not done(run, 2)
    assert not (run / "pred_probs.npy").exists()

    monkeypatch.undo()                                  # no faults for the rerun
    res = CliRunner().invoke(main, ["train", str(tabular_csv), "--out", str(run), *TAB])
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["trained_folds"], metrics["reused_folds"]) == (1, 2)
    assert [f["reused"] for f in metrics["per_fold"]] == [True, True, False]


def test_without_ray_installed_backend_ray_is_one_line_exit_2(tabular_csv, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)      # `import ray` raises ImportError
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(tabular_csv), "--out", str(run), "--backend", "ray"])
    assert_refused(res, "Error: --backend ray needs Ray, which is not installed here; install it "
                        "with `pip install 'clean-labels[ray]'` or use --backend local")
    assert not run.exists()


@pytest.mark.parametrize("args, message", [
    (["--ray-address", "auto"], "Error: --ray-address auto needs --backend ray; add --backend ray "
                                "or drop the option"),
    (["--backend", "ray", "--ray-address", "127.0.0.1:1"],
     "Error: no Ray answers at --ray-address 127.0.0.1:1 (Connection refused); check the address "
     "(`ray status` on the head node) or drop --ray-address"),
    (["--backend", "ray", "--cpus-per-fold", "0"], "Error: --cpus-per-fold 0.0 must be greater than 0; use e.g. 1"),
    (["--backend", "ray", "--device", "cpu", "--gpus-per-fold", "1"],
     "Error: --gpus-per-fold 1 reserves GPUs that --device cpu does not use; drop one of the "
     "two options"),
    (["--backend", "ray", "--model", "hgb", "--gpus-per-fold", "1"],
     "Error: --gpus-per-fold does not apply to --model hgb (a scikit-learn model); drop "
     "--gpus-per-fold or use a torch model such as --model mlp or linear"),
])
@pytest.mark.slow
def test_bad_backend_options_are_exit_2_before_anything_is_written(tabular_csv, tmp_path, args,
                                                                    message):
    pytest.importorskip("ray", reason="ray is not installed; pip install 'clean-labels[ray]'")
    run = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(tabular_csv), "--out", str(run), *args])
    assert_refused(res, message)
    assert not run.exists()
