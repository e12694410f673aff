"""The CUDA code paths, exercised on CPU: data forced to stream from the host (as on a GPU too
small for it), out-of-memory injected into embedding and prediction, every accepted --backbone,
the options a GPU machine is checked for before anything is written, and the hyperparameters a
chosen batch size gets. What only a GPU can show is a step of benchmarks/gpu_check.sh."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cleanlab_lite import device as device_mod
from cleanlab_lite.cli import main
from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.like_run import run_rows
from cleanlab_lite.errors import ConfigError, UserInputError
from cleanlab_lite.predict import FoldEnsemble
from cleanlab_lite.train import data as data_mod
from cleanlab_lite.train import defaults, embed, loop, models, train_folds
from cleanlab_lite.train.data import DeviceData
from tests.trainsets import FAST, folds_for, image_ds
from tests.conftest import write_pngs

CPU = torch.device("cpu")


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def error_line(r) -> str:
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, r.output
    return lines[0]


@pytest.fixture
def force_stream(monkeypatch):
    """Make every DeviceData stream from the host in `mode`, as on a GPU the data do not fit."""
    state = {"mode": None, "seen": []}
    real = DeviceData.__init__

    def init(self, X, labels, weights, device, stream=None, gpu_share=1.0):
        real(self, X, labels, weights, device, stream=state["mode"] or stream, gpu_share=gpu_share)
        state["seen"].append(self.mode)

    monkeypatch.setattr(DeviceData, "__init__", init)
    return state


def rgb_images(tmp_path, n_per_class=6, size=16):
    df = write_pngs(tmp_path / "img", n_per_class=n_per_class, k=2, size=size, rgb=True)
    p = tmp_path / "images.csv"
    df.to_csv(p, index=False)
    return p


# ---- 1: predict and check --manifest with data that are not resident ------------------------
@pytest.mark.slow
def test_predict_and_check_manifest_stream_like_resident(tmp_path, image_manifest, force_stream):
    run = tmp_path / "run"
    assert cli("train", image_manifest, "--out", run, "--folds", "2", "--epochs", "2",
               "--quiet").exit_code == 0
    ens = FoldEnsemble.load(run)
    X = run_rows(run).X
    resident = ens.predict(X, device="cpu", batch_size=5)
    for mode in ("host", "mapped"):
        force_stream["mode"] = mode
        streamed = ens.predict(X, device="cpu", batch_size=5)
        np.testing.assert_allclose(streamed, resident, atol=1e-6)
        assert force_stream["seen"][-1] == mode
    force_stream["mode"] = "host"
    r = cli("check", run, "--manifest", image_manifest, "--max-issue-rate", "100%")
    assert r.exit_code == 0, r.output


def test_streamed_data_take_row_indices_from_anywhere_and_yield_rows_in_order():
    X = np.arange(7 * 4, dtype=np.uint8).reshape(7, 1, 2, 2)
    for mode in (None, "host", "mapped"):
        dd = DeviceData(X, np.zeros(7, dtype=np.int64), None, CPU, stream=mode)
        got = torch.cat(list(dd.in_order(3))).numpy()
        np.testing.assert_array_equal(got, X)
        x, _ = next(dd.batches(torch.tensor([4, 1]), 2, 1))
        np.testing.assert_array_equal(x.numpy(), X[[4, 1]])


# ---- 3: every accepted --backbone trains, or is refused before anything is written -----------
@pytest.mark.slow
@pytest.mark.parametrize("name", models.TORCHVISION_MODELS)
def test_every_accepted_backbone_trains_or_is_refused_before_writing(tmp_path, name):
    manifest = rgb_images(tmp_path, n_per_class=4, size=16)
    out = tmp_path / "run"
    r = cli("train", manifest, "--out", out, "--backbone", name, "--head", "logreg", "--folds",
            "2", "--image-size", "16", "--device", "cpu", "--quiet")
    if r.exit_code == 0:
        assert (out / "pred_probs.npy").is_file()
    else:
        assert r.exit_code == 2, r.output
        line = error_line(r)
        assert f"--backbone {name}" in line and "--image-size" in line
        assert not out.exists()


@pytest.mark.parametrize("name", ["densenet169", "vgg11", "regnet_x_400mf", "not_a_net"])
def test_a_backbone_without_a_known_head_is_exit_2_before_anything_is_written(tmp_path, name):
    manifest = rgb_images(tmp_path, n_per_class=2, size=8)
    out = tmp_path / "run"
    r = cli("train", manifest, "--out", out, "--backbone", name, "--quiet")
    assert r.exit_code == 2, r.output
    line = error_line(r)
    assert f"--backbone '{name}'" in line and "resnet18" in line and "--model" not in line
    assert not out.exists()


def test_a_backbone_too_big_for_the_images_is_refused_before_any_run_file(tmp_path):
    manifest = rgb_images(tmp_path, n_per_class=2, size=16)
    out = tmp_path / "run"
    r = cli("train", manifest, "--out", out, "--backbone", "densenet121", "--folds", "2", "--quiet")
    assert r.exit_code == 2
    assert "--backbone densenet121 needs images of at least 29x29" in error_line(r)
    assert not (out / "config.yaml").exists() and not (out / "rows.parquet").exists()


# ---- 4: out of memory while embedding or predicting ------------------------------------------
def _oom_above(limit: int):
    """A forward pre-hook raising CUDA's out-of-memory for batches above `limit` rows."""
    def hook(module, inputs):
        if inputs[0].shape[0] > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
    return hook


def _inject_oom(monkeypatch, limit: int):
    real = models.build_model

    def build(*a, **kw):
        m = real(*a, **kw)
        m.register_forward_pre_hook(_oom_above(limit))
        return m

    monkeypatch.setattr(models, "build_model", build)


@pytest.mark.slow
def test_embedding_halves_its_batch_on_out_of_memory_then_gives_the_advice(tmp_path, monkeypatch):
    ds = replace(image_ds(n=12), X=np.repeat(image_ds(n=12).X, 3, axis=1))
    cfg = TrainConfig(backbone="resnet18", device="cpu", batch_size=8, quiet=True)
    want = embed.embed_dataset(ds, cfg, None, None).dataset.X
    _inject_oom(monkeypatch, 2)
    got = embed.embed_dataset(ds, cfg, None, None).dataset.X
    np.testing.assert_allclose(got, want, atol=1e-4)
    _inject_oom(monkeypatch, 0)
    manifest = rgb_images(tmp_path, n_per_class=3, size=8)
    r = cli("train", manifest, "--out", tmp_path / "run", "--backbone", "resnet18", "--folds", "2",
            "--quiet")
    assert r.exit_code == 3, r.output
    line = error_line(r)
    assert "memory while embedding 6 images with --backbone resnet18" in line
    assert "--backbone" in line and "unexpected" not in line


@pytest.mark.slow
def test_predict_halves_its_batch_on_out_of_memory_then_gives_the_advice(tmp_path, image_manifest,
                                                                        monkeypatch):
    run = tmp_path / "run"
    assert cli("train", image_manifest, "--out", run, "--folds", "2", "--epochs", "1",
               "--quiet").exit_code == 0
    X = run_rows(run).X
    want = FoldEnsemble.load(run).predict(X, device="cpu")
    _inject_oom(monkeypatch, 3)
    np.testing.assert_allclose(FoldEnsemble.load(run).predict(X, device="cpu"), want, atol=1e-6)
    _inject_oom(monkeypatch, 0)
    r = cli("predict", run, image_manifest, "--out", tmp_path / "p.npy")
    assert r.exit_code == 3, r.output
    assert "memory while predicting 24 rows with the fold model" in error_line(r)
    assert not (tmp_path / "p.npy").exists()


# ---- 5, 7, 12 (Ray): tests/train/test_ray_gpu.py; 6: a fold's share of its GPU --------------
def test_a_fold_sharing_a_gpu_plans_its_data_with_its_share():
    gib = 2 ** 30
    assert loop.gpu_share(TrainConfig(backend="ray", gpus_per_fold=0.5)) == 0.5
    assert loop.gpu_share(TrainConfig(backend="ray", gpus_per_fold=1)) == 1.0
    assert loop.gpu_share(TrainConfig(backend="local")) == 1.0
    whole = data_mod.device_budget(80 * gib, 80 * gib, 0, 0, 1.0)
    half = data_mod.device_budget(80 * gib, 80 * gib, 0, 0, 0.5)
    assert whole == 80 * gib and half == 40 * gib
    # 30 GiB of images: resident with a whole GPU, streamed with half of one, leaving room to train
    assert data_mod.choose_mode(30 * gib, whole, 100 * gib) == "resident"
    assert data_mod.choose_mode(30 * gib, half, 100 * gib) == "host"
    # the other fold already holds memory: what is free counts too
    assert data_mod.device_budget(30 * gib, 80 * gib, 0, 0, 0.5) == 30 * gib


# ---- 9: embedding honours --precision and channels_last; cache key ----------------------------
@pytest.mark.slow
def test_embedding_follows_precision_and_channels_last_and_keys_its_cache_on_them(monkeypatch):
    ds = image_ds(n=9)
    X = np.repeat(ds.X, 3, axis=1)
    base = TrainConfig(backbone="resnet18", device="cpu", batch_size=4, seed=1)
    formats = []
    real = models.strip_head

    def strip(model, name):
        real(model, name)
        model.register_forward_pre_hook(lambda m, i: formats.append(
            i[0].is_contiguous(memory_format=torch.channels_last)))

    monkeypatch.setattr(models, "strip_head", strip)
    r32 = embed.recipe(replace(base, precision="fp32"), CPU, X)
    r16 = embed.recipe(replace(base, precision="bf16"), CPU, X)
    assert r32.amp is None and r16.amp is torch.bfloat16
    f32, f16 = embed.embed_images(X, r32), embed.embed_images(X, r16)
    assert not np.array_equal(f32, f16) and np.allclose(f32, f16, rtol=0.1, atol=0.1)
    assert formats and all(formats)                       # channels_last (the default) is used
    formats.clear()
    embed.embed_images(X, embed.recipe(replace(base, channels_last=False), CPU, X))
    assert formats and not any(formats)
    keys = {r32.key("img", 9), r16.key("img", 9), replace(r32, device=torch.device("cuda")).key("img", 9)}
    assert len(keys) == 3


@pytest.mark.slow
def test_embedding_streamed_from_the_host_equals_resident(force_stream):
    X = np.repeat(image_ds(n=10).X, 3, axis=1)
    r = embed.recipe(TrainConfig(backbone="resnet18", device="cpu", batch_size=4), CPU, X)
    resident = embed.embed_images(X, r)
    force_stream["mode"] = "host"
    np.testing.assert_allclose(embed.embed_images(X, r), resident, atol=1e-5)
    assert force_stream["seen"][-1] == "host"


# ---- 10: the training order does not depend on placement or augmentation ---------------------
def _orders(monkeypatch, ds, cfg, tmp_path) -> list[list[int]]:
    seen = []
    real = DeviceData.batches

    def spy(self, order, batch_size, steps):
        if self.y.shape[0] == ds.n and steps * batch_size < order.numel() + batch_size:
            seen.append(order.tolist())
        return real(self, order, batch_size, steps)

    monkeypatch.setattr(DeviceData, "batches", spy)
    train_folds(ds, folds_for(ds.n, 2), cfg, tmp_path)
    monkeypatch.setattr(DeviceData, "batches", real)
    return seen


def test_the_epoch_order_depends_on_the_seed_only(tmp_path, monkeypatch, force_stream):
    ds = image_ds(n=36)
    cfg = TrainConfig(folds=2, seed=3, **FAST)
    plain = _orders(monkeypatch, ds, replace(cfg, translate=0, flip="off"), tmp_path / "a")
    augmented = _orders(monkeypatch, ds, replace(cfg, translate=2, flip="on"), tmp_path / "b")
    force_stream["mode"] = "host"
    streamed = _orders(monkeypatch, ds, replace(cfg, translate=2, flip="on"), tmp_path / "c")
    assert plain and plain == augmented == streamed


# ---- 11, 12: --device checked before anything is read or written -----------------------------
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_a_gpu_is_exit_2_before_the_decode(tmp_path, image_manifest):
    out = tmp_path / "run"
    r = cli("train", image_manifest, "--out", out, "--device", "cuda", "--quiet")
    assert r.exit_code == 2
    line = error_line(r)
    assert "--device cuda" in line and "--device cpu" in line
    assert not out.exists()                                # no decode cache either


def test_device_cuda_n_names_the_gpus_there_are(monkeypatch):
    monkeypatch.setattr(device_mod, "_cuda_count", lambda: 2)
    assert device_mod.resolve_device("cuda:1") == "cuda:1"
    assert device_mod.resolve_device("auto") == "cuda"
    with pytest.raises(UserInputError, match=r"cuda:3.*2 CUDA GPU.*cuda:0\.\.cuda:1"):
        device_mod.resolve_device("cuda:3")
    with pytest.raises(ConfigError, match="auto, cpu, cuda or cuda:N"):
        device_mod.resolve_device("cudax")
    monkeypatch.setattr(device_mod, "_cuda_count", lambda: 0)
    assert device_mod.resolve_device("auto") == "cpu"
    with pytest.raises(UserInputError, match="no CUDA GPU"):
        device_mod.resolve_device("cuda:0")


# ---- 14: a chosen batch size gets its own learning rate ---------------------------------------
def test_a_batch_size_gets_the_learning_rate_for_that_batch():
    shape = (3, 32, 32)
    auto = defaults.resolve(TrainConfig(), "cnn", "cuda", shape, 50_000)
    chosen = defaults.resolve(TrainConfig(batch_size=128), "cnn", "cuda", shape, 50_000)
    assert auto.batch_size == 1024 and chosen.batch_size == 128
    assert chosen.lr == pytest.approx(0.5 * math.sqrt(128 / 64))
    assert chosen.lr == pytest.approx(auto.lr * math.sqrt(128 / 1024))
    tv = defaults.resolve(TrainConfig(batch_size=128), "resnet18", "cuda", shape, 50_000)
    assert tv.lr == pytest.approx(1e-3 * math.sqrt(128 / 256))
    capped = defaults.resolve(TrainConfig(), "cnn", "cuda", shape, 20)
    assert capped.batch_size == 20 and capped.lr == pytest.approx(0.5 * math.sqrt(20 / 64))
    given = defaults.resolve(TrainConfig(batch_size=128, lr=0.3), "cnn", "cuda", shape, 50_000)
    assert given.lr == 0.3


# ---- house: the scoring kernels get their device, no module global is set -------------------
def test_the_scoring_engine_passes_the_device_to_the_torch_kernels():
    from cleanlab_lite.scoring import _torch
    from cleanlab_lite.scoring.engine import Engine

    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(4), 200).astype(np.float32)
    y = rng.integers(0, 4, 200)
    a = Engine.create(y, p, device="torch-cpu")
    b = Engine.create(y, p, device="cpu")
    a.ensure_b(), b.ensure_b()
    np.testing.assert_array_equal(a.stats["guess"], b.stats["guess"])
    assert not hasattr(_torch, "TORCH_DEVICE")
