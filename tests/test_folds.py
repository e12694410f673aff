from __future__ import annotations

import numpy as np
import pytest

from cleanlab_lite.errors import DataError
from cleanlab_lite.folds import assign_folds, assign_repeats
from tests.expect import assert_fragments


def test_stratified_and_seeded():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    f = assign_folds(labels, 5, seed=1)
    for i in range(5):
        assert np.bincount(labels[f == i], minlength=3).tolist() == [10, 6, 4]
    assert np.array_equal(f, assign_folds(labels, 5, seed=1))
    assert not np.array_equal(f, assign_folds(labels, 5, seed=2))


def test_groups_stay_together():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    groups = rng.integers(0, 40, 200)
    f = assign_folds(labels, 4, groups=groups)
    for g in np.unique(groups):
        assert len(np.unique(f[groups == g])) == 1


def test_class_smaller_than_folds():
    labels = np.array([0] * 10 + [1] * 3)
    with pytest.raises(DataError) as e:
        assign_folds(labels, 5, classes=["ok", "rare"])
    assert_fragments(str(e.value), "class 'rare' has 3 rows, fewer than --folds 5; use --folds 3 "
                     "or fewer, or remove that class")


def test_repeats_differ():
    labels = np.repeat([0, 1], 20)
    f = assign_repeats(labels, 4, 3)
    assert f.shape == (3, 40)
    assert not np.array_equal(f[0], f[1])
