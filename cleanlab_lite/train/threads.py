"""CPU threads: how many threads one fold trains (or predicts) with on the CPU, and the context
that applies that count to torch and to the OpenMP/BLAS pools scikit-learn uses. No torch import
here: torch's pool is set only when torch is already loaded.

One meaning everywhere (torch loop, scikit-learn models, embedding, prediction, Ray tasks and
concurrent fold processes): `cpu_threads(cfg, X, torch_model=..., cores=...)` is the number of
threads ONE fold uses. `--threads N` fixes it; otherwise small work gets one thread (a second
one gains little and, on a busy machine, OpenMP threads waiting on each other made steps up to
100x slower, measured on 2 cores), and larger work gets every core it is given (`cores`: the
machine's available cores, divided among the folds running at once, or a Ray task's CPUs).

The process-wide setting that must come before torch or scikit-learn load OpenMP
(OMP_WAIT_POLICY=PASSIVE) is made once where a command starts (`cli.main`), not here.
"""
from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

SMALL_ROW_ELEMENTS = 1024          # torch models: rows of up to this many values (28x28 images,
                                   # tables) train on one thread (the digits CNN: +15% with two)
SMALL_TABLE_ELEMENTS = 5_000_000   # scikit-learn models: rows x features up to this run on one
                                   # thread (digits, hgb+logreg+knn: 37.9 s on 2 threads, 5.2 s on 1)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:       # not on Linux
        return os.cpu_count() or 1


def small_work(X: np.ndarray, torch_model: bool) -> bool:
    """True when a fold on X gains nothing from a second thread (see the module docstring)."""
    if torch_model:
        return int(np.prod(X.shape[1:])) <= SMALL_ROW_ELEMENTS
    return int(X.size) <= SMALL_TABLE_ELEMENTS


def cpu_threads(cfg, X: np.ndarray, *, torch_model: bool = True, cores: int | None = None) -> int:
    """Threads for one fold on the CPU: cfg.threads when set (>= 1; checked by config.RULES);
    else 1 for small work; else `cores` (default: every available core)."""
    if cfg.threads:
        return int(cfg.threads)
    if small_work(X, torch_model):
        return 1
    return max(1, int(cores if cores is not None else available_cores()))


@contextlib.contextmanager
def limit_threads(n: int | None):
    """Run a block with `n` threads in torch (when loaded) and in the OpenMP/BLAS pools
    (threadpoolctl); None leaves everything as it is. The previous values come back after."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    old = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(int(n))
    try:
        with threadpool_limits(limits=int(n)):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(old)
