"""The Ray backend: every (repeat, fold) job becomes one Ray task.

The dataset (the decoded uint8 image cache, or the tabular/embedding matrix) goes to the object
store once (`ray.put`); every task reads it from there (zero-copy on the same node), runs the
trainer's per-fold function (`Trainer.run_fold`: `loop.run_fold` for torch models,
`sklearn_models.run_fold` for the scikit-learn ones: the local backend's `train_fold` with the
fold's threads from `threads.cpu_threads`) and returns the fold's
probabilities, model and metrics. The driver writes each result with the trainer's `write_fold` as
it arrives, so a run trained on Ray and one trained locally are interchangeable (resume, merge,
rank, check --manifest). Workers never read the driver's files. Nothing here imports torch, so a
scikit-learn run does not load it in the driver or in the tasks.

GPUs: a fold gets one GPU (--gpus-per-fold 1, the default on a cluster with GPUs) or a share of
one (0.5: two folds on one GPU, each planning its data placement with half its memory); never
more, since a fold trains on one device. A task that holds a GPU runs in a fresh worker process
(`max_calls=1`): CUDA reads CUDA_VISIBLE_DEVICES once per process, so a reused worker would stay
on the GPU it first saw and keep the previous fold's cached GPU memory. The workers' device and
hyperparameters follow the cluster's GPUs (`worker_device`), not the driver's: a head node
without a GPU still trains GPU workers with the GPU defaults.

Faults: a task whose worker or node dies, or that raises an unexpected exception, is retried up to
`cfg.max_retries` times by Ray. Errors that would repeat (bad input, out of memory, divergence)
are returned, not retried. A fold that still fails stops the run with a RuntimeFailure (exit 3)
naming it, after the other folds have finished and been written. Ctrl-C cancels the tasks still
running; finished folds stay written and a rerun trains only the missing ones.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.errors import ConfigError, RuntimeFailure, UserInputError
from cleanlab_lite.train.progress import say

INSTALL = "pip install 'clean-labels[ray]'"
_owned = False      # True while this module holds a Ray connection it made (and must close)


def import_ray():
    """The ray module, or a one-line error with the install command when it is missing."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--backend ray needs Ray, which is not installed here; install it with "
                          f"`{INSTALL}` or use --backend local") from None
    return ray


def check_options(cfg: TrainConfig) -> None:
    """Validate the Ray options before anything is written (ranges: config.RULES); a cluster
    address is connected to here, so an unreachable one fails first."""
    ray = import_ray()
    if cfg.gpus_per_fold and str(cfg.device).lower() == "cpu":
        raise ConfigError(f"--gpus-per-fold {cfg.gpus_per_fold:g} reserves GPUs that --device cpu "
                          f"does not use; drop one of the two options")
    if cfg.gpus_per_fold and cfg.gpus_per_fold > 1:
        raise ConfigError(f"--gpus-per-fold {cfg.gpus_per_fold:g}: a fold trains on one GPU, so "
                          f"more would be reserved and never used; pass 1 (or a fraction such as "
                          f"0.5 to share a GPU between folds)")
    if cfg.ray_address:
        _check_reachable(cfg.ray_address)
        _connect(ray, cfg)


@dataclass
class FoldFailure:
    """A fold that failed: its error's type and first line, and how many attempts were made."""
    kind: str
    message: str
    attempts: int = 1


def _fold_task(ds: Dataset, job, cfg: TrainConfig, run_fold: Callable):
    """Body of the Ray task: run_fold(ds, job, cfg) -> FoldResult in a worker (the trainer's
    `run_fold`; the task's cfg.cpus_per_fold are the cores its threads may use)."""
    import ray

    t = time.perf_counter()
    # X stays the read-only object-store buffer (zero-copy); the small label/weight/row vectors
    # are copied because torch wants writable memory for them.
    ds = replace(ds, labels=np.array(ds.labels),
                 weights=None if ds.weights is None else np.array(ds.weights))
    job = replace(job, train_rows=np.array(job.train_rows), val_rows=np.array(job.val_rows))
    try:
        result = run_fold(ds, job, cfg)
    except (UserInputError, RuntimeFailure) as e:     # would fail again: do not retry
        return FoldFailure(type(e).__name__, _first_line(e))
    result.record["gpu_ids"] = [str(g) for g in ray.get_gpu_ids()]
    result.record["task_s"] = time.perf_counter() - t
    return result


def _connect(ray, cfg: TrainConfig) -> None:
    """Join the Ray of this process, the cluster at cfg.ray_address, or start a local one (all
    of this machine's CPUs and GPUs); a connection made here is closed at the end of run_jobs."""
    global _owned
    if ray.is_initialized():
        return
    try:
        if cfg.ray_address:
            ray.init(address=cfg.ray_address, logging_level=logging.WARNING)
        else:
            ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, ValueError, RuntimeError) as e:
        where = f"at --ray-address {cfg.ray_address}" if cfg.ray_address else "locally"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"could not start or reach Ray {where} ({first}); check the address "
                          f"(`ray status` on the head node) or drop --ray-address") from None
    _owned = True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A host:port (or ray://host:port) address must accept a TCP connection: Ray itself keeps
    retrying an address where nothing listens for many minutes."""
    import socket

    host, sep, port = address.split("://")[-1].rpartition(":")
    if not sep or not port.isdigit():
        return      # "auto" and other forms: left to Ray
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise ConfigError(f"no Ray answers at --ray-address {address} ({e.strerror or e}); check "
                          f"the address (`ray status` on the head node) or drop --ray-address") from None


def worker_device(cfg: TrainConfig) -> str:
    """The device type ('cpu' | 'cuda') the Ray tasks will train on, from the options or, for
    --device auto without --gpus-per-fold, from whether the cluster has GPUs (connecting to it;
    the connection is kept for `run_jobs` and closed by `close`)."""
    device = str(cfg.device).lower()
    if device == "cpu" or cfg.gpus_per_fold == 0:
        return "cpu"
    if device.startswith("cuda") or (cfg.gpus_per_fold or 0) > 0:
        return "cuda"
    ray = import_ray()
    _connect(ray, cfg)
    return _resources(ray, cfg)[2]


def close() -> None:
    """Shut down the Ray connection this module made, if any."""
    global _owned
    if _owned:
        import ray

        ray.shutdown()
        _owned = False


def _resources(ray, cfg: TrainConfig) -> tuple[float, float, str]:
    """(CPUs, GPUs per task, worker device) for this cluster and config."""
    total_gpus = float(ray.cluster_resources().get("GPU", 0))
    device = str(cfg.device).lower()
    gpus = cfg.gpus_per_fold
    if gpus is None:
        gpus = 1.0 if total_gpus > 0 and device != "cpu" else 0.0
    if device.startswith("cuda") and gpus == 0:
        raise ConfigError(f"--device {cfg.device} with --backend ray needs GPUs per fold, but the "
                          f"cluster has {total_gpus:g} GPUs and --gpus-per-fold is {gpus:g}; "
                          f"pass --gpus-per-fold 1 on a GPU cluster or use --device cpu")
    fits = [n for n in ray.nodes() if n.get("Alive")
            and n["Resources"].get("CPU", 0) >= cfg.cpus_per_fold
            and n["Resources"].get("GPU", 0) >= gpus]
    if not fits:
        raise ConfigError(f"no Ray node has {cfg.cpus_per_fold:g} CPUs and {gpus:g} GPUs free for "
                          f"one fold (cluster: {ray.cluster_resources()}); lower --cpus-per-fold "
                          f"or --gpus-per-fold")
    return float(cfg.cpus_per_fold), float(gpus), ("cuda" if gpus > 0 else "cpu")


def run_jobs(ds: Dataset, cfg: TrainConfig, jobs: list, finish, run_fold: Callable) -> float:
    """Run `jobs` (foldplan.FoldJob) as Ray tasks, each one run_fold(ds, job, cfg) -> FoldResult
    (a module-level function, or a functools.partial of one, that Ray can pickle by reference);
    call finish(job, FoldResult) in the driver as each one completes. Returns the seconds spent
    putting the data into the object store."""
    from tqdm.auto import tqdm

    ray = import_ray()
    _connect(ray, cfg)
    try:
        cpus, gpus, device = _resources(ray, cfg)
        # "cuda", never "cuda:N": a task sees only the GPU Ray gave it, as cuda:0
        worker_cfg = replace(cfg, quiet=True, device=device)
        t = time.perf_counter()
        data = ray.put(Dataset(ds.kind, np.asarray(ds.X), ds.labels, ds.classes, ds.weights))
        put_s = time.perf_counter() - t
        task = fold_task(ray, cpus, gpus, cfg.max_retries)
        refs = {task.remote(data, job, worker_cfg, run_fold): job for job in jobs}
        failures = _collect(ray, refs, finish, cfg, tqdm)
    finally:
        close()
    if failures:
        kept = len(jobs) - len(failures)
        names = "; ".join(f"{job.desc} in {job.files.dir} ({f.kind}: {f.message}; "
                          f"{f.attempts} attempt{'s' if f.attempts > 1 else ''})" for job, f in failures)
        raise RuntimeFailure(f"{len(failures)} of {len(jobs)} folds failed on Ray: {names}; the "
                             f"{kept} finished folds are kept and rerunning the same command "
                             f"trains only the failed ones")
    return put_s


def fold_task(ray, cpus: float, gpus: float, max_retries: int):
    """The Ray remote function for one fold; a task holding a GPU runs in a fresh worker
    (max_calls=1, which Ray honours only when given to ray.remote, not to .options)."""
    return ray.remote(num_cpus=cpus, num_gpus=gpus, max_calls=1 if gpus > 0 else 0,
                      max_retries=max_retries, retry_exceptions=True)(_fold_task).options(
        name="clean-labels-fold")


def _collect(ray, refs: dict, finish, cfg: TrainConfig, tqdm) -> list:
    """Wait for every task, writing results as they come; one progress bar over folds.
    Returns [(job, FoldFailure)] for the folds that failed."""
    failures = []
    pending = list(refs)
    bar = tqdm(total=len(refs), desc="folds on Ray", unit="fold", file=sys.stderr,
               disable=cfg.quiet, dynamic_ncols=True)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            job = refs[ready[0]]
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayError as e:
                cause = getattr(e, "cause", None) or e     # a task's own exception, or Ray's
                result = FoldFailure(type(cause).__name__, _first_line(cause), cfg.max_retries + 1)
            if isinstance(result, FoldFailure):
                failures.append((job, result))
                say(f"{job.desc} failed: {result.kind}: {result.message}", cfg.quiet)
            else:
                finish(job, result)
                rec = result.record
                say(f"{job.desc} done on {rec['node']} ({rec['device']}, "
                    f"{rec['train_s'] + rec['predict_s']:.1f} s)", cfg.quiet)
            bar.update(1)
    except KeyboardInterrupt:   # a running task gets KeyboardInterrupt; its worker survives
        for ref in pending:
            ray.cancel(ref)
        raise
    finally:
        bar.close()
    return failures


def _first_line(e) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
