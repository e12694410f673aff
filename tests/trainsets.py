"""Tiny training sets and fast options shared by the training tests (tests never import other
test modules): a separable image set, a badly scaled table, fold assignments, and a CSV manifest
with known flipped rows."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from cleanlab_lite.data.dataset import Dataset
from tests.conftest import blob_table

FAST = dict(epochs=2, batch_size=16, widths="8,8,8", quiet=True)   # TrainConfig for tiny CNNs
FLIPPED = [5, 47, 88, 101]          # the rows `noisy_manifest` gives a wrong label


def image_ds(n: int = 36, k: int = 3, seed: int = 0) -> Dataset:
    """Class c has a bright square in quadrant c, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    X = rng.integers(0, 60, (n, 1, 8, 8)).astype(np.uint8)
    for c in range(k):
        r, q = divmod(c, 2)
        X[y == c, 0, 4 * r:4 * r + 4, 4 * q:4 * q + 4] += 150
    return Dataset("image", X, y.astype(np.int64), [f"c{c}" for c in range(k)])


def tab_ds(n: int = 120, seed: int = 0) -> Dataset:
    """Three classes separable on feature 0; feature 1 badly scaled (needs standardization)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = rng.normal(0, 1, (n, 4)).astype(np.float32)
    X[:, 0] += 4 * y
    X[:, 1] = X[:, 1] * 1000 + 5000
    return Dataset("tabular", X, y.astype(np.int64), ["a", "b", "c"])


def folds_for(n: int, k: int, repeats: int = 1) -> np.ndarray:
    """(repeats, n) fold ids: each repeat a different seeded shuffle, balanced over classes
    because labels cycle with period 3 and the shuffle is of blocks of 3 rows."""
    out = []
    for r in range(repeats):
        blocks = np.random.default_rng(r).permutation(n // 3) % k
        out.append(np.repeat(blocks, 3))
    return np.stack(out)


def noisy_manifest(tmp_path: Path, nan_row: int | None = None) -> Path:
    """A 120-row, 3-class blob table with the labels of FLIPPED moved to another class (and one
    missing feature value at `nan_row`), written as tmp_path/noisy.csv."""
    df = blob_table(n_per_class=40, k=3)
    swap = {"cat": "dog", "dog": "eel", "eel": "cat"}
    df.loc[FLIPPED, "label"] = df.loc[FLIPPED, "label"].map(swap)
    if nan_row is not None:
        df.loc[nan_row, "f1"] = np.nan
    p = tmp_path / "noisy.csv"
    df.to_csv(p, index=False)
    return p
