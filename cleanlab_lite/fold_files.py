"""One fold's folder in a run (RUN/folds/fold-<i>/, made by Run.fold): the fold's model, its
held-out rows and probabilities, and done.json, written last. Part of the run folder's single
owner with run.py: no other module names these files."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from cleanlab_lite.errors import RunFolderError
from cleanlab_lite.io import atomic_path, write_json, write_npy

MODEL = "model.pt"
SKLEARN_MODEL = "model.joblib"   # a fitted scikit-learn estimator (train.sklearn_models)
OOF_PROBS = "oof_probs.npy"
OOF_ROWS = "oof_rows.npy"
DONE = "done.json"           # written last: its presence means the fold is complete


@dataclass(frozen=True)
class FoldFiles:
    """One fold's folder: model.pt (state_dict), oof_probs.npy (float32 (n_i, K)),
    oof_rows.npy (int64 (n_i,)) and, written last, done.json (the fold's record)."""
    dir: Path

    model_path = property(lambda self: self.dir / MODEL)
    sklearn_model_path = property(lambda self: self.dir / SKLEARN_MODEL)
    probs_path = property(lambda self: self.dir / OOF_PROBS)
    rows_path = property(lambda self: self.dir / OOF_ROWS)
    done_path = property(lambda self: self.dir / DONE)

    def read_sklearn_model(self):
        """The fold's fitted scikit-learn estimator (model.joblib)."""
        import joblib

        try:
            return joblib.load(self.sklearn_model_path)
        except Exception as e:  # noqa: BLE001 - any unreadable file: retrain that fold
            raise RunFolderError(f"{self.sklearn_model_path} cannot be read ({type(e).__name__}); "
                                 "retrain the run with `clean-labels train`") from None

    def is_done(self) -> bool:
        return self.done_path.is_file()

    def read_done(self) -> dict | None:
        """The fold's record if done.json is there and readable, else None (never raises)."""
        try:
            with open(self.done_path, encoding="utf-8") as f:
                rec = json.load(f)
        except (OSError, ValueError):
            return None
        return rec if isinstance(rec, dict) else None

    def read_oof(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, probs) of the held-out fold, or None when either is missing or unreadable."""
        try:
            return np.load(self.rows_path), np.load(self.probs_path)
        except (OSError, ValueError):
            return None

    def clear_done(self) -> None:
        """Remove done.json (before retraining a stale fold, so a crash cannot revive it)."""
        self.done_path.unlink(missing_ok=True)

    def write(self, save_model: Callable[[Path], None], probs: np.ndarray, rows: np.ndarray,
              record: dict, model_file: str = MODEL) -> None:
        """Write the model (via `save_model(tmp_path)`; model_file: MODEL or SKLEARN_MODEL),
        probs and rows, then done.json last."""
        with atomic_path(self.dir / model_file) as tmp:
            save_model(tmp)
        write_npy(self.probs_path, probs)
        write_npy(self.rows_path, np.asarray(rows).astype(np.int64))
        write_json(self.done_path, record)
