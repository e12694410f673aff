"""The training recipe's options for finding errors: snapshot ensembles of the held-out
predictions."""
from __future__ import annotations

import numpy as np

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.train import train_folds
from cleanlab_lite.train.choose import recipe
from cleanlab_lite.train.loop import snapshot_epochs

FAST = dict(epochs=4, batch_size=16, widths="8,8,8", quiet=True, parallel_folds=1)


def test_snapshot_epochs_spread_over_the_second_half_and_end_with_the_last():
    assert snapshot_epochs(12, 1) == (12,)
    assert snapshot_epochs(12, 4) == (6, 8, 10, 12)
    assert snapshot_epochs(6, 4) == (3, 4, 5, 6)
    assert snapshot_epochs(2, 4) == (1, 2)


def test_snapshots_average_held_out_predictions_and_change_the_fingerprint(tmp_path):
    rng = np.random.default_rng(0)
    y = np.arange(36) % 3
    X = rng.integers(0, 60, (36, 1, 8, 8)).astype(np.uint8)
    X[y == 1, 0, :4] += 150
    X[y == 2, 0, 4:] += 150
    ds = Dataset("image", X, y.astype(np.int64), ["a", "b", "c"])
    folds = np.repeat(rng.permutation(12) % 3, 3)
    one = train_folds(ds, folds, TrainConfig(folds=3, snapshots=1, **FAST), tmp_path)
    snap = train_folds(ds, folds, TrainConfig(folds=3, snapshots=3, **FAST), tmp_path)
    assert snap.metrics["reused_folds"] == 0                  # other predictions: retrained
    assert snap.pred_probs.shape == (36, 3) and np.allclose(snap.pred_probs.sum(1), 1, atol=1e-5)
    assert not np.array_equal(one.pred_probs, snap.pred_probs)


def test_the_recipe_is_the_default_for_images_only():
    cfg = TrainConfig()
    assert (recipe(cfg, "image").snapshots, recipe(cfg, "image").label_smoothing) == (4, "0.1")
    assert (recipe(cfg, "tabular").snapshots, recipe(cfg, "tabular").label_smoothing) == (1, "0")
    assert recipe(TrainConfig(loss="gce"), "image").label_smoothing == "0"     # ce only
    given = TrainConfig(snapshots=2, label_smoothing="0.05")
    assert recipe(given, "image") == given                                    # given values stay
