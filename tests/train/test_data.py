"""Batch augmentation and input statistics."""
from __future__ import annotations

import pytest

import numpy as np
import torch

from cleanlab_lite.train.data import (DeviceData, augment, available_ram, choose_mode, feature_stats,
                                      image_stats, usable_device_memory)


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
    for mode in ("host", "mapped"):
        dd = DeviceData(mm, np.zeros(50, dtype=np.int64), None, torch.device("cpu"), stream=mode)
        assert dd.mode == mode and not dd.resident
        batches = [torch.tensor(ix) for ix in ([7, 3, 49, 3], [0, 1], [10, 2, 30])]
        got = [dd.gather(b) for b in batches]                 # buffers alternate and grow
        for b, g in zip(batches, got):
            np.testing.assert_array_equal(g.numpy(), X[b.numpy()])


def test_streaming_modes_draw_the_order_on_the_host_and_stage_the_next_batch_ahead():
    X = np.random.default_rng(1).integers(0, 255, (40, 1, 3, 3), dtype=np.uint8)
    for mode in ("host", "mapped"):
        dd = DeviceData(X, np.arange(40) % 2, None, torch.device("cpu"), stream=mode)
        assert dd.order_device == torch.device("cpu")
        order = torch.randperm(40, generator=torch.Generator().manual_seed(0))
        batches = dd.batches(order, 8, 4)
        x0, i0 = next(batches)
        assert dd.staged == 2                      # batch 1 was gathered before batch 0 is used
        got = [(x0, i0)] + list(batches)
        assert dd.staged == 4 and len(got) == 4    # never more than the steps asked for
        for s, (x, idx) in enumerate(got):
            np.testing.assert_array_equal(idx.numpy(), order[8 * s:8 * s + 8].numpy())
            np.testing.assert_array_equal(x.numpy(), X[order[8 * s:8 * s + 8].numpy()])


def test_host_mode_keeps_an_in_memory_array_without_a_copy():
    X = np.random.default_rng(2).integers(0, 255, (30, 1, 4, 4), dtype=np.uint8)
    dd = DeviceData(X, np.zeros(30, dtype=np.int64), None, torch.device("cpu"), stream="host")
    assert dd.X.data_ptr() == X.ctypes.data          # shared, not copied (let alone pinned)


def test_residency_counts_memory_pytorch_already_caches():
    gb = 1 << 30
    # a first call's data, freed, stays reserved by the caching allocator: 6 GB reserved, none
    # allocated, 2 GB reported free by the driver. 3 GB of data fit resident.
    usable = usable_device_memory(free=2 * gb, reserved=6 * gb, allocated=0)
    assert usable == 8 * gb
    assert choose_mode(3 * gb, usable, ram_available=64 * gb) == "resident"
    assert choose_mode(3 * gb, 2 * gb, ram_available=64 * gb) == "host"
    assert choose_mode(3 * gb, 2 * gb, ram_available=4 * gb) == "mapped"
    assert usable_device_memory(free=gb, reserved=gb, allocated=2 * gb) == gb   # never below free


def test_available_ram_counts_reclaimable_page_cache():
    info = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    mem_available = int(info["MemAvailable"].split()[0]) * 1024
    mem_free = int(info["MemFree"].split()[0]) * 1024
    got = available_ram()
    assert abs(got - mem_available) < 0.1 * mem_available       # MemAvailable, moments apart
    assert got >= 0.9 * mem_free


PLACE_SCRIPT = r"""
import resource
import numpy as np, torch
from cleanlab_lite.train import data
data.COPY_CHUNK = 1 << 22                                  # 4 MiB chunks
X = np.random.default_rng(0).integers(0, 255, (1600, 3, 64, 64), dtype=np.uint8)   # 19.7 MB
t = data.place(X[:10], torch.device("meta"))               # warm up torch's own allocations
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
dd = data.DeviceData(X, np.zeros(1600, dtype=np.int64), None, torch.device("meta"))
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
assert dd.resident and dd.X.device.type == "meta" and tuple(dd.X.shape) == X.shape
print(grew * 1024)
"""


@pytest.mark.slow
def test_placing_on_a_device_makes_no_full_host_copy():
    # the meta device stands for a GPU: its tensors take no host memory, so the peak resident
    # memory of the process shows what placement copies on the host on the way
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-c", PLACE_SCRIPT],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    grew = int(p.stdout.split()[-1])
    assert grew < 12e6, grew                      # a few 4 MiB chunks, not the 19.7 MB array
