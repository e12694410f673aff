"""Inference with a trained model, shared by the fold loop (held-out fold) and `predict` (the fold
ensemble on new rows): batches turned into model input the way training saw them, softmax in
the training precision, and flip test-time augmentation."""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch


def model_input(x: torch.Tensor, image: bool, channels_last: bool) -> torch.Tensor:
    """A gathered batch as the model takes it: images uint8 -> float 0..255 (channels_last when
    asked); tabular rows unchanged (the model's Normalize layer standardizes)."""
    if image:
        x = x.float()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
    return x


@torch.no_grad()
def softmax_probs(forward, batches: Iterable[torch.Tensor], *, device: torch.device,
                  amp: torch.dtype | None, tta: bool) -> np.ndarray:
    """Softmax probabilities (rows, K) float32 over model-input `batches`, averaged with the
    mirrored image when `tta`; rows renormalized to sum to 1. The caller sets eval mode."""
    out = []
    for x in batches:
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            p = torch.softmax(forward(x).float(), dim=1)
            if tta:
                p = 0.5 * (p + torch.softmax(forward(x.flip(-1)).float(), dim=1))
        out.append(p.float())
    probs = torch.cat(out).cpu().numpy().astype(np.float32)
    return probs / probs.sum(axis=1, keepdims=True)


def collect_rows(batches: Iterable[torch.Tensor], n: int, device: torch.device) -> np.ndarray:
    """Stack (b, ...) output batches made on `device` into one host array (n, ...), each copied
    asynchronously into pinned memory as it comes (on a GPU nothing waits per batch)."""
    host, s = None, 0
    for f in batches:
        if host is None:
            host = torch.empty((n,) + tuple(f.shape[1:]), dtype=f.dtype,
                               pin_memory=device.type == "cuda")
        host[s:s + f.shape[0]].copy_(f, non_blocking=True)
        s += f.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if host is None or s != n:
        raise ValueError(f"collect_rows: got {s} rows, expected {n}")
    return host.numpy()
