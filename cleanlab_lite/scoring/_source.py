"""Where pred_probs come from, read one chunk of rows at a time.

A source is an in-memory array, a `.npy` file (read in chunks with positional reads into a
reused buffer, so the resident memory stays at a few chunks whatever the file size), or several
of either averaged row by row (an ensemble). Every pass of the scoring engine walks a source
with `map_chunks`, which runs chunks on a small thread pool (numpy releases the GIL) and returns
the per-chunk results in row order.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from cleanlab_lite.errors import PredProbsError

CHUNK_BYTES = 8 * 2**20     # target bytes of pred_probs per chunk (fits in L2/L3 per thread)
MAX_THREADS = 4             # worker threads per pass (capped by the CPU count)


class ArraySource:
    """pred_probs already in memory (or a user's np.memmap): chunks are views."""

    def __init__(self, array: np.ndarray, name: str = "pred_probs"):
        self.array = array
        self.name = name
        self.shape = tuple(array.shape)
        self.dtype = array.dtype

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.array[start:stop]


class NpyFileSource:
    """A C-ordered `.npy` file read in row chunks with `os.pread` (page cache, no full mapping)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = str(path)
        if not self.path.exists():
            raise PredProbsError(f"pred_probs file {path} not found; pass an existing .npy file")
        from cleanlab_lite.io import check_input_file

        check_input_file(self.path, "pred_probs file", PredProbsError)   # a folder or a FIFO
        try:
            with open(self.path, "rb") as f:
                version = np.lib.format.read_magic(f)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(f)
                self.offset = f.tell()
        except (ValueError, OSError) as e:
            raise PredProbsError(f"pred_probs file {path} is not a readable .npy file ({e}); "
                                 "save it with numpy.save") from None
        self.shape, self.dtype, self.fortran = tuple(shape), np.dtype(dtype), fortran
        self._fd = os.open(self.path, os.O_RDONLY)
        self._local = threading.local()
        self._mmap = None
        if fortran:  # rare: column-major file; fall back to a memory map with strided reads
            self._mmap = np.load(self.path, mmap_mode="r")

    def read(self, start: int, stop: int) -> np.ndarray:
        if self._mmap is not None:
            return np.ascontiguousarray(self._mmap[start:stop])
        k = self.shape[1] if len(self.shape) > 1 else 1
        row_bytes = k * self.dtype.itemsize
        n = stop - start
        buf = getattr(self._local, "buf", None)
        if buf is None or buf.size < n * k:
            buf = np.empty(n * k, dtype=self.dtype)
            self._local.buf = buf
        view = buf[: n * k]
        mv = memoryview(view).cast("B")
        want, got = n * row_bytes, 0
        while got < want:
            r = os.preadv(self._fd, [mv[got:]], self.offset + start * row_bytes + got)
            if r <= 0:
                raise PredProbsError(f"pred_probs file {self.path} is truncated at row {start}; "
                                     "rewrite it with numpy.save")
            got += r
        return view.reshape(n, k)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


class MeanSource:
    """The row-wise mean of several sources with the same shape (an ensemble of models/seeds)."""

    def __init__(self, sources: Sequence):
        self.sources = list(sources)
        first = self.sources[0]
        for s in self.sources[1:]:
            if s.shape != first.shape:
                raise PredProbsError(f"pred_probs {s.name} has shape {s.shape} but {first.name} has "
                                     f"{first.shape}; every ensemble member needs the same (N, K)")
        self.shape = first.shape
        self.dtype = np.result_type(*[s.dtype for s in self.sources], np.float32)
        self.name = " + ".join(s.name for s in self.sources)

    def read(self, start: int, stop: int) -> np.ndarray:
        acc = np.array(self.sources[0].read(start, stop), dtype=self.dtype, copy=True)
        for s in self.sources[1:]:
            acc += s.read(start, stop)
        acc /= len(self.sources)
        return acc


def as_source(pred_probs):
    """Wrap an array, a `.npy` path, or a list/tuple of those (averaged) as a source."""
    if isinstance(pred_probs, (ArraySource, NpyFileSource, MeanSource)):
        return pred_probs
    if isinstance(pred_probs, (list, tuple)):
        if len(pred_probs) == 0:
            raise PredProbsError("pred_probs is an empty list; pass at least one array or .npy file")
        if len(pred_probs) == 1:
            return as_source(pred_probs[0])
        return MeanSource([as_source(p) for p in pred_probs])
    if isinstance(pred_probs, (str, os.PathLike)):
        return NpyFileSource(pred_probs)
    arr = pred_probs if isinstance(pred_probs, np.ndarray) else np.asarray(pred_probs)
    return ArraySource(arr)


def chunk_rows_for(k: int, itemsize: int, chunk_rows: int | None = None) -> int:
    if chunk_rows:
        return max(1, int(chunk_rows))
    return max(256, CHUNK_BYTES // max(1, k * itemsize))


def map_chunks(source, fn: Callable[[np.ndarray, int, int], dict], *,
               chunk_rows: int | None = None, threads: int | None = None,
               rows: tuple[int, int] | None = None) -> list[dict]:
    """Run `fn(chunk, start, stop)` over row chunks of `source` (optionally only the row range
    `rows`); results in row order."""
    lo, hi = rows if rows is not None else (0, source.shape[0])
    k = source.shape[1] if len(source.shape) > 1 else 1
    step = chunk_rows_for(k, np.dtype(source.dtype).itemsize, chunk_rows)
    bounds = [(s, min(hi, s + step)) for s in range(lo, hi, step)]
    if threads is None:
        threads = min(MAX_THREADS, os.cpu_count() or 1)

    def task(b):
        start, stop = b
        return fn(source.read(start, stop), start, stop)

    if threads <= 1 or len(bounds) <= 1:
        return [task(b) for b in bounds]
    with ThreadPoolExecutor(max_workers=threads) as ex:
        return list(ex.map(task, bounds))


def concat(results: list[dict], key: str) -> np.ndarray:
    return np.concatenate([r[key] for r in results]) if results else np.empty(0)
