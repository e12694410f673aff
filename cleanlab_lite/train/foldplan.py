"""The fold plan shared by every fold trainer (the torch loop and the scikit-learn models): which
(repeat, fold) jobs a call covers, where each one's files go, the fingerprint that decides
whether a finished fold is reused, the backends that run the jobs, and the merge of the folds
into out-of-fold probabilities and metrics. No torch here, so scikit-learn training never
imports it.

Layout in the run folder (R = cfg.repeats):
    folds/fold-<i>/              when R == 1
    folds/repeat-<r>/fold-<i>/   when R > 1
each holding the fold's model (model.pt: a state_dict; model.joblib: a scikit-learn estimator),
oof_probs.npy (float32 (n_i, K)), oof_rows.npy (int64 (n_i,)) and, written last, done.json with
the fold's metrics and a fingerprint of the config, the data and the fold assignment. A rerun
reuses a fold only when its fingerprint matches.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from cleanlab_lite.config import TrainConfig, to_dict  # BACKENDS re-exported for loop
from cleanlab_lite.errors import ConfigError, DataError
from cleanlab_lite.run import FoldFiles, Run
from cleanlab_lite.train.metrics import classification_metrics
from cleanlab_lite.train import progress
from cleanlab_lite.train.progress import say

# Options that do not change what a fold learns; a fold trained with other values is reused.
NOT_FINGERPRINTED = ("fold", "quiet", "device", "compile", "repeats", "threads", "parallel_folds",
                     "backend", "ray_address", "gpus_per_fold", "cpus_per_fold", "max_retries")
PER_CLASS_FOLD_MAX_K = 100     # per-class metrics per fold only up to this many classes
HASH_FULL_BYTES = 1 << 29      # hash all of X below this size, else a fixed sample of rows


@dataclass
class TrainResult:
    """pred_probs: float32 (N, K) out-of-fold probabilities averaged over repeats (rows sum to 1),
    or None when only some folds were trained (cfg.fold); metrics: see `train_folds`."""
    pred_probs: np.ndarray | None
    metrics: dict
    message: str = ""
    fold_dirs: list[Path] = field(default_factory=list)


@dataclass
class FoldJob:
    """One (repeat, fold) to train: everything a worker needs besides the data and the config."""
    repeat: int
    fold: int
    files: FoldFiles          # folds/[repeat-<r>/]fold-<i>/: where the driver writes the result
    fingerprint: str
    train_rows: np.ndarray    # int64 (n_train,)
    val_rows: np.ndarray      # int64 (n_val,), the held-out rows it predicts
    seed: int
    desc: str                 # "fold 2/5" (", repeat 1/3" with repeats)
    resolved: dict = field(default_factory=dict)   # the trainer's resolved model and
                                                   # hyperparameters (in the fingerprint)


@dataclass
class FoldResult:
    """What one job returns: its metrics record, float32 (n_val, K) probabilities for the
    held-out rows, and the trained model (a CPU state_dict for torch models, the fitted estimator
    for scikit-learn ones), which the trainer's writer saves."""
    record: dict
    probs: np.ndarray
    state: Any


def fold_dir(run_dir: Path, repeat: int, fold: int, repeats: int) -> Path:
    """The folder of one (repeat, fold) in the run folder (see cleanlab_lite.run.Run.fold)."""
    return Run(run_dir).fold(repeat, fold, repeats).dir


def data_hash(ds) -> str:
    """A short hash of X (all of it when small, else an evenly spaced sample of rows), labels and
    weights."""
    h = hashlib.blake2b(digest_size=16)
    X = ds.X
    h.update(f"{ds.kind}|{X.shape}|{X.dtype}|{ds.num_classes}".encode())
    if X.nbytes <= HASH_FULL_BYTES:
        rows = np.arange(X.shape[0])
    else:
        rows = np.unique(np.linspace(0, X.shape[0] - 1, max(1, HASH_FULL_BYTES // X[:1].nbytes)).astype(np.int64))
    step = max(1, (1 << 26) // max(1, X[:1].nbytes))
    for s in range(0, rows.shape[0], step):
        h.update(np.ascontiguousarray(X[rows[s:s + step]]).tobytes())
    h.update(np.ascontiguousarray(ds.labels, dtype=np.int64).tobytes())
    if ds.weights is not None:
        h.update(np.ascontiguousarray(ds.weights, dtype=np.float32).tobytes())
    return h.hexdigest()


def _fingerprint(cfg: TrainConfig, dhash: str, fold_assign: np.ndarray, fold: int,
                 resolved: dict | None = None) -> str:
    """What a fold learns from: the options, the trainer's resolved settings (e.g. the CNN's
    widths and batch size, which depend on the device; the device name itself does not), the
    data and the fold assignment."""
    opts = {k: v for k, v in to_dict(cfg).items() if k not in NOT_FINGERPRINTED}
    if resolved:
        opts["resolved"] = resolved
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(opts, sort_keys=True, default=str).encode())
    h.update(dhash.encode())
    h.update(np.ascontiguousarray(fold_assign, dtype=np.int64).tobytes())
    h.update(str(fold).encode())
    return h.hexdigest()


def _seed(cfg: TrainConfig, repeat: int, fold: int) -> int:
    return int(np.random.SeedSequence([int(cfg.seed), repeat, fold]).generate_state(1)[0])


def _check_inputs(ds, folds: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    folds = np.asarray(folds)
    if folds.ndim == 1:
        folds = folds[None, :]
    if folds.shape != (cfg.repeats, ds.n):
        raise DataError(f"folds has shape {folds.shape}; expected (repeats={cfg.repeats}, N={ds.n})")
    if folds.min() < 0 or folds.max() >= cfg.folds:
        raise DataError(f"fold indices must be in 0..{cfg.folds - 1}; got {folds.min()}..{folds.max()}")
    if ds.kind == "image" and ds.X.ndim != 4:
        raise DataError(f"image data must be (N, C, H, W); got shape {ds.X.shape}")
    if ds.kind != "image" and ds.X.ndim != 2:
        raise DataError(f"{ds.kind} data must be (N, D); got shape {ds.X.shape}")
    if ds.weights is not None and (np.asarray(ds.weights) < 0).any():
        raise DataError("per-sample weights (--weight-col) must be >= 0")
    return folds


def _load_finished(d: FoldFiles, fingerprint: str, val_rows: np.ndarray) -> dict | None:
    """The fold's record if it finished with the same fingerprint and its files are intact."""
    rec = d.read_done()
    if rec is None or rec.get("fingerprint") != fingerprint:
        return None
    oof = d.read_oof()
    if oof is None:
        return None
    rows, probs = oof
    if not np.array_equal(rows, val_rows) or probs.shape[0] != rows.shape[0]:
        return None
    rec["probs"] = probs
    return rec


def make_plan(ds, folds: np.ndarray, cfg: TrainConfig, run_dir: Path, resolved: dict | None = None
              ) -> tuple[list[tuple[FoldJob, dict | None]], list[FoldJob]]:
    """Every (repeat, fold) this call covers (only cfg.fold when set) as (job, finished record or
    None), and the jobs left to train. `resolved`: the settings the trainer resolved for every
    job (JSON-able), carried by the jobs and part of their fingerprints."""
    folds = _check_inputs(ds, folds, cfg)
    run = Run(run_dir)
    R, k = cfg.repeats, cfg.folds
    wanted = [int(cfg.fold)] if cfg.fold is not None else list(range(k))
    dhash = data_hash(ds)

    plan: list[tuple[FoldJob, dict | None]] = []    # (job, finished record or None)
    for r in range(R):
        for i in wanted:
            val = np.flatnonzero(folds[r] == i)
            train = np.flatnonzero(folds[r] != i)
            if val.size == 0 or train.size == 0:
                raise DataError(f"fold {i} of repeat {r} has {val.size} held-out and {train.size} "
                                f"training rows; use fewer --folds")
            fp = _fingerprint(cfg, dhash, folds[r], i, resolved)
            d = run.fold(r, i, R)
            desc = f"fold {i + 1}/{k}" + (f" repeat {r + 1}/{R}" if R > 1 else "")
            job = FoldJob(r, i, d, fp, train, val, _seed(cfg, r, i), desc, dict(resolved or {}))
            plan.append((job, _load_finished(d, fp, val)))
    todo = [job for job, rec in plan if rec is None]
    return plan, todo



def _train(ds, todo: list[FoldJob], trainer: Trainer, finish, run_dir: Path) -> float:
    """Train `todo`: with --backend ray one Ray task per job (trainer.run_fold); locally in fold
    processes when more than one fold runs at once (`parallel`), else one after another here
    (trainer.run_local). Says what will run in one line first. Returns the preparation seconds
    and the number of folds trained at once (0 on Ray)."""
    cfg = trainer.cfg
    epochs = (trainer.resolved or {}).get("epochs")
    model = (trainer.resolved or {}).get("model") or cfg.model
    if cfg.backend == "ray":
        say(f"Training {model}: {len(todo)} of {cfg.folds * cfg.repeats} folds as Ray tasks, "
            f"{epochs or '-'} epochs each, --cpus-per-fold {cfg.cpus_per_fold:g}", cfg.quiet)
        from cleanlab_lite.train import ray_backend

        return ray_backend.run_jobs(ds, cfg, todo, finish, trainer.run_fold), 0
    from cleanlab_lite.train import parallel

    batch = (trainer.resolved or {}).get("batch_size")
    conc = parallel.concurrency(ds, cfg, len(todo), trainer.device, trainer.torch_model, batch)
    say(f"Training {model}: {len(todo)} of {cfg.folds * cfg.repeats} folds, {conc.n} at once, "
        f"{epochs or '-'} epochs each, on {trainer.device}, {conc.threads} CPU "
        f"thread{'s' if conc.threads > 1 else ''} per fold", cfg.quiet)
    total, unit = (len(todo) * epochs, "epoch") if epochs else (len(todo), "fold")
    with progress.board(total, f"{len(todo)} folds", cfg.quiet, unit) as board:
        def done(job: FoldJob, result: FoldResult) -> None:
            finish(job, result)
            if not epochs:       # no epoch bars (scikit-learn): the overall bar counts folds
                board.overall.update(1)

        if conc.n > 1:
            return parallel.run_jobs(ds, cfg, todo, done, trainer.run_fold, conc,
                                     Run(run_dir).shared_data_path), conc.n
        return trainer.run_local(ds, replace(cfg, threads=conc.threads), todo, done), 1


def check_backend(cfg: TrainConfig) -> None:
    """Validate the backend options up front, before anything is written."""
    if cfg.backend != "ray":
        for name in ("ray_address", "gpus_per_fold"):
            if getattr(cfg, name) is not None:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(cfg, name)} needs --backend ray; "
                                  f"add --backend ray or drop the option")
        return
    from cleanlab_lite.train import ray_backend

    ray_backend.check_options(cfg)


@dataclass
class Trainer:
    """How one kind of model trains its folds (`loop.fold_trainer` for torch models,
    `sklearn_models.fold_trainer` for scikit-learn ones); every backend runs jobs through it.

    cfg:       the config the folds train with
    resolved:  settings resolved for every job (JSON-able), carried by the jobs and fingerprinted
    run_fold:  run_fold(ds, job, cfg) -> FoldResult, one job on its own: a module-level function
               (or a functools.partial of one) that pickles by reference, for Ray tasks and fold
               processes; it sets its own thread count from cfg
    run_local: run_local(ds, cfg, todo, finish) -> preparation seconds: the jobs one after
               another in this process (finish(job, result) after each)
    write:     write(job, result) -> the fold's record (with 'probs'), after writing its files
    device:    the device type the folds train on ('cpu' | 'cuda')
    torch_model: a torch model (else scikit-learn): picks the thread rule and the memory estimate
    """
    cfg: TrainConfig
    resolved: dict | None
    run_fold: Callable[..., FoldResult]
    run_local: Callable[..., float]
    write: Callable[[FoldJob, FoldResult], dict]
    device: str = "cpu"
    torch_model: bool = True


def train(ds, folds: np.ndarray, run_dir: Path, trainer: Trainer, t0: float) -> TrainResult:
    """Plan the jobs, reuse the finished ones, train the rest with `trainer` on cfg.backend, and
    merge (see `choose.train_folds`)."""
    plan, todo = make_plan(ds, folds, trainer.cfg, run_dir, trainer.resolved)
    return run_plan(ds, plan, todo, t0, trainer, Path(run_dir))


def run_plan(ds, plan: list, todo: list[FoldJob], t0: float, trainer: Trainer,
             run_dir: Path) -> TrainResult:
    """Train the jobs in `todo` (`_train`), writing each result with trainer.write as it
    arrives; reuse the finished ones in `plan` ((job, record or None) pairs); merge everything
    into out-of-fold probabilities and metrics."""
    cfg = trainer.cfg
    R, k = cfg.repeats, cfg.folds
    records: dict[tuple[int, int], dict] = {}

    def finish(job: FoldJob, result: FoldResult) -> None:
        records[job.repeat, job.fold] = trainer.write(job, result)

    for job, rec in plan:
        if rec is not None:
            rec["reused"] = True
            records[job.repeat, job.fold] = rec
            say(f"{job.desc}: reusing finished fold in {job.files.dir}", cfg.quiet)
    for job in todo:
        if job.files.is_done():   # stale: drop the marker first so a crash cannot revive it
            say(f"{job.files.dir}: trained with other settings or data; training it again", cfg.quiet)
            job.files.clear_done()
    prepare_s, parallel = _train(ds, todo, trainer, finish, run_dir) if todo else (0.0, 0)

    per_fold, probs_sum = [], None
    if cfg.fold is None:
        probs_sum = np.zeros((ds.n, ds.num_classes), dtype=np.float64)
    for job, _ in plan:
        rec = records[job.repeat, job.fold]
        if probs_sum is not None:
            probs_sum[job.val_rows] += rec["probs"]
        per_fold.append({k_: v for k_, v in rec.items() if k_ not in ("probs", "fingerprint")})
    trained = [f for f in per_fold if not f["reused"]]
    first = trained[0] if trained else per_fold[0]
    devices = sorted({str(f["device"]) for f in (trained or per_fold) if f.get("device")})
    metrics = {
        "backend": cfg.backend, "model": first.get("model"), "device": ",".join(devices) or None,
        "threads": first.get("threads"), "epochs": first.get("epochs"),
        "batch_size": first.get("batch_size"), "lr": first.get("lr"),
        "loss": cfg.loss, "class_weight": cfg.class_weight, "balance": cfg.balance,
        "snapshots": cfg.snapshots, "label_smoothing": cfg.label_smoothing,
        "folds": k, "repeats": R, "parallel_folds": parallel,
        "trained_folds": len(todo), "reused_folds": len(plan) - len(todo),
        "timings": {"prepare_s": prepare_s, "train_s": sum(f["train_s"] for f in trained),
                    "predict_s": sum(f["predict_s"] for f in trained)},
        "per_fold": per_fold,
    }
    dirs = [job.files.dir for job, _ in plan]
    if cfg.fold is not None:
        msg = (f"trained fold {cfg.fold} only ({len(todo)} trained, {len(plan) - len(todo)} reused); "
               f"run train again without --fold to train the missing folds and merge")
        metrics["partial"] = True
        metrics["timings"]["total_s"] = time.perf_counter() - t0
        return TrainResult(None, metrics, msg, dirs)
    pred = (probs_sum / R).astype(np.float32)
    pred /= pred.sum(axis=1, keepdims=True)
    metrics["partial"] = False
    metrics["oof"] = classification_metrics(ds.labels, pred.argmax(axis=1), ds.classes)
    metrics["timings"]["total_s"] = time.perf_counter() - t0
    return TrainResult(pred, metrics, "", dirs)
