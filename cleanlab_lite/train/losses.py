"""Losses for noisy and unbalanced labels, class weights and label smoothing.

Every loss is a function `(logits (B, K), targets (B,)) -> per-sample loss (B,)`. `make_loss`
wraps one with class weights `cw` (K,) and per-sample weights `s` (B,) and reduces as

    loss = mean_i( s_i * cw[y_i] * l_i )

Class weights are rescaled so that their average over the training rows is 1, so turning them on
does not change the overall loss scale (and the learning rate stays valid). Per-sample weights are
used as given: 1 is a normal row, 0.5 pulls half as hard, 0 is ignored.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from cleanlab_lite.config import LOSSES
from cleanlab_lite.errors import ConfigError
from cleanlab_lite.train.weighting import CLASS_WEIGHTS, class_weights, parse_floats  # noqa: F401

RCE_LOG_ZERO = -4.0     # log(0) replacement in reverse cross entropy (Wang et al., 2019)

PerSample = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def smoothing_vector(spec, num_classes: int) -> np.ndarray:
    """Label smoothing epsilon per class (K,): one value for all, or one per class; `auto` not
    made concrete by `choose.recipe` is none."""
    if str(spec).strip().lower() == "auto":
        spec = "0"
    eps = np.asarray(parse_floats(spec, "--label-smoothing"), dtype=np.float32)
    if eps.shape[0] == 1:
        eps = np.full(num_classes, eps[0], dtype=np.float32)
    if eps.shape[0] != num_classes or (eps < 0).any() or (eps >= 1).any():
        raise ConfigError(f"--label-smoothing {spec!r} must be one epsilon in [0, 1) or "
                          f"{num_classes} comma-separated values in [0, 1) (one per class)")
    return eps


# ---- per-sample losses --------------------------------------------------------------------


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """CE against (1 - eps_y) * onehot(y) + eps_y / K (eps per given class; None = no smoothing)."""
    logp = F.log_softmax(logits, dim=1)
    nll = -logp.gather(1, y[:, None]).squeeze(1)
    if eps is None:
        return nll
    e = eps[y]
    return (1.0 - e) * nll - e * logp.mean(dim=1)


def generalized_ce(logits: torch.Tensor, y: torch.Tensor, q: float) -> torch.Tensor:
    """GCE (Zhang & Sabuncu, 2018): (1 - p_y^q) / q; q -> 0 is CE, q = 1 is MAE."""
    p_y = F.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    return (1.0 - p_y.clamp_min(1e-12).pow(q)) / q


def symmetric_ce(logits: torch.Tensor, y: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """SCE (Wang et al., 2019): alpha * CE + beta * RCE, RCE = -sum_k p_k log q_k with q the
    one-hot label and log 0 := -4, i.e. RCE = 4 * (1 - p_y)."""
    ce = cross_entropy(logits, y)
    p_y = F.softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    return alpha * ce + beta * (-RCE_LOG_ZERO) * (1.0 - p_y)


def focal(logits: torch.Tensor, y: torch.Tensor, gamma: float) -> torch.Tensor:
    """Focal loss (Lin et al., 2017): -(1 - p_y)^gamma log p_y."""
    logp_y = F.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)
    return -(1.0 - logp_y.exp()).pow(gamma) * logp_y


def bootstrap(logits: torch.Tensor, y: torch.Tensor, beta: float, hard: bool) -> torch.Tensor:
    """Bootstrapping (Reed et al., 2015). soft: -sum_k (beta*onehot_k + (1-beta)*p_k) log p_k;
    hard: -(beta log p_y + (1-beta) log p_argmax). The model's own p is not differentiated."""
    logp = F.log_softmax(logits, dim=1)
    logp_y = logp.gather(1, y[:, None]).squeeze(1)
    if hard:
        pred = logits.detach().argmax(dim=1)
        return -(beta * logp_y + (1.0 - beta) * logp.gather(1, pred[:, None]).squeeze(1))
    p = logp.detach().exp()
    return -(beta * logp_y + (1.0 - beta) * (p * logp).sum(dim=1))


def per_sample_loss(cfg, num_classes: int, device: torch.device) -> PerSample:
    """The configured per-sample loss as a closure over its hyperparameters (whose values and
    combinations config.RULES has checked; the class count is checked here)."""
    name = cfg.loss.lower()
    eps = smoothing_vector(cfg.label_smoothing, num_classes)
    if name == "ce":
        eps_t = torch.as_tensor(eps, device=device) if (eps > 0).any() else None
        return lambda z, y: cross_entropy(z, y, eps_t)
    if name == "gce":
        return lambda z, y: generalized_ce(z, y, cfg.gce_q)
    if name == "sce":
        return lambda z, y: symmetric_ce(z, y, cfg.sce_alpha, cfg.sce_beta)
    if name == "focal":
        return lambda z, y: focal(z, y, cfg.focal_gamma)
    if name == "bootstrap":
        hard = cfg.bootstrap.lower() == "hard"
        return lambda z, y: bootstrap(z, y, cfg.bootstrap_beta, hard=hard)
    raise ConfigError(f"--loss {cfg.loss!r} is not known; use one of {', '.join(LOSSES)}")


def weighted_mean(per_sample: torch.Tensor, y: torch.Tensor, cw: torch.Tensor | None,
                  sw: torch.Tensor | None) -> torch.Tensor:
    """mean_i(s_i * cw[y_i] * l_i); either weight may be None (all ones)."""
    if cw is not None:
        per_sample = per_sample * cw[y]
    if sw is not None:
        per_sample = per_sample * sw
    return per_sample.mean()
