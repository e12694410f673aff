"""The fold plan shared by every fold trainer (torch networks and scikit-learn models): which
(repeat, fold) pairs to train, where each one's files go, the fingerprint that decides whether a
finished fold is reused, the atomic write of one fold, and the merge of the folds into
out-of-fold probabilities and metrics. No torch here, so scikit-learn training never imports it.

Layout in the run folder (R = cfg.repeats):
    folds/fold-<i>/              when R == 1
    folds/repeat-<r>/fold-<i>/   when R > 1
each holding the fold's model file, oof_probs.npy (float32 (n_i, K)), oof_rows.npy (int64 (n_i,))
and, written last, done.json with the fold's metrics and a fingerprint of the config, the data and
the fold assignment. A rerun reuses a fold only when its fingerprint matches.
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from cleanlab_lite import io
from cleanlab_lite.config import TrainConfig, to_dict
from cleanlab_lite.errors import ConfigError, DataError
from cleanlab_lite.train.metrics import classification_metrics

MARKER = "done.json"
# Options that do not change what a fold learns; a fold trained with other values is reused.
NOT_FINGERPRINTED = ("fold", "quiet", "device", "compile", "repeats", "threads")
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
class FoldTask:
    """One (repeat, fold) to train or reuse. record: the finished fold's done.json (with
    'probs'), or None when it must be trained."""
    repeat: int
    fold: int
    dir: Path
    fingerprint: str
    train: np.ndarray      # int64 row numbers the model learns from
    val: np.ndarray        # int64 row numbers it predicts
    seed: int
    desc: str
    record: dict | None


def fold_dir(run_dir: Path, repeat: int, fold: int, repeats: int) -> Path:
    base = Path(run_dir) / "folds"
    if repeats > 1:
        base = base / f"repeat-{repeat}"
    return base / f"fold-{fold}"


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


def fingerprint(cfg: TrainConfig, dhash: str, fold_assign: np.ndarray, fold: int) -> str:
    opts = {k: v for k, v in to_dict(cfg).items() if k not in NOT_FINGERPRINTED}
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps(opts, sort_keys=True, default=str).encode())
    h.update(dhash.encode())
    h.update(np.ascontiguousarray(fold_assign, dtype=np.int64).tobytes())
    h.update(str(fold).encode())
    return h.hexdigest()


def fold_seed(cfg: TrainConfig, repeat: int, fold: int) -> int:
    return int(np.random.SeedSequence([int(cfg.seed), repeat, fold]).generate_state(1)[0])


def check_inputs(ds, folds: np.ndarray, cfg: TrainConfig) -> np.ndarray:
    """folds as (R, N), after checking it and the data against cfg."""
    folds = np.asarray(folds)
    if folds.ndim == 1:
        folds = folds[None, :]
    if folds.shape != (cfg.repeats, ds.n):
        raise DataError(f"folds has shape {folds.shape}; expected (repeats={cfg.repeats}, N={ds.n})")
    if folds.min() < 0 or folds.max() >= cfg.folds:
        raise DataError(f"fold indices must be in 0..{cfg.folds - 1}; got {folds.min()}..{folds.max()}")
    if cfg.fold is not None and not 0 <= int(cfg.fold) < cfg.folds:
        raise ConfigError(f"--fold {cfg.fold} is out of range; use 0..{cfg.folds - 1} with --folds {cfg.folds}")
    if ds.kind == "image" and ds.X.ndim != 4:
        raise DataError(f"image data must be (N, C, H, W); got shape {ds.X.shape}")
    if ds.kind != "image" and ds.X.ndim != 2:
        raise DataError(f"{ds.kind} data must be (N, D); got shape {ds.X.shape}")
    if ds.weights is not None and (np.asarray(ds.weights) < 0).any():
        raise DataError("per-sample weights (--weight-col) must be >= 0")
    return folds


def load_finished(d: Path, fp: str, val_rows: np.ndarray) -> dict | None:
    """The fold's record if it finished with the same fingerprint and its files are intact."""
    marker = d / MARKER
    if not marker.is_file():
        return None
    try:
        rec = io.read_json(marker)
        if rec.get("fingerprint") != fp:
            return None
        rows = np.load(d / "oof_rows.npy")
        probs = np.load(d / "oof_probs.npy")
    except (OSError, ValueError, json.JSONDecodeError):
        return None
    if not np.array_equal(rows, val_rows) or probs.shape[0] != rows.shape[0]:
        return None
    rec["probs"] = probs
    return rec


def make_plan(ds, folds: np.ndarray, cfg: TrainConfig, run_dir: Path) -> list[FoldTask]:
    """Every (repeat, fold) this call covers (only cfg.fold when set), with finished ones loaded."""
    folds = check_inputs(ds, folds, cfg)
    R, k = cfg.repeats, cfg.folds
    wanted = [int(cfg.fold)] if cfg.fold is not None else list(range(k))
    dhash = data_hash(ds)
    plan = []
    for r in range(R):
        for i in wanted:
            val = np.flatnonzero(folds[r] == i)
            train = np.flatnonzero(folds[r] != i)
            if val.size == 0 or train.size == 0:
                raise DataError(f"fold {i} of repeat {r} has {val.size} held-out and {train.size} "
                                f"training rows; use fewer --folds")
            fp = fingerprint(cfg, dhash, folds[r], i)
            d = fold_dir(run_dir, r, i, R)
            desc = f"fold {i + 1}/{k}" + (f" repeat {r + 1}/{R}" if R > 1 else "")
            plan.append(FoldTask(r, i, d, fp, train, val, fold_seed(cfg, r, i), desc,
                                 load_finished(d, fp, val)))
    return plan


def say(msg: str, quiet: bool) -> None:
    if not quiet:
        from tqdm.auto import tqdm

        tqdm.write(msg, file=sys.stderr)


def fold_record(ds, task: FoldTask, probs: np.ndarray, info: dict, train_s: float,
                predict_s: float) -> dict:
    """done.json's content for a trained fold: `info` (model, device, hyperparameters...),
    sizes, timings and its metrics against the given labels."""
    K = ds.num_classes
    fm = classification_metrics(ds.labels[task.val], probs.argmax(axis=1), ds.classes,
                                per_class=K <= PER_CLASS_FOLD_MAX_K)
    return {"repeat": task.repeat, "fold": task.fold, "fingerprint": task.fingerprint, **info,
            "n_train": int(task.train.size), "n_val": int(task.val.size),
            "train_s": train_s, "predict_s": predict_s, **fm}


def write_fold(task: FoldTask, rec: dict, probs: np.ndarray, save_model: Callable[[Path], None],
               model_name: str) -> dict:
    """Write the fold's model (save_model(tmp_path)), probabilities, rows and, last, its marker,
    all atomically; returns rec with 'probs'."""
    d = task.dir
    with io.atomic_path(d / model_name) as tmp:
        save_model(tmp)
    io.write_npy(d / "oof_probs.npy", probs)
    io.write_npy(d / "oof_rows.npy", task.val.astype(np.int64))
    io.write_json(d / MARKER, rec)     # last: its presence means the fold is complete
    rec["probs"] = probs
    return rec


def run_plan(ds, cfg: TrainConfig, plan: list[FoldTask], train_one: Callable[[FoldTask], dict],
             info: dict, t0: float) -> TrainResult:
    """Train every task without a finished record (train_one returns its record with 'probs',
    'train_s' and 'predict_s'), reuse the others, and merge.

    info: the call's model, device, threads, epochs, batch_size, lr for metrics.json (missing
    values are taken from the first reused fold when nothing was trained)."""
    R, k = cfg.repeats, cfg.folds
    todo = [t for t in plan if t.record is None]
    per_fold, train_s, predict_s = [], 0.0, 0.0
    probs_sum = np.zeros((ds.n, ds.num_classes), dtype=np.float64) if cfg.fold is None else None
    for task in plan:
        rec = task.record
        if rec is None:
            if (task.dir / MARKER).exists():   # stale: drop the marker first so a crash cannot revive it
                say(f"{task.dir}: trained with other settings or data; training it again", cfg.quiet)
                (task.dir / MARKER).unlink()
            rec = train_one(task)
            train_s += rec["train_s"]
            predict_s += rec["predict_s"]
            rec["reused"] = False
        else:
            rec["reused"] = True
            say(f"{task.desc}: reusing finished fold in {task.dir}", cfg.quiet)
        if probs_sum is not None:
            probs_sum[task.val] += rec["probs"]
        per_fold.append({k_: v for k_, v in rec.items() if k_ not in ("probs", "fingerprint")})
    first = plan[0].record or {}
    metrics = {name: (info[name] if info.get(name) is not None else first.get(name))
               for name in ("model", "device", "threads", "epochs", "batch_size", "lr")}
    metrics.update({
        "loss": cfg.loss, "class_weight": cfg.class_weight, "balance": cfg.balance,
        "folds": k, "repeats": R,
        "trained_folds": len(todo), "reused_folds": len(plan) - len(todo),
        "timings": {"prepare_s": info.get("prepare_s", 0.0), "train_s": train_s,
                    "predict_s": predict_s},
        "per_fold": per_fold,
    })
    dirs = [t.dir for t in plan]
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
