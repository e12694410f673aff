"""k-fold training: out-of-fold predicted probabilities for every row.

    from cleanlab_lite.train import train_folds
    result = train_folds(ds, folds, cfg, run_dir)   # result.pred_probs: float32 (N, K)

Modules, in the order data flows: choose (which model: `auto`, dispatch), foldplan (folds,
fingerprints, resume, merge), data (placement, batches, augmentation), models, losses,
weighting and sampling (class weights, balance), defaults (hyperparameters per model), loop (the
torch fold loop), sklearn_models (hgb, logreg), metrics, threads (CPU threads per fold),
progress (messages and bars). Importing this package does not import
torch; training a torch model does.
"""
from __future__ import annotations

from cleanlab_lite.train.choose import train_folds
from cleanlab_lite.train.foldplan import (FoldJob, FoldResult, TrainResult,
                                          check_backend, fold_dir)

__all__ = ["TrainResult", "train_folds", "fold_dir", "check_backend", "FoldJob",
           "FoldResult", "train_fold", "write_fold"]
TORCH_NAMES = ("train_fold", "write_fold")   # from train.loop, imported on use


def __getattr__(name: str):
    if name in TORCH_NAMES:
        from cleanlab_lite.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
