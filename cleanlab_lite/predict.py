"""The fold ensemble: the mean of a run's k fold models' probabilities on any rows.

No fold model has seen a row that is not in the run, so for a new row the mean of the k models
is an honest out-of-sample prediction (and the average of k models is steadier than any one).
Each torch model is rebuilt exactly as training built it (model name, input shape, hidden width,
CNN widths for the training device) and loaded from RUN/folds/.../model.pt, whose Normalize
buffers hold that fold's input statistics; images are predicted in the training precision with
the same flip TTA. Rows go through the trainer's data placement in batches, on CPU or GPU (on
the GPU when they fit, else streamed from the host); a batch that runs out of memory is halved,
and out of memory at one row is one exit-3 line naming the options that avoid it.
scikit-learn fold models (model.joblib: hgb, logreg) predict with `predict_proba`. A run trained
with --backbone (embed once, fit k heads) embeds the rows with the same backbone, weights, input
statistics and flip averaging first, then the heads predict the embeddings.

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
from cleanlab_lite.data.features import one_hot, spec_from_record
from cleanlab_lite.data.like_run import run_configs
from cleanlab_lite.errors import DataError, RunFolderError
from cleanlab_lite.io import write_npy
from cleanlab_lite.run import FoldFiles, Run

PREDICT_BATCH = 1024          # rows per forward pass (GPU memory use is about that of training)


@dataclass
class FoldModel:
    files: FoldFiles
    record: dict                  # the fold's done.json (model, device, n_train, ...)
    sklearn: bool = False         # model.joblib (a fitted scikit-learn estimator), not model.pt


@dataclass
class FoldEnsemble:
    """Every finished fold model of a run (all repeats), ready to predict rows shaped like the
    run's Dataset.X (images for a --backbone run: they are embedded first)."""
    run: Path
    kind: str                     # image | tabular | embedding
    num_classes: int
    cfg: TrainConfig              # the run's train options
    fold_cfg: TrainConfig         # what the folds trained with (--backbone: the --head)
    folds: list[FoldModel]
    levels: tuple[int, ...] | None = None   # category code columns of X (data.features)

    @classmethod
    def load(cls, run: str | Path) -> "FoldEnsemble":
        """The run's fold models; a missing or unfinished one is a RunFolderError (exit 2)."""
        from cleanlab_lite.train.choose import fold_config

        run = Path(run)
        resolved, _, cfg = run_configs(run)
        kind = resolved.get("kind")
        folds = []
        for f in Run(run).folds(cfg.folds, cfg.repeats):
            sk = f.sklearn_model_path.is_file()
            record = f.read_done() if sk or f.model_path.is_file() else None
            if record is None:
                raise RunFolderError(
                    f"{f.dir} has no finished fold model ({f.model_path.name} or "
                    f"{f.sklearn_model_path.name}, and {f.done_path.name}); predicting needs every "
                    f"fold: finish the run with `clean-labels train MANIFEST --out {run}`")
            folds.append(FoldModel(f, record, sk))
        spec = spec_from_record(resolved.get("data") or {})
        return cls(run, kind, int(resolved.get("num_classes") or 0), cfg,
                   fold_config(cfg, kind), folds, spec.levels() if spec else None)

    def predict(self, X: np.ndarray, *, device: str = "auto",
                batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Mean probabilities (n, K) float32 of every fold model on X; rows sum to 1. X as the
        run's Dataset.X: images uint8 (n, C, S, S) at the run's size, tabular/embedding float32
        (n, D) with the run's feature columns."""
        import torch

        from cleanlab_lite.device import resolve_device
        from cleanlab_lite.train.data import DeviceData
        from cleanlab_lite.train.threads import cpu_threads, limit_threads

        n = X.shape[0]
        total = np.zeros((n, self.num_classes), dtype=np.float64)
        if n == 0:
            return total.astype(np.float32)
        dev = torch.device(resolve_device(device))
        with limit_threads(cpu_threads(self.cfg, X) if dev.type == "cpu" else None):
            if self.cfg.backbone:
                X = self._embed(X, dev)
            data = None
            Xt = one_hot(X, self.levels)            # torch models take categories one-hot
            if not all(fm.sklearn for fm in self.folds):
                data = DeviceData(Xt, np.zeros(n, dtype=np.int64), None, dev)
            for fm in self.folds:
                if fm.sklearn:
                    total += self._predict_sklearn(fm, X)
                else:
                    probs, batch_size = self._predict_torch(fm, Xt, data, batch_size, dev)
                    total += probs
        probs = (total / len(self.folds)).astype(np.float32)
        return probs / probs.sum(axis=1, keepdims=True)

    def _embed(self, X: np.ndarray, dev) -> np.ndarray:
        """Images -> the backbone's features, exactly as `train --backbone` computed them (input
        statistics of the run's own images when the weights do not bring theirs)."""
        from cleanlab_lite.data.like_run import run_rows
        from cleanlab_lite.train import embed

        trained = run_rows(self.run).X
        if trained is None:
            raise RunFolderError(f"{self.run} has no decoded images in its cache, which a "
                                 f"--backbone run needs for the backbone's input statistics; "
                                 f"rerun `clean-labels train` on the run's manifest")
        return embed.embed_images(X, embed.recipe(self.cfg, dev, trained))

    def _predict_sklearn(self, fm: FoldModel, X: np.ndarray) -> np.ndarray:
        from cleanlab_lite.train.sklearn_models import predict_proba

        return predict_proba(fm.files.read_sklearn_model(), X, self.num_classes)

    def _predict_torch(self, fm: FoldModel, X: np.ndarray, data, batch_size: int,
                       dev) -> tuple[np.ndarray, int]:
        """One torch fold model, rebuilt as training built it, on every row of `data`; returns
        its probabilities and the batch size that fitted in memory."""
        import torch

        from cleanlab_lite.train import defaults, infer, models
        from cleanlab_lite.train.loop import uses_tta
        from cleanlab_lite.train.runtime import autocast_dtype, halving_batches, oom_as_failure

        cfg = self.fold_cfg
        shape = tuple(X.shape[1:])
        image = X.ndim == 4
        state = torch.load(fm.files.model_path, map_location="cpu", weights_only=True)
        width = _input_width(state, fm.files)
        if shape[0] != width:
            raise DataError(f"rows have {shape[0]} {'channels' if image else 'features'} but the "
                            f"models of {self.run} take {width}; use the run's kind of images or "
                            f"its feature columns")
        channels_last = bool(cfg.channels_last and image)
        rec = fm.record
        hp = defaults.resolve(cfg, rec["model"], str(rec.get("device", "cpu")).split(":")[0],
                              shape, int(rec.get("n_train", 1)))
        model = models.build_model(rec["model"], shape, self.num_classes, hidden=cfg.hidden,
                                   widths=hp.widths, pretrained=None)
        model.load_state_dict(state)
        amp, tta = autocast_dtype(dev, cfg.precision), uses_tta(cfg, hp, image)

        def run(bs: int) -> np.ndarray:
            inputs = (infer.model_input(x, image, channels_last) for x in data.in_order(bs))
            return infer.softmax_probs(model, inputs, device=dev, amp=amp, tta=tta)

        with oom_as_failure(f"predicting {X.shape[0]} rows with the fold model in {fm.files.dir}",
                            dev, image=image):
            model = model.to(dev)
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            model.eval()
            return halving_batches(run, batch_size, dev)


def _input_width(state: dict, files: FoldFiles) -> int:
    """Channels (images) or features (tabular) a torch fold model takes: the length of its first
    Normalize layer's mean buffer."""
    key = next((k for k in state if k.endswith("norm.mean")), None)
    if key is None:
        raise RunFolderError(f"{files.model_path} holds no input statistics (norm.mean); it was "
                             f"not written by `clean-labels train`, retrain the run")
    return int(state[key].shape[0])


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
        from cleanlab_lite.guards import check_output

        check_output(out, "--out", run=Run(run), suffixes=(".npy",),
                     inputs=[(manifest, "the manifest"),
                             ((overrides or {}).get("embeddings"), "the embeddings")])
    rows = read_like_run(run, manifest, overrides=overrides, require_labels=False)
    probs = ens.predict(rows.X, device=device, batch_size=batch_size)
    if out is not None:
        write_npy(out, probs)
    return PredictResult(out=None if out is None else Path(out), probs=probs, classes=rows.classes,
                         n=int(probs.shape[0]), kind=ens.kind, folds=len(ens.folds),
                         device=str(device), seconds=time.perf_counter() - t0)
