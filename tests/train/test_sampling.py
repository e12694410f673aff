"""Class-balanced epoch draws: exact per-class counts, re-drawn each epoch."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cleanlab_lite.errors import ConfigError
from cleanlab_lite.train.sampling import EpochSampler

ROWS = torch.arange(100, 112)                     # 12 training rows with their own indices
LABELS = torch.tensor([0] * 7 + [1] * 3 + [2] * 2)  # counts (7, 3, 2)


def sampler(mode: str, seed: int = 0) -> EpochSampler:
    g = torch.Generator().manual_seed(seed)
    return EpochSampler(ROWS, LABELS, 4, mode, g)   # class 3 is absent from training


def class_counts(order: torch.Tensor) -> list[int]:
    label_of = dict(zip(ROWS.tolist(), LABELS.tolist()))
    return np.bincount([label_of[r] for r in order.tolist()], minlength=3).tolist()


def test_none_is_a_permutation():
    s = sampler("none")
    order = s.epoch()
    assert len(s) == 12 and sorted(order.tolist()) == ROWS.tolist()


def test_oversample_draws_every_class_n_max_times_and_keeps_all_rows():
    s = sampler("oversample")
    order = s.epoch()
    assert len(s) == 21 and order.numel() == 21
    assert class_counts(order) == [7, 7, 7]
    assert set(order.tolist()) == set(ROWS.tolist())    # every row appears at least once


def test_undersample_draws_n_min_without_replacement():
    s = sampler("undersample")
    order = s.epoch()
    assert class_counts(order) == [2, 2, 2]
    assert len(set(order.tolist())) == 6               # no duplicates


def test_balanced_draws_change_between_epochs():
    s = sampler("undersample", seed=3)
    draws = {tuple(sorted(s.epoch().tolist())) for _ in range(10)}
    assert len(draws) > 1


def test_unknown_mode():
    with pytest.raises(ConfigError, match="--balance 'weird'"):
        sampler("weird")
