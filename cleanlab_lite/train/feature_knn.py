"""Nearest neighbours in the learned feature space (`--knn K`, torch models): the held-out rows'
probabilities averaged with the label votes of their K nearest training rows, by cosine
similarity of the features the fold's model feeds its classifier (deep k-NN, Bahri et al. 2020).
A mislabeled row's neighbours carry its true class even where the model's own output leans to
the given label."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

CHUNK_ROWS = 1024        # held-out rows per similarity block: (CHUNK_ROWS, n_train) floats


def classifier(model: nn.Module, num_classes: int) -> nn.Linear:
    """The last nn.Linear with `num_classes` outputs: the layer that maps features to classes."""
    heads = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == num_classes]
    if not heads:
        raise ValueError("no linear classifier found in the model")
    return heads[-1]


@torch.no_grad()
def features(trainer, rows: np.ndarray) -> torch.Tensor:
    """(len(rows), D) float32, L2-normalised: the classifier's input for `rows` (eval mode)."""
    trainer.model.eval()
    out: list[torch.Tensor] = []
    hook = classifier(trainer.model, trainer.K).register_forward_hook(
        lambda m, inp, o: out.append(inp[0].detach().float().flatten(1)))
    try:
        bs = trainer.predict_batch
        padded = np.concatenate([rows, np.repeat(rows[-1:], -len(rows) % bs)])
        order = torch.as_tensor(padded, dtype=torch.long, device=trainer.data.order_device)
        for x, _ in trainer.data.batches(order, bs, len(padded) // bs):
            x = trainer._inputs(x, None)
            with torch.autocast(trainer.device.type, dtype=trainer.amp or torch.float32,
                                enabled=trainer.amp is not None):
                trainer.forward(x)
    finally:
        hook.remove()
    f = torch.cat(out)[:len(rows)]
    return f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)


def knn_probs(train_f: torch.Tensor, train_y: torch.Tensor, val_f: torch.Tensor, k: int,
              num_classes: int) -> np.ndarray:
    """(n_val, K) float32: each held-out row's k most similar training rows vote for their
    (given) labels, weighted by similarity; rows sum to 1."""
    k = min(int(k), train_f.shape[0])
    out = []
    for s in range(0, val_f.shape[0], CHUNK_ROWS):
        sim, idx = (val_f[s:s + CHUNK_ROWS] @ train_f.T).topk(k, dim=1)
        votes = torch.zeros(idx.shape[0], num_classes, device=val_f.device)
        votes.scatter_add_(1, train_y[idx], sim.clamp_min(0) + 1e-6)
        out.append(votes / votes.sum(dim=1, keepdim=True))
    return torch.cat(out).cpu().numpy().astype(np.float32)


def blend(trainer, train_rows: np.ndarray, val_rows: np.ndarray, probs: np.ndarray,
          k: int) -> np.ndarray:
    """The mean of `probs` (n_val, K) and the k-NN votes of the held-out rows."""
    y = torch.as_tensor(trainer.ds.labels[train_rows], dtype=torch.long, device=trainer.device)
    p = knn_probs(features(trainer, train_rows).to(trainer.device), y,
                  features(trainer, val_rows).to(trainer.device), k, trainer.K)
    out = 0.5 * (probs + p)
    return (out / out.sum(axis=1, keepdims=True)).astype(np.float32)
