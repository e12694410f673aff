"""Seeded synthetic (labels, pred_probs) pairs with known flips, for the scoring tests."""
from __future__ import annotations

import numpy as np
import pytest


def make_noisy(n: int = 2000, k: int = 5, noise: float = 0.2, seed: int = 0, strength: float = 2.5,
               dtype=np.float32):
    """(noisy labels (N,), pred_probs (N, K), flipped mask (N,)) from a softmax 'model'."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[np.arange(n), true] += strength
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = true.copy()
    flip = rng.random(n) < noise
    y[flip] = (true[flip] + rng.integers(1, k, flip.sum())) % k
    return y, p.astype(dtype), flip


@pytest.fixture
def noisy():
    return make_noisy
