"""The fold ensemble: the mean of a run's k fold models' probabilities on any rows.

No fold model has seen a row that is not in the run, so for a new row the mean of the k models
is an honest out-of-sample prediction (and the average of k models is steadier than any one).
Each model is rebuilt exactly as training built it (model name, input shape, hidden width, CNN
widths for the training device) and loaded from RUN/folds/.../model.pt, whose Normalize buffers
hold that fold's input statistics; images are predicted in the training precision with the same
flip TTA. Rows go through the trainer's data placement in batches, on CPU or GPU.

    from cleanlab_lite.predict import FoldEnsemble, predict_manifest
    probs = FoldEnsemble.load("run1").predict(X)          # X as the run's Dataset.X: (n, ...) -> (n, K)
    res = predict_manifest("run1", "new.csv", out="new_probs.npy")
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.like_run import run_configs
from cleanlab_lite.errors import DataError, RunFolderError
from cleanlab_lite.io import write_npy
from cleanlab_lite.run import FoldFiles, Run

PREDICT_BATCH = 1024          # rows per forward pass (GPU memory use is about that of training)


@dataclass
class FoldModel:
    files: FoldFiles
    record: dict                  # the fold's done.json (model, device, n_train, ...)


@dataclass
class FoldEnsemble:
    """Every finished fold model of a run (all repeats), ready to predict rows shaped like the
    run's Dataset.X."""
    run: Path
    kind: str                     # image | tabular | embedding
    shape: tuple[int, ...]        # X.shape without N
    num_classes: int
    cfg: TrainConfig
    folds: list[FoldModel]

    @classmethod
    def load(cls, run: str | Path) -> "FoldEnsemble":
        """The run's fold models; a missing or unfinished one is a RunFolderError (exit 2)."""
        import cleanlab_lite.train  # noqa: F401  (first: sets OMP_WAIT_POLICY before torch loads)

        run = Path(run)
        resolved, data_cfg, cfg = run_configs(run)
        k = int(resolved.get("num_classes") or 0)
        kind = resolved.get("kind")
        folds = []
        for f in Run(run).folds(cfg.folds, cfg.repeats):
            record = f.read_done() if f.model_path.is_file() else None
            if record is None:
                raise RunFolderError(
                    f"{f.dir} has no finished fold model ({f.model_path.name} and "
                    f"{f.done_path.name}); predicting needs every fold: finish the run with "
                    f"`clean-labels train MANIFEST --out {run}`")
            folds.append(FoldModel(f, record))
        if kind == "image":
            size = int(data_cfg.image_size)
            channels = int(_norm_buffer(folds[0].files).shape[0])
            shape: tuple[int, ...] = (channels, size, size)
        else:
            shape = (int(_norm_buffer(folds[0].files).shape[0]),)
        return cls(run, kind, shape, k, cfg, folds)

    def predict(self, X: np.ndarray, *, device: str = "auto",
                batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Mean probabilities (n, K) float32 of every fold model on X (n, *self.shape); rows sum
        to 1. Images uint8 (n, C, S, S) at the run's size; tabular/embedding float32 (n, D)."""
        import torch

        from cleanlab_lite.train.data import DeviceData
        from cleanlab_lite.train.loop import _threads, autocast_dtype, cpu_threads, resolve_device

        if tuple(X.shape[1:]) != self.shape:
            raise DataError(f"rows have shape {tuple(X.shape[1:])} but the models of {self.run} "
                            f"take {self.shape}; use the run's image size and feature columns")
        n = X.shape[0]
        total = np.zeros((n, self.num_classes), dtype=np.float64)
        if n == 0:
            return total.astype(np.float32)
        dev = resolve_device(device)
        data = DeviceData(X, np.zeros(n, dtype=np.int64), None, dev)
        batches = [torch.arange(s, min(n, s + batch_size), device=dev)
                   for s in range(0, n, batch_size)]
        with _threads(cpu_threads(self.cfg, X) if dev.type == "cpu" else None):
            for fm in self.folds:
                total += self._predict_one(fm, data, batches, dev)
        probs = (total / len(self.folds)).astype(np.float32)
        return probs / probs.sum(axis=1, keepdims=True)

    def _predict_one(self, fm: FoldModel, data, batches: list, dev) -> np.ndarray:
        """One fold model, rebuilt as training built it, on every batch of row indices."""
        import torch

        from cleanlab_lite.train import defaults, infer, models
        from cleanlab_lite.train.loop import autocast_dtype, uses_tta

        image = self.kind == "image"
        channels_last = bool(self.cfg.channels_last and image)
        rec = fm.record
        hp = defaults.resolve(self.cfg, rec["model"], str(rec.get("device", "cpu")).split(":")[0],
                              self.shape, int(rec.get("n_train", 1)))
        model = models.build_model(rec["model"], self.shape, self.num_classes,
                                   hidden=self.cfg.hidden, widths=hp.widths, pretrained=None)
        model.load_state_dict(torch.load(fm.files.model_path, map_location="cpu", weights_only=True))
        model = model.to(dev)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.eval()
        inputs = (infer.model_input(data.gather(idx), image, channels_last) for idx in batches)
        return infer.softmax_probs(model, inputs, device=dev,
                                   amp=autocast_dtype(dev, self.cfg.precision),
                                   tta=uses_tta(self.cfg, hp, image))


def _norm_buffer(files: FoldFiles) -> np.ndarray:
    """The first Normalize layer's mean buffer: its length is the input's channels/features."""
    import torch

    state = torch.load(files.model_path, map_location="cpu", weights_only=True)
    key = next((k for k in state if k.endswith("norm.mean")), None)
    if key is None:
        raise RunFolderError(f"{files.model_path} holds no input statistics (norm.mean); it was "
                             f"not written by `clean-labels train`, retrain the run")
    return state[key].numpy()


@dataclass
class PredictResult:
    out: Path | None
    probs: np.ndarray             # (n, K) float32
    classes: list
    n: int
    kind: str
    folds: int
    device: str
    seconds: float


def predict_manifest(run: str | Path, manifest: str | Path, *, out: str | Path | None = None,
                     device: str = "auto", overrides: dict | None = None,
                     batch_size: int = PREDICT_BATCH) -> PredictResult:
    """The fold ensemble's probabilities for every row of `manifest` (labels not needed), in the
    manifest's row order, written to `out` (.npy, float32 (n, K)) when given. `overrides`: data
    options the user typed (e.g. data_root, path_col); the rest are the run's."""
    from cleanlab_lite.data.like_run import read_like_run

    t0 = time.perf_counter()
    ens = FoldEnsemble.load(run)
    if out is not None:
        _check_out(run, manifest, out)
    rows = read_like_run(run, manifest, overrides=overrides, require_labels=False)
    probs = ens.predict(rows.X, device=device, batch_size=batch_size)
    if out is not None:
        write_npy(out, probs)
    return PredictResult(out=None if out is None else Path(out), probs=probs, classes=rows.classes,
                         n=int(probs.shape[0]), kind=ens.kind, folds=len(ens.folds),
                         device=str(device), seconds=time.perf_counter() - t0)


def _check_out(run, manifest, out) -> None:
    out = Path(out).resolve()
    if out == Path(manifest).resolve():
        raise DataError(f"--out {out} is the manifest; write the probabilities to another file")
    if out.parent == Path(run).resolve():
        raise DataError(f"--out {out} is inside the run folder {run}, whose files `train` owns; "
                        f"write the probabilities elsewhere")
    if out.suffix.lower() != ".npy":
        raise DataError(f"--out {out} must end in .npy (a float32 (N, K) array)")
