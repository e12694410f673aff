"""The torch fold loop: place the data once, then for every (repeat, fold) re-initialise one
model, train it on the other folds, predict the held-out fold and write that fold's results
atomically (model.pt, oof_probs.npy, oof_rows.npy, done.json). The plan, the fingerprint that
decides reuse and the merge are in `foldplan`, shared with the scikit-learn models.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.errors import ConfigError, RuntimeFailure, UserInputError
from cleanlab_lite.train import defaults, foldplan, losses, models
from cleanlab_lite.train.data import DeviceData, augment, feature_stats, image_stats
from cleanlab_lite.train.foldplan import MARKER, FoldTask, TrainResult, fold_dir  # noqa: F401
from cleanlab_lite.train.sampling import EpochSampler

def resolve_device(name: str) -> torch.device:
    """auto -> cuda when available else cpu; cuda without a GPU is a user error."""
    name = str(name).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserInputError(f"--device {name} was requested but PyTorch sees no CUDA GPU here; "
                                 f"use --device cpu (or auto)")
        return torch.device(name)
    raise ConfigError(f"--device {name!r} is not known; use auto, cpu or cuda")


def _autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    p = str(precision).lower()
    if p == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    if p == "bf16":
        return torch.bfloat16
    if p == "fp32":
        return None
    raise ConfigError(f"--precision {precision!r} is not known; use auto, bf16 or fp32")


class _Trainer:
    """Everything shared by the folds of one call: device, placed data, one model (compiled at
    most once), loss."""

    def __init__(self, ds, cfg: TrainConfig, device: torch.device, n_train: int):
        self.ds, self.cfg, self.device = ds, cfg, device
        self.image = ds.kind == "image"
        self.K = ds.num_classes
        self.model_name = models.resolve_model_name(cfg.model, ds.kind, tuple(ds.X.shape[1:]))
        self.hp = defaults.resolve(cfg, self.model_name, device.type, tuple(ds.X.shape[1:]), n_train)
        self.amp = _autocast_dtype(device, cfg.precision)
        self.channels_last = bool(cfg.channels_last and self.image)
        self.loss_fn = losses.per_sample_loss(cfg, self.K, device)
        losses.class_weights(ds.labels, self.K, cfg.class_weight, cfg.effective_number_beta)  # validate
        t = time.perf_counter()
        self.data = DeviceData(ds.X, ds.labels, ds.weights, device)
        self.prepare_s = time.perf_counter() - t
        model = self._build()
        model = model.to(device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self.forward = torch.compile(model) if cfg.compile else model

    def _build(self):
        return models.build_model(self.model_name, tuple(self.ds.X.shape[1:]), self.K,
                                  hidden=self.cfg.hidden, widths=self.hp.widths,
                                  pretrained=self.cfg.pretrained)

    def reinitialise(self, seed: int) -> None:
        """Fresh weights for a fold, copied in place into the one live model (so a compiled
        model is compiled once): build the model on the CPU with the fold's seed (its own
        initialisation, pretrained weights reloaded) and load that state."""
        torch.manual_seed(seed)
        self.model.load_state_dict(self._build().state_dict())

    # -- one fold -----------------------------------------------------------------------------

    def fit(self, train_rows: np.ndarray, seed: int, desc: str) -> tuple[float, int]:
        """Train the shared model from scratch on `train_rows`; returns (last epoch loss, steps)."""
        cfg, hp, dev = self.cfg, self.hp, self.device
        self.reinitialise(seed)
        stats = (image_stats(self.ds.X, train_rows, seed=seed) if self.image
                 else feature_stats(self.ds.X, train_rows))
        models.set_input_stats(self.model, *stats)
        cw_np = losses.class_weights(self.ds.labels[train_rows], self.K, cfg.class_weight,
                                     cfg.effective_number_beta)
        cw = None if str(cfg.class_weight).lower() == "none" else torch.as_tensor(cw_np, device=dev)
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        rows_t = torch.as_tensor(train_rows, dtype=torch.long, device=dev)
        sampler = EpochSampler(rows_t, self.data.y[rows_t], self.K, cfg.balance, gen)
        bs = min(hp.batch_size, len(sampler))
        steps_per_epoch = max(1, len(sampler) // bs)
        total = steps_per_epoch * hp.epochs
        opt = self._optimizer()
        warm = max(1, int(hp.warmup * total))
        self.model.train()
        step, last = 0, float("nan")
        bar = _progress(hp.epochs, desc, cfg.quiet)
        try:
            for _ in range(hp.epochs):
                order = sampler.epoch()
                running = torch.zeros((), device=dev)
                for s in range(steps_per_epoch):
                    lr = hp.lr * (step + 1) / warm if step < warm else hp.lr * (total - step) / max(1, total - warm)
                    for g in opt.param_groups:
                        g["lr"] = lr
                    idx = order[s * bs:(s + 1) * bs]
                    loss = self._step(opt, idx, cw, gen)
                    running += loss.detach()
                    step += 1
                last = float(running) / steps_per_epoch
                bar.set_postfix(loss=f"{last:.3f}", refresh=False)
                bar.update(1)
        finally:
            bar.close()
        if not math.isfinite(last):
            raise RuntimeFailure(f"training diverged ({desc}: loss is {last}); lower --lr "
                                 f"(it was {hp.lr:g}) or use --precision fp32")
        return last, total

    def _optimizer(self) -> torch.optim.Optimizer:
        hp = self.hp
        decay = [p for p in self.model.parameters() if p.ndim > 1]
        no_decay = [p for p in self.model.parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": hp.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        if hp.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=hp.lr, momentum=0.9, nesterov=True)
        return torch.optim.AdamW(groups, lr=hp.lr)

    def _inputs(self, idx: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        x = self.data.gather(idx)
        if self.image:
            if gen is not None:
                x = augment(x, self.hp.flip, self.hp.translate, gen)
            x = x.float()
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _step(self, opt, idx: torch.Tensor, cw, gen) -> torch.Tensor:
        x = self._inputs(idx, gen)
        y = self.data.y[idx]
        sw = None if self.data.w is None else self.data.w[idx]
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            logits = self.forward(x)
        loss = losses.weighted_mean(self.loss_fn(logits.float(), y), y, cw, sw)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    @torch.no_grad()
    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Softmax probabilities (len(rows), K) float32, averaged with the mirrored image when
        flip augmentation and TTA are on."""
        self.model.eval()
        tta = self.image and self.cfg.tta and self.hp.flip
        bs = max(self.hp.batch_size, 1024)
        rows_t = torch.as_tensor(rows, dtype=torch.long, device=self.device)
        out = []
        for s in range(0, rows_t.numel(), bs):
            x = self._inputs(rows_t[s:s + bs], None)
            with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
                p = torch.softmax(self.forward(x).float(), dim=1)
                if tta:
                    p = 0.5 * (p + torch.softmax(self.forward(x.flip(-1)).float(), dim=1))
            out.append(p.float())
        probs = torch.cat(out).cpu().numpy().astype(np.float32)
        return probs / probs.sum(axis=1, keepdims=True)


SMALL_ROW_ELEMENTS = 1024     # rows up to this many values (28x28 images, tabular) train on 1 thread


def cpu_threads(cfg: TrainConfig, X: np.ndarray) -> int | None:
    """Threads for CPU training: cfg.threads when set; else 1 for small rows, where a second
    thread gains little (about 15% for the digits CNN) and an oversubscribed machine makes
    OpenMP threads wait on each other (100x slower steps measured); else None (torch default)."""
    if cfg.threads:
        if cfg.threads < 0:
            raise ConfigError(f"--threads {cfg.threads} must be >= 0 (0 = automatic)")
        return int(cfg.threads)
    per_row = int(np.prod(X.shape[1:]))
    return 1 if per_row <= SMALL_ROW_ELEMENTS else None


@contextlib.contextmanager
def _threads(n: int | None):
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _progress(total: int, desc: str, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="epoch", file=sys.stderr, disable=quiet, leave=False,
                dynamic_ncols=True)


def train_folds(ds, folds: np.ndarray, cfg: TrainConfig, run_dir: Path) -> TrainResult:
    """Train one model per (repeat, fold) and return out-of-fold probabilities and metrics.

    ds:    cleanlab_lite.data.dataset.Dataset (images uint8 (N, C, H, W); tabular float32 (N, D))
    folds: int (R, N) (or (N,) when R == 1), fold index of each row per repeat, 0..cfg.folds-1
    run_dir: results go to run_dir/folds/... (see module docstring); finished folds are reused.

    With cfg.fold = i only fold i (of every repeat) is trained and pred_probs is None; a later
    call without cfg.fold trains what is missing and merges.

    metrics: model, device, epochs, batch_size, lr, loss, folds, repeats; timings (prepare_s,
    train_s, predict_s, total_s for the work done in this call); per_fold: list of per-fold
    records (accuracy, balanced_accuracy, macro_f1, per_class when K <= 100, n_train, n_val,
    train_s, predict_s, reused); oof: the same measures over all rows against the given labels.
    """
    t0 = time.perf_counter()
    plan = foldplan.make_plan(ds, folds, cfg, run_dir)
    device = resolve_device(cfg.device)
    threads = cpu_threads(cfg, ds.X) if device.type == "cpu" else None
    with _threads(threads):
        return _run_plan(ds, cfg, device, plan, t0)


def _run_plan(ds, cfg: TrainConfig, device: torch.device, plan: list[FoldTask], t0: float) -> TrainResult:
    todo = [t for t in plan if t.record is None]
    trainer = None
    if todo:
        try:
            trainer = _Trainer(ds, cfg, device, n_train=max(t.train.size for t in todo))
        except torch.cuda.OutOfMemoryError:
            raise RuntimeFailure("CUDA ran out of memory while placing the data and model on the "
                                 "GPU; use a smaller --image-size or --model, or --device cpu") from None
    hp = trainer.hp if trainer else None
    info = {"model": trainer.model_name if trainer else None, "device": str(device),
            "threads": torch.get_num_threads() if device.type == "cpu" else None,
            "epochs": hp.epochs if hp else None, "batch_size": hp.batch_size if hp else None,
            "lr": hp.lr if hp else None, "prepare_s": trainer.prepare_s if trainer else 0.0}

    def train_one(t: FoldTask) -> dict:
        return _train_one(trainer, ds, t.dir, t.fingerprint, t.repeat, t.fold, t.train, t.val,
                          t.seed, t.desc)

    return foldplan.run_plan(ds, cfg, plan, train_one, info, t0)


def _train_one(trainer: _Trainer, ds, d: Path, fp: str, r: int, i: int, train: np.ndarray,
               val: np.ndarray, seed: int, desc: str) -> dict:
    """Train, predict and write one fold; returns its record (with 'probs')."""
    try:
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        last_loss, steps = trainer.fit(train, seed, desc)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        t_train = time.perf_counter() - t
        t = time.perf_counter()
        probs = trainer.predict(val)
        t_pred = time.perf_counter() - t
    except torch.cuda.OutOfMemoryError:
        raise RuntimeFailure(
            f"CUDA ran out of memory in {desc} with batch size {trainer.hp.batch_size}; "
            f"pass a smaller --batch-size (e.g. {max(1, trainer.hp.batch_size // 2)}), a smaller "
            f"--image-size or --model, or --device cpu") from None
    hp = trainer.hp
    task = FoldTask(r, i, d, fp, train, val, seed, desc, None)
    info = {"model": trainer.model_name, "device": str(trainer.device), "epochs": hp.epochs,
            "batch_size": hp.batch_size, "lr": hp.lr, "steps": steps, "final_train_loss": last_loss}
    rec = foldplan.fold_record(ds, task, probs, info, t_train, t_pred)
    state = {k_: v.detach().cpu() for k_, v in trainer.model.state_dict().items()}
    return foldplan.write_fold(task, rec, probs, lambda tmp: torch.save(state, tmp), "model.pt")
