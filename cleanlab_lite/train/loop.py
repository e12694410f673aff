"""The fold loop: place the data once, then for every (repeat, fold) re-initialise one model,
train it on the other folds, predict the held-out fold and write that fold's results atomically.

The files each fold writes, and when a finished fold is reused: `train.foldplan` and
`cleanlab_lite.run`.

One (repeat, fold) job is the plain function `train_fold(ds, job, cfg) -> FoldResult`; a backend
runs the jobs (`_run_local`: one after another with one shared model; `run_fold`: one job on its
own, in a Ray task or a fold process) and hands each result to `write_fold`, so every backend
writes the same files. `fold_trainer` bundles these for `foldplan`, which plans, fingerprints and
merges for every model kind.
"""
from __future__ import annotations

import math
import socket
import time
from dataclasses import asdict

import numpy as np
import torch

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.device import resolve_device
from cleanlab_lite.errors import RuntimeFailure
from cleanlab_lite.train import defaults, infer, losses, models, progress
from cleanlab_lite.train.runtime import (autocast, autocast_dtype, backend_flags, backend_settings,
                                         halving_batches, oom_as_failure, synchronize)
from cleanlab_lite.train.data import DeviceData, augment, feature_stats, image_stats
from cleanlab_lite.train.metrics import classification_metrics
from cleanlab_lite.train.foldplan import PER_CLASS_FOLD_MAX_K, FoldJob, FoldResult, Trainer
from cleanlab_lite.train.sampling import EpochSampler
from cleanlab_lite.train.threads import cpu_threads, limit_threads

PREDICT_BATCH_FACTOR = 2       # prediction batch = this x the training batch (halved on OOM)


def uses_tta(cfg: TrainConfig, hp: defaults.Hyper, image: bool) -> bool:
    """Flip test-time augmentation: images trained with flips, unless --no-tta."""
    return bool(image and cfg.tta and hp.flip)


class _Trainer:
    """Everything shared by the folds of one call: device, placed data, one model (compiled at
    most once), loss."""

    def __init__(self, ds, cfg: TrainConfig, device: torch.device, model_name: str,
                 hp: defaults.Hyper):
        self.ds, self.cfg, self.device = ds, cfg, device
        self.image = ds.kind == "image"
        self.K = ds.num_classes
        self.model_name, self.hp = model_name, hp
        # No-grad prediction keeps no activations for backward, so twice the training batch fits
        # where training did; halved on out-of-memory (see `predict`).
        self.predict_batch = PREDICT_BATCH_FACTOR * hp.batch_size
        self.amp = autocast_dtype(device, cfg.precision)
        self.channels_last = bool(cfg.channels_last and self.image)
        self.loss_fn = losses.per_sample_loss(cfg, self.K, device)
        losses.class_weights(ds.labels, self.K, cfg.class_weight, cfg.effective_number_beta)  # validate
        t = time.perf_counter()
        self.data = DeviceData(ds.X, ds.labels, ds.weights, device, gpu_share=gpu_share(cfg))
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

    def fit(self, train_rows: np.ndarray, seed: int, desc: str,
            val_rows: np.ndarray | None = None) -> tuple[float, int, np.ndarray | None]:
        """Train the shared model from scratch on `train_rows`; returns (last epoch loss, steps,
        the mean of the predictions for `val_rows` at the `snapshot_epochs`, or None)."""
        cfg, hp, dev = self.cfg, self.hp, self.device
        self.reinitialise(seed)
        stats = (image_stats(self.ds.X, train_rows, seed=seed) if self.image
                 else feature_stats(self.ds.X, train_rows))
        models.set_input_stats(self.model, *stats)
        cw_np = losses.class_weights(self.ds.labels[train_rows], self.K, cfg.class_weight,
                                     cfg.effective_number_beta)
        cw = None if str(cfg.class_weight).lower() == "none" else torch.as_tensor(cw_np, device=dev)
        gen = torch.Generator(device=dev)          # augmentation, on the batch's device
        gen.manual_seed(seed)
        # The epoch's order comes from its own host generator, so with one seed the order is the
        # same whether the data sit on the GPU or stream from the host, and whatever the
        # augmentation draws (one (M,) index copy per epoch when the data are resident).
        ogen = torch.Generator().manual_seed(seed)
        rows_t = torch.as_tensor(train_rows, dtype=torch.long)
        labels_t = torch.as_tensor(self.ds.labels[train_rows], dtype=torch.long)
        sampler = EpochSampler(rows_t, labels_t, self.K, cfg.balance, ogen)
        bs = min(hp.batch_size, len(sampler))
        steps_per_epoch = max(1, len(sampler) // bs)
        total = steps_per_epoch * hp.epochs
        opt = self._optimizer()
        warm = max(1, int(hp.warmup * total))
        self.model.train()
        step, last = 0, float("nan")
        snaps = snapshot_epochs(hp.epochs, cfg.snapshots or 1) if val_rows is not None else ()
        snap_sum = None
        bar = progress.bar(hp.epochs, desc, cfg.quiet)
        try:
            for epoch in range(1, hp.epochs + 1):
                running = torch.zeros((), device=dev)
                for x, idx in self.data.batches(sampler.epoch(), bs, steps_per_epoch):
                    lr = hp.lr * (step + 1) / warm if step < warm else hp.lr * (total - step) / max(1, total - warm)
                    for g in opt.param_groups:
                        g["lr"] = lr
                    loss = self._step(opt, x, idx, cw, gen)
                    running += loss.detach()
                    step += 1
                last = float(running) / steps_per_epoch
                bar.set_postfix(loss=f"{last:.3f}", refresh=False)
                bar.update(1)
                if epoch in snaps:
                    p = self.predict(val_rows)
                    snap_sum = p.astype(np.float64) if snap_sum is None else snap_sum + p
                    self.model.train()
        finally:
            bar.close()
        if not math.isfinite(last):
            raise RuntimeFailure(f"training diverged ({desc}: loss is {last}); lower --lr "
                                 f"(it was {hp.lr:g}) or use --precision fp32")
        mean = None if snap_sum is None else (snap_sum / len(snaps)).astype(np.float32)
        return last, total, mean

    def _optimizer(self) -> torch.optim.Optimizer:
        hp = self.hp
        decay = [p for p in self.model.parameters() if p.ndim > 1]
        no_decay = [p for p in self.model.parameters() if p.ndim <= 1]
        groups = [{"params": decay, "weight_decay": hp.weight_decay},
                  {"params": no_decay, "weight_decay": 0.0}]
        if hp.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=hp.lr, momentum=0.9, nesterov=True)
        return torch.optim.AdamW(groups, lr=hp.lr)

    def _inputs(self, x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
        """A gathered batch made ready for the model: augmented (when `gen`), float, layout."""
        if self.image and gen is not None:
            x = augment(x, self.hp.flip, self.hp.translate, gen)
        return infer.model_input(x, self.image, self.channels_last)

    def _batch(self, x: torch.Tensor, idx: torch.Tensor, gen):
        """(model input, given labels, per-sample weights or None) of a gathered batch."""
        return self._inputs(x, gen), self.data.y[idx], None if self.data.w is None else self.data.w[idx]

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        with autocast(self.device, self.amp):
            return self.forward(x).float()

    def _loss(self, x: torch.Tensor, idx: torch.Tensor, cw, gen) -> torch.Tensor:
        """The training loss of one gathered batch (`idx`: its dataset rows)."""
        x, y, sw = self._batch(x, idx, gen)
        return losses.weighted_mean(self.loss_fn(self._logits(x), y), y, cw, sw)

    def _step(self, opt, x: torch.Tensor, idx: torch.Tensor, cw, gen) -> torch.Tensor:
        loss = self._loss(x, idx, cw, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """Softmax probabilities (len(rows), K) float32, averaged with the mirrored image when
        flip augmentation and TTA are on. The batch is `predict_batch` rows, halved while the
        device runs out of memory."""
        probs, self.predict_batch = halving_batches(lambda bs: self._predict(rows, bs),
                                                    self.predict_batch, self.device)
        return probs

    @torch.no_grad()
    def _predict(self, rows: np.ndarray, bs: int) -> np.ndarray:
        """Every batch has `bs` rows (the last is padded by repeating its last row), so a
        compiled model and cuDNN see one prediction shape."""
        self.model.eval()
        n = rows.shape[0]
        padded = np.concatenate([rows, np.repeat(rows[-1:], -n % bs)])
        order = torch.as_tensor(padded, dtype=torch.long, device=self.data.order_device)
        batches = (self._inputs(x, None)
                   for x, _ in self.data.batches(order, bs, padded.shape[0] // bs))
        return infer.softmax_probs(self.forward, batches, device=self.device, amp=self.amp,
                                   tta=uses_tta(self.cfg, self.hp, self.image))[:n]


def gpu_share(cfg: TrainConfig) -> float:
    """The share of its GPU one fold may plan its data placement with: --gpus-per-fold when a
    Ray fold gets a fraction of a GPU (0.5: two folds share one), else the whole GPU."""
    share = cfg.gpus_per_fold if cfg.backend == "ray" else None
    return float(share) if share and 0 < share < 1 else 1.0


def planned_device_type(cfg: TrainConfig) -> str:
    """The device type ('cpu' | 'cuda') the folds will train on, known before any training
    because it picks the default hyperparameters: local, the resolved --device; ray, the
    workers' (`ray_backend.worker_device`: from the cluster's GPUs, not this process's)."""
    if cfg.backend != "ray":
        return torch.device(resolve_device(cfg.device)).type
    from cleanlab_lite.train import ray_backend

    return ray_backend.worker_device(cfg)


def resolve_hyper(ds, cfg: TrainConfig, folds: np.ndarray, device_type: str) -> tuple[str, defaults.Hyper]:
    """The model name and hyperparameters every fold of this call trains with. The batch size
    is capped by the largest training set over all repeats and folds, so a `--fold i` run and
    the later merge resolve the same values."""
    shape = tuple(ds.X.shape[1:])
    name = models.resolve_model_name(cfg.model, ds.kind, shape, pretrained=cfg.pretrained)
    n_train = max(int((f != i).sum()) for f in np.atleast_2d(folds) for i in range(cfg.folds))
    return name, defaults.resolve(cfg, name, device_type, shape, n_train)


def job_hyper(job: FoldJob) -> tuple[str, defaults.Hyper]:
    """The model name and hyperparameters `resolve_hyper` put into the job (and its fingerprint)."""
    r = dict(job.resolved)
    name = r.pop("model")
    return name, defaults.Hyper(**{**r, "widths": tuple(r["widths"])})


def snapshot_epochs(epochs: int, snapshots: int) -> tuple[int, ...]:
    """The epochs (1-based) after which the held-out rows are predicted for a snapshot ensemble:
    `snapshots` of them evenly spaced over the second half of training, the last epoch included
    (one snapshot: the last epoch only)."""
    n = max(1, min(int(snapshots), epochs))
    first = max(1, epochs - (epochs // 2) * (n > 1))
    return tuple(sorted({int(round(e)) for e in np.linspace(first, epochs, n)}))


def fold_trainer(ds, folds: np.ndarray, cfg: TrainConfig) -> Trainer:
    """The torch trainer for `ds` (see `choose.train_folds` for the arguments, the run-folder
    layout and the metrics): the model name and hyperparameters every fold trains with are
    resolved here, once, for the device the folds will run on."""
    if cfg.backend == "local":
        resolve_device(cfg.device)      # --device cuda without a GPU fails before any work
    device_type = planned_device_type(cfg)
    model_name, hyper = resolve_hyper(ds, cfg, folds, device_type)
    return Trainer(cfg, {"model": model_name, **asdict(hyper)}, run_fold, _run_local, write_fold,
                   device=device_type)


def _run_local(ds, cfg: TrainConfig, todo: list[FoldJob], finish) -> float:
    """The local backend: the jobs one after another in this process, on one shared model
    (compiled at most once). Returns the data/model preparation time in seconds."""
    device = torch.device(resolve_device(cfg.device))
    with limit_threads(cpu_threads(cfg, ds.X) if device.type == "cpu" else None):
        trainer = make_trainer(ds, cfg, device, todo[0])
        for job in todo:
            finish(job, train_fold(ds, job, cfg, trainer))
    return trainer.prepare_s


def run_fold(ds, job: FoldJob, cfg: TrainConfig) -> FoldResult:
    """One job on its own (a Ray task, a fold process): `train_fold` with `cpu_threads` threads
    (on Ray, --cpus-per-fold cores)."""
    cores = max(1, int(cfg.cpus_per_fold)) if cfg.backend == "ray" else None
    with limit_threads(cpu_threads(cfg, ds.X, cores=cores)):
        return train_fold(ds, job, cfg)


def make_trainer(ds, cfg: TrainConfig, device: torch.device, job: FoldJob) -> _Trainer:
    """Place the data and build the model for `job`'s resolved model and hyperparameters."""
    with oom_as_failure(f"placing {ds.X.nbytes / 1e9:.2f} GB of data and the "
                        f"{job.resolved['model']} model on {device}", device,
                        image=ds.kind == "image"):
        return _Trainer(ds, cfg, device, *job_hyper(job))


def train_fold(ds, job: FoldJob, cfg: TrainConfig, trainer: _Trainer | None = None) -> FoldResult:
    """Train job's model on its training rows and predict its held-out rows. A plain function of
    (data, fold indices, config): `trainer` (data and model already placed) is only a cache."""
    if trainer is None:
        trainer = make_trainer(ds, cfg, torch.device(resolve_device(cfg.device)), job)
    dev = trainer.device
    with backend_flags(backend_settings(dev, trainer.amp)):
        with oom_as_failure(f"training {job.desc} with batch size {trainer.hp.batch_size}", dev,
                            batch_size=trainer.hp.batch_size, image=trainer.image):
            synchronize(dev)
            t = time.perf_counter()
            snap_rows = job.val_rows if (cfg.snapshots or 1) > 1 else None
            last_loss, steps, snap = trainer.fit(job.train_rows, job.seed, job.desc, snap_rows)
            synchronize(dev)
        t_train = time.perf_counter() - t
        t = time.perf_counter()
        # predict halves its batch on out-of-memory; what is left is out of memory at 1 row
        with oom_as_failure(f"predicting {job.desc} one row at a time", dev, image=trainer.image):
            probs = trainer.predict(job.val_rows) if snap is None else snap
            if cfg.knn:
                from cleanlab_lite.train import feature_knn

                probs = feature_knn.blend(trainer, job.train_rows, job.val_rows, probs, cfg.knn)
        t_pred = time.perf_counter() - t
    K = ds.num_classes
    fm = classification_metrics(ds.labels[job.val_rows], probs.argmax(axis=1), ds.classes,
                                per_class=K <= PER_CLASS_FOLD_MAX_K)
    hp = trainer.hp
    rec = {"repeat": job.repeat, "fold": job.fold, "fingerprint": job.fingerprint,
           "model": trainer.model_name, "device": str(trainer.device), "node": socket.gethostname(),
           "threads": torch.get_num_threads() if trainer.device.type == "cpu" else None,
           "epochs": hp.epochs, "batch_size": hp.batch_size, "lr": hp.lr, "steps": steps,
           "final_train_loss": last_loss, "n_train": int(job.train_rows.size),
           "n_val": int(job.val_rows.size), "train_s": t_train, "predict_s": t_pred,
           "reused": False, **fm}
    state = {k_: v.detach().cpu() for k_, v in trainer.model.state_dict().items()}
    return FoldResult(rec, probs, state)


def write_fold(job: FoldJob, result: FoldResult) -> dict:
    """Write one fold's files atomically, its record last; returns the record (with 'probs')."""
    job.files.write(lambda tmp: torch.save(result.state, tmp), result.probs, job.val_rows,
                    result.record)
    return {**result.record, "probs": result.probs}


