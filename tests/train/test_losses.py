"""Each loss, class-weight scheme and smoothing against a value worked out by hand.

Logits (0, ln 3) give p = (0.25, 0.75)."""
from __future__ import annotations

import math
import numpy as np
import pytest
import torch

from cleanlab_lite.config import TrainConfig
from cleanlab_lite.errors import ConfigError
from cleanlab_lite.train import losses

Z = torch.tensor([[0.0, math.log(3.0)]])
Y0 = torch.tensor([0])
Y1 = torch.tensor([1])
LN4, LN43 = math.log(4.0), math.log(4.0 / 3.0)     # -ln 0.25, -ln 0.75


def val(t: torch.Tensor) -> float:
    return float(t.squeeze())


def test_cross_entropy():
    assert val(losses.cross_entropy(Z, Y1)) == pytest.approx(LN43)
    assert val(losses.cross_entropy(Z, Y0)) == pytest.approx(LN4)


def test_label_smoothing_one_eps_and_per_class():
    eps = torch.tensor([0.2, 0.2])
    # target (0.1, 0.9) for label 1
    assert val(losses.cross_entropy(Z, Y1, eps)) == pytest.approx(0.1 * LN4 + 0.9 * LN43)
    per_class = torch.tensor([0.0, 0.5])
    # label 0 is not smoothed; label 1 gets target (0.25, 0.75)
    assert val(losses.cross_entropy(Z, Y0, per_class)) == pytest.approx(LN4)
    assert val(losses.cross_entropy(Z, Y1, per_class)) == pytest.approx(0.25 * LN4 + 0.75 * LN43)
    # matches torch's own uniform smoothing
    ref = torch.nn.functional.cross_entropy(Z, Y1, label_smoothing=0.2)
    assert val(losses.cross_entropy(Z, Y1, eps)) == pytest.approx(float(ref))


def test_gce():
    assert val(losses.generalized_ce(Z, Y1, 0.5)) == pytest.approx((1 - math.sqrt(0.75)) / 0.5)
    assert val(losses.generalized_ce(Z, Y0, 1.0)) == pytest.approx(0.75)   # q = 1 is MAE


def test_sce():
    # 0.1 * CE + 1.0 * 4 * (1 - p_y), label 0: 0.1 ln 4 + 3
    assert val(losses.symmetric_ce(Z, Y0, 0.1, 1.0)) == pytest.approx(0.1 * LN4 + 3.0)


def test_focal():
    assert val(losses.focal(Z, Y0, 2.0)) == pytest.approx(0.75 ** 2 * LN4)
    assert val(losses.focal(Z, Y0, 0.0)) == pytest.approx(LN4)


def test_bootstrap_soft_and_hard():
    soft = -(0.95 * math.log(0.25) + 0.05 * (0.25 * math.log(0.25) + 0.75 * math.log(0.75)))
    assert val(losses.bootstrap(Z, Y0, 0.95, hard=False)) == pytest.approx(soft)
    hard = 0.8 * LN4 + 0.2 * LN43          # the prediction is class 1
    assert val(losses.bootstrap(Z, Y0, 0.8, hard=True)) == pytest.approx(hard)


def test_bootstrap_does_not_differentiate_its_own_prediction():
    z = Z.clone().requires_grad_(True)
    losses.bootstrap(z, Y0, 0.0, hard=False).sum().backward()
    # beta = 0: loss = -sum_k c_k log softmax(z)_k with c = p held constant; its gradient
    # softmax(z) * sum(c) - c is 0, whereas differentiating through c would not be.
    assert torch.allclose(z.grad, torch.zeros_like(z), atol=1e-6)


def test_weighted_mean_uses_class_and_sample_weights():
    per = torch.tensor([1.0, 2.0])
    y = torch.tensor([0, 1])
    cw = torch.tensor([2.0, 0.5])
    sw = torch.tensor([1.0, 0.0])
    assert float(losses.weighted_mean(per, y, None, None)) == pytest.approx(1.5)
    assert float(losses.weighted_mean(per, y, cw, None)) == pytest.approx((2.0 + 1.0) / 2)
    assert float(losses.weighted_mean(per, y, cw, sw)) == pytest.approx(2.0 / 2)


LABELS = np.array([0, 1, 1, 1])       # counts (1, 3)


@pytest.mark.parametrize("spec, expected", [
    ("none", [1.0, 1.0]),
    ("inverse", [2.0, 2.0 / 3.0]),                                  # (1, 1/3) / 0.5
    ("sqrt_inverse", [4 / (1 + math.sqrt(3)), 4 / (math.sqrt(3) * (1 + math.sqrt(3)))]),
    ("effective_number", [28 / 19, 16 / 19]),                       # beta 0.5: (1, 4/7) / (19/28)
    ("1,2", [4 / 7, 8 / 7]),                                        # mean over rows (1+6)/4
])
def test_class_weights(spec, expected):
    w = losses.class_weights(LABELS, 2, spec, beta=0.5)
    np.testing.assert_allclose(w, expected, rtol=1e-6)
    assert (w[LABELS]).mean() == pytest.approx(1.0)


def test_class_weights_absent_class_gets_zero():
    w = losses.class_weights(np.array([0, 0, 2]), 3, "inverse")
    assert w[1] == 0 and w[0] > 0 and w[2] > 0


@pytest.mark.parametrize("spec", ["bogus", "1,2,3", "-1,1"])
def test_class_weights_bad_spec(spec):
    with pytest.raises(ConfigError, match="--class-weight"):
        losses.class_weights(LABELS, 2, spec)


def test_smoothing_vector():
    np.testing.assert_allclose(losses.smoothing_vector("0.1", 3), [0.1] * 3)
    np.testing.assert_allclose(losses.smoothing_vector("0.1,0,0.3", 3), [0.1, 0, 0.3])
    with pytest.raises(ConfigError, match="--label-smoothing"):
        losses.smoothing_vector("0.1,0.2", 3)
    with pytest.raises(ConfigError, match="--label-smoothing"):
        losses.smoothing_vector("1.5", 3)


@pytest.mark.parametrize("name", losses.LOSSES)
def test_per_sample_loss_from_config(name):
    fn = losses.per_sample_loss(TrainConfig(loss=name), 2, torch.device("cpu"))
    out = fn(Z.repeat(3, 1), torch.tensor([0, 1, 0]))
    assert out.shape == (3,) and torch.isfinite(out).all()


def test_unknown_loss_and_smoothing_with_other_loss():
    with pytest.raises(ConfigError, match="--loss 'hinge'"):
        losses.per_sample_loss(TrainConfig(loss="hinge"), 2, torch.device("cpu"))
    with pytest.raises(ConfigError, match="--loss ce only"):
        losses.per_sample_loss(TrainConfig(loss="gce", label_smoothing="0.1"), 2, torch.device("cpu"))
