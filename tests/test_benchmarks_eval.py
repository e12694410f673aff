"""Tiny runs of the evaluation benchmarks (benchmarks/bench_quality.py, bench_cleaning.py,
bench_imbalance.py) and their shared helpers; the real runs are `make bench`."""
from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _evalutil as U  # noqa: E402


def write_idx(path: Path, arr: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def fake_mnist(folder: Path, n_per_class: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """28x28 images whose class is the row band that is bright: trivially learnable."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), n_per_class)
    X = rng.integers(0, 30, size=(len(y), 28, 28)).astype(np.uint8)
    for c in range(10):
        X[y == c, 2 * c:2 * c + 3, :] = 250
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", X)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y)
    return X, y


def test_read_idx_roundtrip(tmp_path):
    X, y = fake_mnist(tmp_path / "m")
    X2, y2 = U.mnist_test(tmp_path / "m")
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    with pytest.raises(FileNotFoundError, match="has no t10k-images-idx3-ubyte"):
        U.mnist_test(tmp_path)


def test_flag_and_score_metrics():
    truth = np.array([1, 1, 0, 0, 0, 0], bool)
    m = U.flag_metrics(truth, np.array([1, 0, 1, 0, 0, 0], bool))
    assert (m["precision"], m["recall"], m["f1"], m["flagged"]) == (0.5, 0.5, 0.5, 2)
    s = U.score_metrics(truth, np.array([0.1, 0.2, 0.9, 0.8, 0.7, 0.6]))  # flips score lowest
    assert s["auroc"] == 1.0 and s["ap"] == 1.0
    assert U.flag_metrics(truth, np.zeros(6, bool))["f1"] == 0.0


@pytest.mark.slow
def test_bench_quality_cpu_tiny(capsys):
    import bench_quality

    assert bench_quality.main(["--cpu", "--kinds", "pairwise", "--rates", "0.2",
                               "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    row = [ln for ln in out.splitlines() if ln.startswith("| pair | 20% | 359 |")]
    assert len(row) == 2 and "ours (default)" in row[0] and "cleanlab 2.9 default" in row[1]
    auroc = float(row[0].split("|")[9])
    assert auroc > 0.8   # even 3 epochs put the flipped labels on top


@pytest.mark.slow
def test_bench_quality_mnist_path_runs_on_cpu(tmp_path, capsys):
    import bench_quality

    fake_mnist(tmp_path / "m")
    assert bench_quality.main(["--mnist", str(tmp_path / "m"), "--limit", "70", "--kinds",
                               "symmetric", "--rates", "0.2", "--epochs", "1", "--device", "cpu",
                               "--markdown", str(tmp_path / "q.md")]) == 0
    text = (tmp_path / "q.md").read_text()
    assert "MNIST test set, 70 images" in text and "| sym | 20% | 14 |" in text


def test_minority_noise_keeps_balance():
    import bench_imbalance

    y = np.r_[np.zeros(990, int), np.ones(10, int)]
    yn = bench_imbalance.minority_noise(y, 0.4, seed=0)
    assert (yn == 1).sum() == 10                       # still 1% positives
    assert ((yn == 1) & (y == 0)).sum() == 4           # 40% of the given positives are wrong
    assert ((yn == 0) & (y == 1)).sum() == 4


@pytest.mark.slow
def test_fit_and_test_trains_on_pool_only(tmp_path):
    import bench_cleaning

    rng = np.random.default_rng(0)
    centers = rng.normal(0, 5, size=(10, 4))
    yp, yt = np.repeat(np.arange(10), 20), np.repeat(np.arange(10), 5)
    Xp = centers[yp] + rng.normal(0, 0.3, (len(yp), 4))
    Xt = centers[yt] + rng.normal(0, 0.3, (len(yt), 4))
    assert bench_cleaning.fit_and_test(Xp, yp, None, Xt, yt, seed=0, work=tmp_path / "a") == 1.0
    # the test labels never reach the model: shuffled test labels score at chance, not 1.0
    wrong = (yt + 1) % 10
    assert bench_cleaning.fit_and_test(Xp, yp, None, Xt, wrong, seed=0, work=tmp_path / "b") == 0.0
