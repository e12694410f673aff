"""Recipes measured by `bench_recipe.py` that the tool does not ship: each is a context manager that
patches the fold loop in this process while one recipe trains (so those recipes train one fold at
a time: a fold process would import the unpatched loop).

    shift-tta   the held-out predictions averaged over the image and its four 1-pixel shifts
    trunc0.1    small-loss training: from 30% of the steps on, the 10% highest losses of each
                batch get no gradient (ramped in over the next 20% of the steps)
    mixup0.2    mixup (Beta(0.2, 0.2)) of each batch's images and of their losses
    aum         the default recipe, also recording every training row's margin (logit of the
                given label minus the largest other logit) at every step it trains in, over the
                k - 1 folds it trains in: the area under the margin (Pleiss et al. 2020)
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from cleanlab_lite.train import infer, losses
from cleanlab_lite.train import loop as loop_mod
from cleanlab_lite.train.data import reflect

SHIFTS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def _shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """(B, C, H, W) moved by (dy, dx) pixels, borders reflected (as training's augmentation)."""
    h, w = x.shape[-2:]
    rows = reflect(torch.arange(h, device=x.device) + dy, h)
    cols = reflect(torch.arange(w, device=x.device) + dx, w)
    return x[..., rows, :][..., cols]


@contextlib.contextmanager
def _patched(obj, name: str, new):
    old = getattr(obj, name)
    setattr(obj, name, new)
    try:
        yield
    finally:
        setattr(obj, name, old)


def shift_tta():
    plain = infer.softmax_probs

    def shifted(forward, batches, *, device, amp, tta):
        def with_shifts(x):
            p = torch.softmax(forward(x).float(), dim=1)
            for dy, dx in SHIFTS:
                p = p + torch.softmax(forward(_shift(x, dy, dx)).float(), dim=1)
            return torch.log(p / (1 + len(SHIFTS)))
        return plain(with_shifts, batches, device=device, amp=amp, tta=tta)

    return _patched(infer, "softmax_probs", shifted)


def _fit_counting(fit):
    """fit() that tells the loss how far through the fold's steps it is (self._done / _total)."""
    def counted(self, train_rows, seed, desc, val_rows=None):
        bs = min(self.hp.batch_size, len(train_rows))
        self._total = self.hp.epochs * max(1, len(train_rows) // bs)
        self._done = 0
        self._rng = np.random.default_rng(seed)
        return fit(self, train_rows, seed, desc, val_rows)
    return counted


def _truncated_loss(q_max: float, start: float = 0.3, ramp: float = 0.2):
    def loss(self, x, idx, cw, gen):
        x, y, sw = self._batch(x, idx, gen)
        per = self.loss_fn(self._logits(x), y)
        q = q_max * min(1.0, max(0.0, (self._done / self._total - start) / ramp))
        self._done += 1
        if q > 0:
            keep = (per.detach() <= torch.quantile(per.detach(), 1 - q)).float()
            sw = keep if sw is None else sw * keep
        return losses.weighted_mean(per, y, cw, sw)
    return loss


def _mixup_loss(alpha: float):
    def loss(self, x, idx, cw, gen):
        x, y, sw = self._batch(x, idx, gen)
        lam = float(self._rng.beta(alpha, alpha))
        perm = torch.as_tensor(self._rng.permutation(x.shape[0]), device=x.device)
        logits = self._logits(lam * x + (1 - lam) * x[perm])
        return (lam * losses.weighted_mean(self.loss_fn(logits, y), y, cw, sw)
                + (1 - lam) * losses.weighted_mean(self.loss_fn(logits, y[perm]), y[perm], cw,
                                                   None if sw is None else sw[perm]))
    return loss


@contextlib.contextmanager
def _training(loss):
    T = loop_mod._Trainer
    with _patched(T, "fit", _fit_counting(T.fit)), _patched(T, "_loss", loss):
        yield


class AUM:
    """Context manager recording margins; `.area()` is each row's mean margin (NaN if never seen)."""

    def __init__(self, n: int):
        self.sum, self.count = np.zeros(n), np.zeros(n)

    def _loss(self):
        aum = self

        def loss(self, x, idx, cw, gen):
            x, y, sw = self._batch(x, idx, gen)
            logits = self._logits(x)
            given = logits.gather(1, y[:, None])[:, 0]
            other = logits.scatter(1, y[:, None], float("-inf")).max(dim=1).values
            rows = idx.cpu().numpy()
            np.add.at(aum.sum, rows, (given - other).detach().cpu().numpy())
            np.add.at(aum.count, rows, 1)
            return losses.weighted_mean(self.loss_fn(logits, y), y, cw, sw)
        return loss

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(_patched(loop_mod._Trainer, "_loss", self._loss()))
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def area(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return self.sum / self.count


# recipe name -> (rows in the dataset) -> context manager
PATCHES = {
    "shift-tta": lambda n: shift_tta(),
    "trunc0.1": lambda n: _training(_truncated_loss(0.1)),
    "mixup0.2": lambda n: _training(_mixup_loss(0.2)),
    "aum": AUM,
}
