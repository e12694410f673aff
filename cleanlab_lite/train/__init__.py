"""k-fold training: out-of-fold predicted probabilities for every row.

    from cleanlab_lite.train import train_folds
    result = train_folds(ds, folds, cfg, run_dir)   # result.pred_probs: float32 (N, K)

Modules, in the order data flows: data (placement, batches, augmentation), models, losses,
sampling (class balance), defaults (hyperparameters per model), loop (folds, resume), metrics.
"""
from __future__ import annotations

import os

# When torch is first imported here, let its OpenMP threads sleep rather than spin while they
# wait: on a machine busy with other processes, spinning threads made CPU training steps up to
# 100x slower (measured on 2 cores). Only a default; an OMP_WAIT_POLICY already set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from cleanlab_lite.train.loop import (FoldJob, FoldResult, TrainResult, check_backend, fold_dir,
                                      resolve_device, train_fold, train_folds, write_fold)

__all__ = ["TrainResult", "train_folds", "fold_dir", "resolve_device", "check_backend", "FoldJob",
           "FoldResult", "train_fold", "write_fold"]
