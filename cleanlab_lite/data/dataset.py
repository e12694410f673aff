"""The in-memory dataset every later stage works on, whatever the manifest held."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("image", "tabular", "embedding")


@dataclass
class Dataset:
    """One table turned into arrays.

    kind:     "image" | "tabular" | "embedding"
    X:        image: uint8 (N, C, H, W), possibly a read-only np.memmap of the decode cache;
              tabular / embedding: float32 (N, D), not standardized (training folds do that)
    labels:   int64 (N,), indices into `classes`
    classes:  class names in index order (str), as written to classes.json
    weights:  float32 (N,) per-sample loss weights, or None
    groups:   (N,) group keys (any dtype) for group-aware folds, or None
    feature_names: tabular column names / None
    levels:   tabular: per column of X, 0 (a number) or the number of levels of a categorical
              column (X holds codes 0..L-1, -1 for empty or unseen); None when all are numbers
    """
    kind: str
    X: np.ndarray
    labels: np.ndarray
    classes: list[str]
    weights: np.ndarray | None = None
    groups: np.ndarray | None = None
    feature_names: list[str] | None = None
    levels: tuple[int, ...] | None = None

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)
