"""Folds at once on one machine: every (repeat, fold) job in a fold process of its own, the
cores split among them. No torch here (the fold processes import what their trainer needs).

How many at once (`concurrency`): `--parallel-folds N`, or 0 (auto): on the CPU, image data of
at least AUTO_MIN_VALUES values, the count that leaves no core idle (`auto_count`: one fold per
core, or every fold at once sharing the cores when the folds do not divide evenly over them;
measured on 10,000 MNIST images, 5 folds on 2 cores: all 5 at once 0.542x the one-after-another
wall, 2 at once 0.675x), as many as the free memory holds; elsewhere one (a fold process takes
seconds to start, longer than a small dataset or a table takes to train, and on a GPU longer
than the default CNN takes to train all its folds). N > 1 on a GPU runs N folds on it at once
(worth it when one small model leaves the GPU mostly idle); each process places its own copy of
the data there.

The data is shared, not copied: the decoded images are already a memory-mapped file in the run
cache (anything else is written once to one, `Run.shared_data_path`), and every fold process
maps that file copy-on-write, so the operating system keeps one copy in memory for all of them.

Each process trains with the trainer's own `run_fold(ds, job, cfg)`: the same function of the
same inputs as the one-after-another path, so for the same seed and the same threads per fold
the out-of-fold probabilities are bit-identical. The driver writes every fold as it arrives
(resume, `--fold` and the run folder work as before) and draws one bar per running fold under
an overall bar with the time left.
"""
from __future__ import annotations

import mmap
import os
import pickle
import signal
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.errors import ConfigError, RuntimeFailure
from cleanlab_lite.io import available_ram
from cleanlab_lite.train import progress
from cleanlab_lite.train.threads import available_cores, cpu_threads

# The memory one fold process needs beyond the shared data: torch itself, the model and optimizer
# (TORCH_PROCESS_BYTES: the peak of a fold process training the MNIST CNN at batch 128 was
# 1,217 MiB, `benchmarks/bench_recipe.py concurrency`, docs/training.md) plus a batch's
# activations, which grow with the batch and the image size; a scikit-learn model: the library,
# the model and a copy of the training rows.
TORCH_PROCESS_BYTES = 1280 << 20
SKLEARN_PROCESS_BYTES = 300 << 20
ACTIVATION_BYTES_PER_VALUE = 64     # activation bytes per input value of a training batch
MEMORY_HEADROOM = 0.9               # use at most this share of the available memory
MAX_FOLDS_PER_CORE = 4             # auto: fold processes sharing one core at most (memory, switches)
AUTO_MIN_VALUES = 1_000_000         # auto: image data with at least this many values (N x C x H x W;
                                    # 1,300 MNIST images): smaller trains sooner than processes start


@dataclass(frozen=True)
class Concurrency:
    """n folds at once, `threads` CPU threads each."""
    n: int
    threads: int


def fold_process_bytes(ds, torch_model: bool, batch_size: int | None) -> int:
    """The memory one fold process needs beyond the shared data (see the constants above)."""
    if not torch_model:
        return SKLEARN_PROCESS_BYTES + int(ds.X.nbytes)     # a fold copies its training rows
    per_row = int(np.prod(ds.X.shape[1:]))
    return TORCH_PROCESS_BYTES + ACTIVATION_BYTES_PER_VALUE * per_row * int(batch_size or 256)


def concurrency(ds, cfg: TrainConfig, n_jobs: int, device_type: str, torch_model: bool,
                batch_size: int | None = None) -> Concurrency:
    """How many of `n_jobs` folds to train at once and with how many threads each (see the module
    docstring). An asked-for N that the free memory cannot hold is a ConfigError (exit 2)."""
    cores = available_cores()
    asked = int(cfg.parallel_folds)
    fits = n_jobs
    if device_type == "cpu":
        per = fold_process_bytes(ds, torch_model, batch_size)
        free = int(available_ram() * MEMORY_HEADROOM)
        fits = max(1, free // per)
        if asked > 1 and min(asked, n_jobs) > fits:
            fix = "1 (one fold at a time)" if fits == 1 else f"{fits} or fewer"
            n = min(asked, n_jobs)
            raise ConfigError(
                f"--parallel-folds {asked} needs about {n * per / 1e9:.1f} GB of memory ({n} fold "
                f"processes of about {per / 1e9:.2f} GB) but {free / 1e9:.1f} GB is available; use "
                f"--parallel-folds {fix}, or free memory")
    if asked == 0:
        auto = (ds.kind == "image" and device_type == "cpu" and cfg.backend == "local"
                and ds.X.size >= AUTO_MIN_VALUES)
        n = auto_count(n_jobs, cores, fits) if auto else 1
    else:
        n = min(asked, n_jobs)
    n = max(1, n)
    if n > 1 and device_type == "cuda":
        _check_gpu_memory(ds, n, asked)
    return Concurrency(n, cpu_threads(cfg, ds.X, torch_model=torch_model, cores=max(1, cores // n)))


def auto_count(jobs: int, cores: int, fits: int) -> int:
    """The number of fold processes that trains `jobs` equal folds soonest on `cores` cores, at
    most `fits` (memory) and MAX_FOLDS_PER_CORE per core. Up to one per core when that is all
    the jobs; beyond, n processes share the cores and take ceil(jobs / n) rounds of n / cores
    fold-times each, so the count with the fewest idle core-rounds wins (the smallest on a tie):
    5 folds on 2 cores run all 5 at once (2.5 fold-times) rather than 2 + 2 + 1 (3 fold-times,
    one core idle in the last); 10 folds on 2 cores run 2 at once."""
    top = max(1, min(jobs, fits, MAX_FOLDS_PER_CORE * cores))
    if top <= cores:
        return top
    return min(range(cores, top + 1), key=lambda n: (-(-jobs // n) * n, n))


def _check_gpu_memory(ds, n: int, asked: int) -> None:
    """n fold processes on one GPU each place the data: refuse (exit 2) when n copies and 1 GB per
    process for the model and activations do not fit in the GPU's free memory."""
    import torch

    free, _ = torch.cuda.mem_get_info()
    need = n * (int(ds.X.nbytes) + (1 << 30))
    if need > free:
        raise ConfigError(f"--parallel-folds {asked} on the GPU needs about {need / 1e9:.1f} GB "
                          f"({n} copies of the data and the models) but {free / 1e9:.1f} GB is "
                          f"free; use --parallel-folds 1")


# -- the shared data -----------------------------------------------------------------------------

@dataclass
class SharedData:
    """Where a fold process finds the dataset: X as a file mapped copy-on-write, the rest inline."""
    path: str
    dtype: str
    shape: tuple
    offset: int
    kind: str
    labels: np.ndarray
    classes: list
    weights: np.ndarray | None
    feature_names: list | None

    def open(self) -> Dataset:
        X = np.memmap(self.path, dtype=self.dtype, mode="c", shape=self.shape, offset=self.offset)
        return Dataset(self.kind, np.asarray(X), self.labels, self.classes, self.weights,
                       feature_names=self.feature_names)


def share(ds: Dataset, scratch: Path) -> tuple[SharedData, Path | None]:
    """ds.X as a file the fold processes can map: its own file when it is a whole memory map (the
    decode cache), else written once to `scratch` (returned, to be removed after)."""
    X = ds.X
    written = None
    if isinstance(X, np.memmap) and isinstance(X.base, mmap.mmap) and X.flags.c_contiguous:
        path, offset = str(X.filename), int(X.offset)
    else:
        from cleanlab_lite.io import write_npy

        scratch.parent.mkdir(parents=True, exist_ok=True)
        write_npy(scratch, np.ascontiguousarray(X))
        X = np.load(scratch, mmap_mode="r")
        path, offset, written = str(scratch), int(X.offset), scratch
    return SharedData(path, X.dtype.str, tuple(X.shape), offset, ds.kind, np.asarray(ds.labels),
                      list(ds.classes), ds.weights, ds.feature_names), written


# -- the fold processes --------------------------------------------------------------------------

_data: Dataset | None = None     # in a fold process: the shared dataset


def _start(shared: SharedData, queue, driver: int) -> None:
    """A fold process's start: Ctrl-C is the driver's to handle; bars go to the driver; the
    process ends itself when the driver is gone (killed, not interrupted)."""
    global _data
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(driver,), daemon=True).start()
    progress.set_sink(queue)
    _data = shared.open()


def _exit_with(driver: int, every_s: float = 1.0) -> None:
    """End this process as soon as its parent is no longer `driver` (the driver died)."""
    import time

    while os.getppid() == driver:
        time.sleep(every_s)
    os._exit(1)


def _fold(job, cfg: TrainConfig, run_fold: Callable) -> bytes:
    """One job in a fold process; the result pickled here (torch tensors by value)."""
    return pickle.dumps(run_fold(_data, job, cfg), protocol=pickle.HIGHEST_PROTOCOL)


def run_jobs(ds: Dataset, cfg: TrainConfig, todo: list, finish, run_fold: Callable,
             conc: Concurrency, scratch: Path) -> float:
    """Train `todo` in conc.n fold processes with conc.threads threads each; finish(job, result)
    in this process as each one completes. Returns the seconds spent sharing the data. A fold that
    fails stops the others (the finished ones stay written); so does Ctrl-C."""
    import multiprocessing as mp
    import time
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    t = time.perf_counter()
    shared, written = share(ds, scratch)
    share_s = time.perf_counter() - t
    ctx = mp.get_context("spawn")     # no fork of a process that may hold OpenMP or CUDA state
    queue = ctx.Queue()
    drawer = threading.Thread(target=_draw, args=(queue,), daemon=True)
    drawer.start()
    fold_cfg = replace(cfg, threads=conc.threads)
    pool = ProcessPoolExecutor(conc.n, mp_context=ctx, initializer=_start,
                               initargs=(shared, queue, os.getpid()))
    try:
        pending = {pool.submit(_fold, job, fold_cfg, run_fold): job for job in todo}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                job = pending.pop(fut)
                try:
                    result = pickle.loads(fut.result())
                except BrokenProcessPool:
                    raise RuntimeFailure(
                        f"a fold process died while training {job.desc} (out of memory?); the "
                        f"finished folds are kept: rerun the same command with --parallel-folds "
                        f"1 to train the rest one at a time") from None
                finish(job, result)
    except BaseException:
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        queue.put(None)
        drawer.join(timeout=5)
        if written is not None:
            written.unlink(missing_ok=True)
    return share_s


def _stop(pool) -> None:
    """Stop every fold process now (a failed fold or Ctrl-C): nothing they hold is kept."""
    for p in list(getattr(pool, "_processes", {}).values()):   # the executor has no public kill
        p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _draw(queue) -> None:
    """Pass the fold processes' bar updates to this process's board until None arrives."""
    while True:
        msg = queue.get()
        if msg is None:
            return
        board = progress.current()
        if board is not None:
            board.handle(msg)
