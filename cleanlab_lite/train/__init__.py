"""k-fold training: out-of-fold predicted probabilities for every row.

    from cleanlab_lite.train import train_folds
    result = train_folds(ds, folds, cfg, run_dir)   # result.pred_probs: float32 (N, K)

Modules, in the order data flows: data (placement, batches, augmentation), models, losses,
sampling (class balance), defaults (hyperparameters per model), loop (folds, resume), metrics.
"""
from __future__ import annotations

from cleanlab_lite.train.loop import TrainResult, fold_dir, resolve_device, train_folds

__all__ = ["TrainResult", "train_folds", "fold_dir", "resolve_device"]
