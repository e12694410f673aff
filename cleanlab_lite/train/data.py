"""The data path: the whole dataset is placed once where training reads it, and a batch is an
index gather.

- On CUDA, when the array fits comfortably in free GPU memory, it lives on the GPU (images as
  uint8): a batch is `X[idx]` after a GPU randperm and no image crosses the bus per step.
- Otherwise it is copied once into pinned host memory (or, when it is larger than half the free
  RAM, read straight from the decode-cache memmap) and each batch is gathered into one of two
  pinned staging buffers and copied asynchronously.
- On CPU the array is a plain tensor.

Image augmentation (random horizontal flip and random translation with reflected borders) is
done for the whole batch at once with one gather, on the batch's device.
"""
from __future__ import annotations

import os

import numpy as np
import torch

GPU_FRACTION = 0.5    # data may take at most this share of free GPU memory to be kept resident
RAM_FRACTION = 0.5    # ... and this share of free host RAM to be copied into pinned memory
COPY_CHUNK = 1 << 28  # bytes per chunk when copying a memmap into a tensor


def _to_tensor(X: np.ndarray, pin: bool) -> torch.Tensor:
    """Copy X (possibly a read-only memmap) into a new tensor, chunk by chunk."""
    out = torch.empty(X.shape, dtype=torch.from_numpy(X[:0].copy()).dtype, pin_memory=pin)
    rows = max(1, COPY_CHUNK // max(1, X[:1].nbytes))
    for s in range(0, X.shape[0], rows):
        chunk = np.ascontiguousarray(X[s:s + rows])
        if not chunk.flags.writeable:      # a read-only memmap: torch wants writable memory
            chunk = chunk.copy()
        out[s:s + rows] = torch.from_numpy(chunk)
    return out


def _available_ram() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


class DeviceData:
    """X (N, ...) and labels (N,) and optional weights (N,) placed for training on `device`.

    mode: "resident"  X is a tensor on `device` (always on CPU; on CUDA when it fits);
          "pinned"    X is copied once into pinned host memory, batches are gathered into a
                      pinned staging buffer and copied asynchronously;
          "mapped"    X (e.g. the decode cache memmap) is larger than free RAM: batches are
                      read from it directly into the staging buffer.
    `stream` ("pinned" | "mapped") forces a streaming mode on any device (used by tests).
    """

    def __init__(self, X: np.ndarray, labels: np.ndarray, weights: np.ndarray | None,
                 device: torch.device, stream: str | None = None):
        self.device = device
        self.mode = "resident"
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if X.nbytes >= GPU_FRACTION * free:
                self.mode = "pinned" if X.nbytes < RAM_FRACTION * _available_ram() else "mapped"
        if stream:
            self.mode = stream
        pin = device.type == "cuda"
        if self.mode == "resident":
            self.X = _to_tensor(X, pin=False).to(device)
        elif self.mode == "pinned":
            self.X = _to_tensor(X, pin=pin)
        else:
            self.X = X
        self._row_shape = tuple(X.shape[1:])
        self._dtype = torch.from_numpy(np.empty(0, dtype=X.dtype)).dtype
        self._pin = pin
        self._stage: list[torch.Tensor | None] = [None, None]
        self._events: list = [None, None]
        self._turn = 0
        self.y = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=device)
        self.w = (None if weights is None
                  else torch.as_tensor(np.asarray(weights, dtype=np.float32), device=device))

    @property
    def resident(self) -> bool:
        return self.mode == "resident"

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows `idx` (a long tensor on self.device) of X, on self.device."""
        if self.mode == "resident":
            return self.X[idx]
        i = self._turn
        self._turn ^= 1
        if self._events[i] is not None:
            self._events[i].synchronize()          # the last copy out of this buffer is done
        n = idx.numel()
        stage = self._stage[i]
        if stage is None or stage.shape[0] < n:
            stage = torch.empty((n,) + self._row_shape, dtype=self._dtype, pin_memory=self._pin)
            self._stage[i] = stage
        buf = stage[:n]
        rows = idx.cpu()
        if self.mode == "pinned":
            torch.index_select(self.X, 0, rows, out=buf)
        else:
            order = torch.argsort(rows)             # read the memmap in file order
            got = np.take(self.X, rows[order].numpy(), axis=0)
            buf[order] = torch.from_numpy(got)
        if self.device.type != "cuda":
            return buf.clone()
        out = buf.to(self.device, non_blocking=True)
        ev = torch.cuda.Event()
        ev.record()
        self._events[i] = ev
        return out


def _reflect(i: torch.Tensor, n: int) -> torch.Tensor:
    """Reflect integer positions into [0, n-1] (valid for |offset| < n)."""
    i = i.abs()
    return (n - 1) - ((n - 1) - i).abs()


def augment(x: torch.Tensor, flip: bool, translate: int, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flip (p=0.5) and random shift by up to `translate` pixels per axis, for a
    whole batch (B, C, H, W) in one gather. Borders are reflected. Works on uint8 or float."""
    if not flip and translate <= 0:
        return x
    b, c, h, w = x.shape
    dev = x.device
    rows = torch.arange(h, device=dev).expand(b, h)
    cols = torch.arange(w, device=dev).expand(b, w)
    if translate > 0:
        t = min(translate, h - 1, w - 1)
        shift = torch.randint(-t, t + 1, (b, 2), generator=generator, device=dev)
        rows = _reflect(rows + shift[:, :1], h)
        cols = _reflect(cols + shift[:, 1:], w)
    if flip:
        mirrored = torch.rand(b, 1, generator=generator, device=dev) < 0.5
        cols = torch.where(mirrored, (w - 1) - cols, cols)
    bi = torch.arange(b, device=dev).view(b, 1, 1, 1)
    ci = torch.arange(c, device=dev).view(1, c, 1, 1)
    return x[bi, ci, rows.view(b, 1, h, 1), cols.view(b, 1, 1, w)]


def image_stats(X: np.ndarray, rows: np.ndarray, max_rows: int = 4096,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (0..255 scale) of the training rows of images (N, C, H, W),
    from at most `max_rows` of them."""
    if rows.shape[0] > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    sample = np.asarray(X[rows], dtype=np.float32)
    mean = sample.mean(axis=(0, 2, 3))
    std = sample.std(axis=(0, 2, 3))
    return mean, np.where(std > 1e-6, std, 1.0).astype(np.float32)


def feature_stats(X: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of the training rows of X (N, D); constant features get std 1."""
    sub = np.asarray(X[rows], dtype=np.float64)
    mean = sub.mean(axis=0)
    std = sub.std(axis=0)
    return mean.astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32)
