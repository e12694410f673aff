"""The data path: the whole dataset is placed once where training reads it, and a batch is an
index gather.

- On CUDA, when the array fits comfortably in the GPU memory that is free (counting what
  PyTorch's caching allocator holds but no tensor uses, and no more than this process's share
  of the GPU when several folds share one: --gpus-per-fold 0.5), it lives on the GPU (images as
  uint8): a batch is `X[idx]`, a gather on the GPU, and no image crosses the bus per step. It is
  copied there chunk by chunk, so host memory beyond the array itself is one chunk.
- Otherwise it stays in host memory ("host": the array itself, or one copy of a read-only
  memmap, when it takes less than half the available RAM; "mapped": read straight from the
  decode-cache memmap). Row indices stay on the host, so nothing waits for the GPU; each batch
  is gathered into one of two small pinned staging buffers and copied to the GPU on a side
  stream while the GPU trains on the previous batch.
- On CPU the array is a plain tensor.

Image augmentation (random horizontal flip and random translation with reflected borders) is
done for the whole batch at once with one gather, on the batch's device.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from cleanlab_lite.io import available_ram

GPU_FRACTION = 0.5    # data may take at most this share of usable GPU memory to be kept resident
RAM_FRACTION = 0.5    # ... and this share of available host RAM to be held in memory
COPY_CHUNK = 1 << 26  # bytes per chunk when placing X: the host memory used beyond X itself
MODES = ("resident", "host", "mapped")


def usable_device_memory(free: int, reserved: int, allocated: int) -> int:
    """Device bytes new tensors can use: what the driver reports free plus what PyTorch's caching
    allocator has reserved but no live tensor occupies (e.g. a previous call's freed data)."""
    return int(free) + max(0, int(reserved) - int(allocated))


def device_budget(free: int, total: int, reserved: int, allocated: int, share: float = 1.0) -> int:
    """Device bytes this process may plan with: `usable_device_memory`, and at most `share` of
    the GPU's `total` when it shares the GPU with other folds (0 < share <= 1)."""
    usable = usable_device_memory(free, reserved, allocated)
    return int(min(usable, max(0.0, min(1.0, float(share))) * int(total)))


def choose_mode(nbytes: int, device_usable: int, ram_available: int) -> str:
    """Where X lives for a CUDA run: resident on the GPU, in host memory, or mapped."""
    if nbytes < GPU_FRACTION * device_usable:
        return "resident"
    return "host" if nbytes < RAM_FRACTION * ram_available else "mapped"


def _torch_dtype(X: np.ndarray) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=X.dtype)).dtype


def place(X: np.ndarray, device: torch.device) -> torch.Tensor:
    """Copy X (possibly a read-only memmap) into a new tensor on `device`, COPY_CHUNK bytes at a
    time: no full host copy is made on the way to a GPU."""
    out = torch.empty(X.shape, dtype=_torch_dtype(X), device=device)
    rows = max(1, COPY_CHUNK // max(1, X[:1].nbytes))
    for s in range(0, X.shape[0], rows):
        chunk = np.ascontiguousarray(X[s:s + rows])
        if not chunk.flags.writeable:      # a read-only memmap: torch wants writable memory
            chunk = chunk.copy()
        out[s:s + rows].copy_(torch.from_numpy(chunk))
    return out


def _host_tensor(X: np.ndarray) -> torch.Tensor:
    """X as a CPU tensor: shared with an in-memory array (nothing copied), else one copy."""
    if isinstance(X, np.ndarray) and not isinstance(X, np.memmap) and X.flags.writeable \
            and X.flags.c_contiguous:
        return torch.from_numpy(X)
    return place(X, torch.device("cpu"))


class DeviceData:
    """X (N, ...) and labels (N,) and optional weights (N,) placed for training on `device`.

    mode: "resident"  X is a tensor on `device` (always on CPU; on CUDA when it fits);
          "host"      X stays in host memory; batches are gathered into a pinned staging buffer
                      and copied asynchronously;
          "mapped"    X (e.g. the decode cache memmap) is larger than available RAM: batches
                      are read from it directly into the staging buffer.
    `stream` ("host" | "mapped") forces a streaming mode on any device (used by tests and
    benchmarks/gpu_check.sh). `gpu_share`: the share of the GPU this process may plan with.
    `order_device`: where row indices live (see `batches`).
    """

    def __init__(self, X: np.ndarray, labels: np.ndarray, weights: np.ndarray | None,
                 device: torch.device, stream: str | None = None, gpu_share: float = 1.0):
        self.device = device
        self.mode = "resident"
        if device.type == "cuda":
            free, total = torch.cuda.mem_get_info(device)
            usable = device_budget(free, total, torch.cuda.memory_reserved(device),
                                   torch.cuda.memory_allocated(device), gpu_share)
            self.mode = choose_mode(X.nbytes, usable, available_ram())
        if stream:
            self.mode = stream
        if self.mode == "resident":
            self.X = place(X, device) if device.type != "cpu" else _host_tensor(X)
        elif self.mode == "host":
            self.X = _host_tensor(X)
        else:
            self.X = X
        self.order_device = device if self.mode == "resident" else torch.device("cpu")
        self._row_shape = tuple(X.shape[1:])
        self._dtype = _torch_dtype(X)
        self._cuda = device.type == "cuda"
        self._stage: list[torch.Tensor | None] = [None, None]
        self._events: list = [None, None]
        self._turn = 0
        self._copy_stream = torch.cuda.Stream(device) if self._cuda and self.mode != "resident" else None
        self.staged = 0          # batches gathered on the host so far (streaming modes)
        self.y = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=device)
        self.w = (None if weights is None
                  else torch.as_tensor(np.asarray(weights, dtype=np.float32), device=device))

    @property
    def resident(self) -> bool:
        return self.mode == "resident"

    @property
    def n(self) -> int:
        return int(self.y.shape[0])

    def in_order(self, batch_size: int) -> Iterator[torch.Tensor]:
        """Every row of X on `device`, in row order, `batch_size` rows at a time (the last batch
        smaller), with the next batch's copy overlapping this one's use when streaming."""
        order = torch.arange(self.n, device=self.order_device)
        for x, _ in self.batches(order, batch_size, -(-self.n // batch_size)):
            yield x

    def batches(self, order: torch.Tensor, batch_size: int, steps: int
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (x, idx) for the first `steps` batches of `batch_size` rows of `order` (a long
        tensor, moved to `order_device` when it is elsewhere): x the rows of X on `device`, idx
        their indices on `device`.

        Streaming modes: the next batch is gathered on the host and its copy started on a side
        stream before this batch is handed out, so the copy overlaps the GPU's work on it and
        nothing here waits for the GPU."""
        if order.device.type != self.order_device.type:
            if order.device.type == "cpu" and self._cuda:    # a host order for resident data
                order = order.pin_memory().to(self.order_device, non_blocking=True)
            else:
                order = order.to(self.order_device)
        if self.resident:
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                yield self.X[idx], idx
            return
        if self._cuda and not order.is_pinned():
            order = order.pin_memory()           # so the index copies are asynchronous too
        nxt = self._stage_batch(order[:batch_size]) if steps > 0 else None
        for s in range(steps):
            cur = nxt
            if s + 1 < steps:
                nxt = self._stage_batch(order[(s + 1) * batch_size:(s + 2) * batch_size])
            yield self._ready(cur)

    def gather(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows `idx` (a long tensor on `order_device`) of X, on `device`."""
        return next(self.batches(idx, idx.numel(), 1))[0]

    def _stage_batch(self, rows: torch.Tensor):
        """Gather host `rows` into a pinned staging buffer and start its copy to the device."""
        i = self._turn
        self._turn ^= 1
        if self._events[i] is not None:
            self._events[i].synchronize()          # this buffer's previous copy has finished
        n = rows.numel()
        stage = self._stage[i]
        if stage is None or stage.shape[0] < n:
            stage = torch.empty((n,) + self._row_shape, dtype=self._dtype, pin_memory=self._cuda)
            self._stage[i] = stage
        buf = stage[:n]
        if self.mode == "host":
            torch.index_select(self.X, 0, rows, out=buf)
        else:
            order = torch.argsort(rows)             # read the memmap in file order
            buf[order] = torch.from_numpy(np.take(self.X, rows[order].numpy(), axis=0))
        self.staged += 1
        if not self._cuda:
            return buf.clone(), rows.clone(), None
        with torch.cuda.stream(self._copy_stream):
            x = buf.to(self.device, non_blocking=True)
            idx = rows.to(self.device, non_blocking=True)
            ev = torch.cuda.Event()
            ev.record(self._copy_stream)
        self._events[i] = ev
        return x, idx, ev

    def _ready(self, staged) -> tuple[torch.Tensor, torch.Tensor]:
        """Make the compute stream wait (on the GPU, not the host) for a staged batch's copy."""
        x, idx, ev = staged
        if ev is not None:
            main = torch.cuda.current_stream(self.device)
            main.wait_event(ev)
            x.record_stream(main)                   # memory made on the copy stream, used here
            idx.record_stream(main)
        return x, idx


def reflect(i: torch.Tensor, n: int) -> torch.Tensor:
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
        rows = reflect(rows + shift[:, :1], h)
        cols = reflect(cols + shift[:, 1:], w)
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
