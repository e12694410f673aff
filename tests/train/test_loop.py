"""train_folds on tiny data: outputs, resume, --fold then merge, repeats, errors."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import torch

from cleanlab_lite.run import FoldFiles
from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.errors import ConfigError, DataError, UserInputError
from cleanlab_lite.train import choose, foldplan, loop, models, train_folds
from tests.trainsets import FAST, folds_for, image_ds, tab_ds

@pytest.fixture
def count_trainings(monkeypatch):
    calls = []
    real = loop.train_fold

    def counted(ds, job, *a, **kw):
        calls.append((job.repeat, job.fold))
        return real(ds, job, *a, **kw)

    monkeypatch.setattr(loop, "train_fold", counted)
    return calls


def test_images_write_folds_and_valid_probs(tmp_path):
    ds = image_ds()
    res = train_folds(ds, folds_for(ds.n, 3), TrainConfig(folds=3, **FAST), tmp_path)
    p = res.pred_probs
    assert p.shape == (ds.n, 3) and p.dtype == np.float32
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    for i in range(3):
        d = tmp_path / "folds" / f"fold-{i}"
        assert {"model.pt", "oof_probs.npy", "oof_rows.npy", "done.json"} <= {f.name for f in d.iterdir()}
        rows = np.load(d / "oof_rows.npy")
        np.testing.assert_array_equal(rows, np.flatnonzero(folds_for(ds.n, 3)[0] == i))
        np.testing.assert_allclose(np.load(d / "oof_probs.npy"), p[rows], atol=1e-6)
        assert len(FoldFiles(d).read_done()["fingerprint"]) == 32
        state = torch.load(d / "model.pt", weights_only=True)
        assert "norm.mean" in state
    m = res.metrics
    assert m["model"] == "cnn" and m["device"] == "cpu" and m["epochs"] == 2
    assert {"accuracy", "balanced_accuracy", "macro_f1", "per_class"} <= set(m["oof"])
    assert set(m["oof"]["per_class"]["c0"]) == {"precision", "recall", "f1", "support"}
    assert len(m["per_fold"]) == 3 and all("accuracy" in f and "train_s" in f for f in m["per_fold"])
    assert {"prepare_s", "train_s", "predict_s", "total_s"} <= set(m["timings"])


def test_rerun_skips_finished_folds_and_retrains_a_lost_one(tmp_path, count_trainings):
    ds, cfg = image_ds(), TrainConfig(folds=3, **FAST)
    first = train_folds(ds, folds_for(ds.n, 3), cfg, tmp_path)
    assert len(count_trainings) == 3
    again = train_folds(ds, folds_for(ds.n, 3), cfg, tmp_path)
    assert len(count_trainings) == 3 and again.metrics["reused_folds"] == 3
    np.testing.assert_array_equal(first.pred_probs, again.pred_probs)
    (tmp_path / "folds" / "fold-1" / "done.json").unlink()     # as if interrupted in fold 1
    train_folds(ds, folds_for(ds.n, 3), cfg, tmp_path)
    assert count_trainings[3:] == [(0, 1)]


def test_changed_settings_or_data_retrain(tmp_path, count_trainings):
    ds = image_ds()
    train_folds(ds, folds_for(ds.n, 2), TrainConfig(folds=2, **FAST), tmp_path)
    train_folds(ds, folds_for(ds.n, 2), TrainConfig(folds=2, **{**FAST, "epochs": 1}), tmp_path)
    assert len(count_trainings) == 4
    flipped = Dataset("image", ds.X, (ds.labels + 1) % 3, ds.classes)
    train_folds(flipped, folds_for(ds.n, 2), TrainConfig(folds=2, **{**FAST, "epochs": 1}), tmp_path)
    assert len(count_trainings) == 6
    # quiet/device do not change what is learned: reused
    train_folds(flipped, folds_for(ds.n, 2), TrainConfig(folds=2, device="cpu", **{**FAST, "epochs": 1}), tmp_path)
    assert len(count_trainings) == 6


def test_single_fold_then_merge(tmp_path, count_trainings):
    ds, folds = image_ds(), folds_for(36, 3)
    part = train_folds(ds, folds, TrainConfig(folds=3, fold=2, **FAST), tmp_path)
    assert part.pred_probs is None and part.metrics["partial"] is True
    assert "without --fold" in part.message and count_trainings == [(0, 2)]
    train_folds(ds, folds, TrainConfig(folds=3, fold=0, **FAST), tmp_path)
    merged = train_folds(ds, folds, TrainConfig(folds=3, **FAST), tmp_path)
    assert count_trainings == [(0, 2), (0, 0), (0, 1)]
    assert merged.pred_probs.shape == (36, 3) and merged.metrics["reused_folds"] == 2
    fold2 = np.load(tmp_path / "folds" / "fold-2" / "oof_probs.npy")
    np.testing.assert_allclose(merged.pred_probs[folds[0] == 2], fold2, atol=1e-6)


def test_repeats_average_over_splits(tmp_path, count_trainings):
    ds, folds = image_ds(), folds_for(36, 2, repeats=2)
    res = train_folds(ds, folds, TrainConfig(folds=2, repeats=2, **FAST), tmp_path)
    assert len(count_trainings) == 4
    acc = np.zeros((36, 3))
    for r in range(2):
        for i in range(2):
            d = tmp_path / "folds" / f"repeat-{r}" / f"fold-{i}"
            acc[np.load(d / "oof_rows.npy")] += np.load(d / "oof_probs.npy")
    np.testing.assert_allclose(res.pred_probs, acc / 2, atol=1e-6)


@pytest.mark.slow
def test_tabular_mlp_standardizes_on_training_rows(tmp_path):
    ds = tab_ds()
    folds = folds_for(ds.n, 3)
    res = train_folds(ds, folds, TrainConfig(folds=3, model="mlp", epochs=20, quiet=True), tmp_path)
    assert res.metrics["model"] == "mlp" and res.metrics["oof"]["accuracy"] > 0.9
    state = torch.load(tmp_path / "folds" / "fold-0" / "model.pt", weights_only=True)
    train_rows = folds[0] != 0
    np.testing.assert_allclose(state["norm.mean"].numpy(), ds.X[train_rows].mean(axis=0), rtol=1e-4)


@pytest.mark.slow
def test_linear_model_with_weights_balance_and_class_weights(tmp_path):
    ds = tab_ds()
    ds.weights = np.where(np.arange(ds.n) % 10 == 0, 0.0, 1.0).astype(np.float32)
    cfg = TrainConfig(folds=2, model="linear", lr=0.05, balance="oversample",
                      class_weight="sqrt_inverse", loss="focal", quiet=True)
    res = train_folds(ds, folds_for(ds.n, 2), cfg, tmp_path)
    assert res.metrics["model"] == "linear" and res.metrics["oof"]["accuracy"] > 0.9


@pytest.mark.slow
def test_torchvision_model_on_grayscale(tmp_path):
    ds = image_ds(n=24)
    X = np.repeat(np.repeat(ds.X, 4, axis=2), 4, axis=3)       # 1 x 32 x 32
    ds32 = Dataset("image", X, ds.labels, ds.classes)
    cfg = TrainConfig(folds=2, model="resnet18", epochs=1, batch_size=8, quiet=True)
    res = train_folds(ds32, folds_for(24, 2), cfg, tmp_path)
    assert res.pred_probs.shape == (24, 3) and res.metrics["model"] == "resnet18"


def test_pretrained_weights_load_from_a_local_file(tmp_path):
    import torchvision

    src = torchvision.models.resnet18(weights=None)
    torch.save(src.state_dict(), tmp_path / "r18.pth")
    net = models.build_model("resnet18", (3, 32, 32), 4, pretrained=str(tmp_path / "r18.pth"))
    assert torch.equal(net.net.layer1[0].conv1.weight, src.layer1[0].conv1.weight)
    assert net.net.fc.out_features == 4
    with pytest.raises(UserInputError, match="--pretrained .*missing.pth: file not found"):
        models.build_model("resnet18", (3, 32, 32), 4, pretrained=str(tmp_path / "missing.pth"))


def test_auto_model_choice_and_unknown_model():
    assert models.resolve_model_name("auto", "image", (3, 32, 32)) == "cnn"
    assert models.resolve_model_name("auto", "image", (3, 224, 224)) == "resnet18"
    assert models.resolve_model_name("auto", "embedding", (128,)) == "mlp"
    with pytest.raises(ConfigError, match="--model 'vgg_bogus'"):
        models.resolve_model_name("vgg_bogus", "image", (3, 32, 32))
    with pytest.raises(ConfigError, match="--model cnn does not fit tabular"):
        models.resolve_model_name("cnn", "tabular", (4,))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_gpu(tmp_path):
    ds = image_ds()
    with pytest.raises(UserInputError, match="--device cpu"):
        train_folds(ds, folds_for(ds.n, 2), TrainConfig(folds=2, device="cuda", **FAST), tmp_path)


def test_bad_fold_arguments(tmp_path):
    ds = image_ds()
    with pytest.raises(ConfigError, match="--fold 5 is out of range"):
        train_folds(ds, folds_for(ds.n, 3), TrainConfig(folds=3, fold=5, **FAST), tmp_path)
    with pytest.raises(DataError, match="expected"):
        train_folds(ds, folds_for(ds.n, 3, repeats=2), TrainConfig(folds=3, **FAST), tmp_path)
    assert not (tmp_path / "folds").exists()


def test_reinitialise_keeps_the_live_parameters_so_compile_happens_once():
    ds = image_ds()
    cfg = TrainConfig(**FAST)
    trainer = loop._Trainer(ds, cfg, torch.device("cpu"), *loop.resolve_hyper(ds, cfg, folds_for(36, 3), "cpu"))
    ids = [id(p) for p in trainer.model.parameters()]
    trainer.reinitialise(1)
    a = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.reinitialise(2)
    b = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.reinitialise(1)
    assert [id(p) for p in trainer.model.parameters()] == ids
    assert not all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(torch.equal(x, p) for x, p in zip(a, trainer.model.parameters()))


def test_cpu_thread_policy(monkeypatch):
    from cleanlab_lite.train.threads import cpu_threads

    monkeypatch.setattr("cleanlab_lite.train.threads.available_cores", lambda: 8)
    small, large = np.zeros((2, 1, 28, 28), np.uint8), np.zeros((2, 3, 64, 64), np.uint8)
    assert cpu_threads(TrainConfig(), small) == 1
    assert cpu_threads(TrainConfig(), large) == 8
    assert cpu_threads(TrainConfig(), large, cores=3) == 3        # a share of the cores
    assert cpu_threads(TrainConfig(threads=3), small) == 3
    table = np.zeros((100, 64), np.float32)
    assert cpu_threads(TrainConfig(), table, torch_model=False) == 1
    assert cpu_threads(TrainConfig(), np.zeros((200_000, 64), np.float32), torch_model=False) == 8
    with pytest.raises(ConfigError, match="--threads -1"):
        cpu_threads(TrainConfig(threads=-1), small)


@pytest.mark.slow
def test_cnn_learns_and_flipped_labels_get_low_probability(tmp_path):
    ds = image_ds(n=90)
    noisy = ds.labels.copy()
    noisy[:6] = (noisy[:6] + 1) % 3                       # six wrong labels
    ds_noisy = Dataset("image", ds.X, noisy, ds.classes)
    cfg = TrainConfig(folds=3, epochs=15, batch_size=16, widths="8,8,8", quiet=True)
    p = train_folds(ds_noisy, folds_for(90, 3), cfg, tmp_path).pred_probs
    assert (p.argmax(axis=1) == ds.labels).mean() > 0.9     # against the true labels
    given = p[np.arange(90), noisy]
    assert set(np.argsort(given)[:6]) == set(range(6))      # the wrong labels rank lowest


def test_fingerprint_holds_the_resolved_hyperparameters_not_the_device(tmp_path):
    ds, folds = image_ds(), folds_for(36, 3)
    cfg = TrainConfig(folds=3, epochs=1, quiet=True)       # widths and batch left to the device
    train_folds(ds, folds, TrainConfig(folds=3, fold=0, epochs=1, quiet=True), tmp_path)
    done = FoldFiles(tmp_path / "folds" / "fold-0").read_done()

    def fingerprint(c, device_type):
        c = choose.recipe(c, "image")                      # as train_folds trains it
        name, hp = loop.resolve_hyper(ds, c, folds, device_type)
        return foldplan._fingerprint(c, foldplan.data_hash(ds), folds[0], 0, {"model": name, **asdict(hp)})

    assert loop.resolve_hyper(ds, cfg, folds, "cpu")[1].widths != loop.resolve_hyper(ds, cfg, folds, "cuda")[1].widths
    assert fingerprint(cfg, "cpu") == done["fingerprint"]
    # a merge on the other device type would train another network: fold 0 is not reused
    assert fingerprint(cfg, "cuda") != done["fingerprint"]
    # with the options the device would pick given explicitly, the net and fingerprint are one
    explicit = TrainConfig(folds=3, epochs=1, quiet=True, widths="24,48,96", batch_size=32)
    assert fingerprint(explicit, "cpu") == fingerprint(explicit, "cuda")


def test_prediction_batches_follow_the_training_batch_and_are_padded_to_one_shape(tmp_path):
    ds = image_ds(n=90)
    cfg = TrainConfig(folds=3, **FAST)                    # batch 16 -> prediction batch 32
    folds = folds_for(90, 3)
    trainer = loop._Trainer(ds, cfg, torch.device("cpu"), *loop.resolve_hyper(ds, cfg, folds, "cpu"))
    seen = []
    trainer.model.register_forward_hook(lambda m, inp, out: seen.append(tuple(inp[0].shape)))
    rows = np.flatnonzero(folds[0] == 0)                  # 30 held-out rows, not a multiple of 32
    probs = trainer.predict(rows)
    assert probs.shape == (30, 3)
    assert trainer.predict_batch == 32 and set(seen) == {(32, 1, 8, 8)}
    seen.clear()
    probs2 = trainer.predict(np.concatenate([rows, rows, rows]))    # 90 rows: 3 batches
    assert set(seen) == {(32, 1, 8, 8)} and len(seen) == 3
    np.testing.assert_allclose(probs2[:30], probs, atol=1e-6)      # padding changes no row


HOST_OOM_SCRIPT = r"""
import resource, sys
import numpy as np
from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.errors import RuntimeFailure
from cleanlab_lite.train import train_folds
import torch
n = 800_000
np.save(sys.argv[1] + "/x.npy", np.zeros((n, 1, 16, 16), np.uint8))          # 205 MB
X = np.load(sys.argv[1] + "/x.npy", mmap_mode="r")        # read-only: placing it copies it
ds = Dataset("image", X, (np.arange(n) % 2).astype(np.int64), ["a", "b"])
folds = (np.arange(n) % 2)[None, :]
vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
# room for hashing the data in 64 MiB pieces, not for a second copy of it
resource.setrlimit(resource.RLIMIT_AS, (vm + (150 << 20), resource.RLIM_INFINITY))
try:
    train_folds(ds, folds, TrainConfig(folds=2, epochs=1, batch_size=8, widths="4,4,4", quiet=True,
                                       device="cpu", parallel_folds=1), sys.argv[1] + "/run")
except RuntimeFailure as e:
    print("RuntimeFailure:", e)
"""


@pytest.mark.slow
def test_real_host_out_of_memory_is_the_one_line_runtime_failure(tmp_path):
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", HOST_OOM_SCRIPT, str(tmp_path)], capture_output=True,
                       text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == ("RuntimeFailure: out of host memory while placing 0.20 GB of data "
                                "and the cnn model on cpu; try a smaller --image-size or --model or "
                                "freeing host memory (other programs)")


