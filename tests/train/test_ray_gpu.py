"""--backend ray on a cluster with GPUs, faked on CPU: a local Ray that announces 2 GPUs. The tasks
do not touch CUDA; they report the process and the config they ran with, which is what the
driver decides: a fresh worker per GPU task, the device and hyperparameters for GPU workers even
when the driver has no GPU, and no GPUs reserved that a fold cannot use."""
from __future__ import annotations

import logging
import os
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cleanlab_lite.cli import main
from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.errors import ConfigError
from cleanlab_lite.train import loop
from cleanlab_lite.train.foldplan import FoldJob, FoldResult
from tests.trainsets import folds_for, image_ds

ray = pytest.importorskip("ray", reason="ray is not installed; pip install 'clean-labels[ray]'")
pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="fakes GPUs on a machine without")


@pytest.fixture(scope="module")
def gpu_cluster():
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # workers need not import us
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False,
             object_store_memory=128 << 20, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def report_fold(ds, job, cfg) -> FoldResult:
    """A stand-in for the trainer's run_fold: which process, GPU and device the task got."""
    rec = {"fold": job.fold, "pid": os.getpid(), "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
           "device": cfg.device, "node": "here", "train_s": 0.0, "predict_s": 0.0}
    return FoldResult(rec, np.zeros((job.val_rows.size, ds.num_classes), np.float32), None)


def jobs(n: int) -> list[FoldJob]:
    rows = np.arange(8)
    return [FoldJob(0, i, None, "", rows, rows, i, f"fold {i + 1}/{n}") for i in range(n)]


@pytest.mark.slow
def test_gpu_folds_run_in_fresh_workers_on_cuda_not_cuda_n(gpu_cluster):
    from cleanlab_lite.train import ray_backend

    ds = Dataset("image", np.zeros((8, 1, 4, 4), np.uint8), np.arange(8) % 2, ["a", "b"])
    got = []
    cfg = TrainConfig(backend="ray", device="cuda:1", quiet=True, max_retries=0)
    ray_backend.run_jobs(ds, cfg, jobs(4), lambda job, res: got.append(res.record), report_fold)
    assert len(got) == 4
    assert len({r["pid"] for r in got}) == 4          # no worker reused: each saw CUDA afresh
    assert {r["device"] for r in got} == {"cuda"}      # its one GPU, whatever cuda:N the config named
    assert {r["visible"] for r in got} <= {"0", "1"}


@pytest.mark.slow
def test_workers_get_gpu_defaults_from_the_cluster_not_the_driver(gpu_cluster):
    assert not torch.cuda.is_available()
    cfg = TrainConfig(backend="ray", folds=2)
    assert loop.planned_device_type(cfg) == "cuda"
    ds = image_ds(n=36)
    name, hp = loop.resolve_hyper(ds, cfg, folds_for(ds.n, 2), loop.planned_device_type(cfg))
    assert name == "cnn" and hp.widths == (64, 256, 256)
    assert loop.planned_device_type(TrainConfig(backend="ray", gpus_per_fold=0)) == "cpu"
    assert loop.planned_device_type(TrainConfig(backend="ray", device="cpu")) == "cpu"


@pytest.mark.slow
@pytest.mark.parametrize("gpus", ["2", "1.5"])
def test_more_than_one_gpu_per_fold_is_exit_2_before_anything_is_written(tmp_path, tabular_csv, gpus):
    from cleanlab_lite.train import ray_backend

    with pytest.raises(ConfigError, match="a fold trains on one GPU"):
        ray_backend.check_options(TrainConfig(backend="ray", gpus_per_fold=float(gpus)))
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", str(tabular_csv), "--out", str(out), "--backend", "ray",
                                  "--gpus-per-fold", gpus, "--model", "mlp", "--quiet"])
    assert r.exit_code == 2, r.output
    assert f"--gpus-per-fold {float(gpus):g}" in r.output and not out.exists()
