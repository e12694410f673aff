"""Batch augmentation and input statistics."""
from __future__ import annotations

import numpy as np
import torch

from cleanlab_lite.train.data import DeviceData, augment, feature_stats, image_stats


def test_augment_flip_only_mirrors_rows_exactly():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.uint8).view(2, 3, 4, 5)
    g = torch.Generator().manual_seed(0)
    out = augment(x.repeat(50, 1, 1, 1), flip=True, translate=0, generator=g)
    mirrored = (out == x.repeat(50, 1, 1, 1).flip(-1)).flatten(1).all(1)
    same = (out == x.repeat(50, 1, 1, 1)).flatten(1).all(1)
    assert bool((mirrored | same).all()) and 20 < int(mirrored.sum()) < 80


def test_augment_translate_shifts_with_reflected_border():
    x = torch.arange(8, dtype=torch.float32).view(1, 1, 1, 8).expand(400, 1, 3, 8).contiguous()
    g = torch.Generator().manual_seed(1)
    out = augment(x, flip=False, translate=2, generator=g)
    assert out.shape == x.shape and out.dtype == x.dtype
    first = out[:, 0, 0, 0]
    # a shift of s in [-2, 2] moves column 0 to reflect(s): values {2, 1, 0, 1, 2}
    assert set(first.tolist()) == {0.0, 1.0, 2.0}
    # interior columns keep unit steps (a pure shift)
    d = out[:, 0, 0, 3:6].diff(dim=1)
    assert bool((d.abs() == 1).all())


def test_augment_noop():
    x = torch.ones(2, 1, 4, 4)
    assert augment(x, flip=False, translate=0, generator=torch.Generator()) is x


def test_device_data_gather_and_stats():
    X = np.arange(4 * 2 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2, 2)
    dd = DeviceData(X, np.array([0, 1, 0, 1]), None, torch.device("cpu"))
    assert dd.resident and dd.X.dtype == torch.uint8
    np.testing.assert_array_equal(dd.gather(torch.tensor([3, 1])).numpy(), X[[3, 1]])
    mean, std = image_stats(X, np.array([0, 1]))
    np.testing.assert_allclose(mean, X[:2].astype(np.float32).mean(axis=(0, 2, 3)))
    F = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, 0.0]], dtype=np.float32)
    m, s = feature_stats(F, np.array([0, 1]))      # fit on the first two rows only
    np.testing.assert_allclose(m, [2.0, 5.0])
    np.testing.assert_allclose(s, [1.0, 1.0])      # constant feature gets std 1


def test_streaming_modes_gather_the_same_rows(tmp_path):
    X = np.random.default_rng(0).integers(0, 255, (50, 1, 4, 4), dtype=np.uint8)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")          # read-only memmap, like the cache
    for mode in ("pinned", "mapped"):
        dd = DeviceData(mm, np.zeros(50, dtype=np.int64), None, torch.device("cpu"), stream=mode)
        assert dd.mode == mode and not dd.resident
        batches = [torch.tensor(ix) for ix in ([7, 3, 49, 3], [0, 1], [10, 2, 30])]
        got = [dd.gather(b) for b in batches]                 # buffers alternate and grow
        for b, g in zip(batches, got):
            np.testing.assert_array_equal(g.numpy(), X[b.numpy()])
