"""The per-chunk kernels of `_kernels` in torch, for `device="cuda"`.

Same inputs and outputs (numpy in, numpy out) and the same arithmetic: comparisons against the
same float32-rounded thresholds, argmax returning the first maximum, margins in the input dtype.
So the flags are identical to the numpy path; only row sums (reduction order) may differ in the
last bit, which moves nothing unless --renormalize is on. Imported only when asked for: the CPU
path never needs torch.

Every kernel takes the torch device it runs on as `device` ("cuda", "cuda:N", or "cpu" to test
this path on a machine without a GPU); the engine passes it.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from cleanlab_lite.scoring import _kernels

def _t(a: np.ndarray, device: str, dtype=None) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # read-only memmap views: we never write to them
        t = torch.from_numpy(np.ascontiguousarray(a))
    return t.to(device, dtype=dtype, non_blocking=True)


def _float(P: np.ndarray) -> np.ndarray:
    return _kernels.as_float(P)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.cpu().numpy()


def _prep(P: np.ndarray, start: int, name: str, renormalize: bool, device: str):
    P = _float(P)
    T = _t(P, device)
    rs = T.sum(dim=1)
    bad = (~torch.isfinite(rs)).any() | (T.min() < 0) if T.numel() else torch.tensor(False)
    if not renormalize:
        bad = bad | ((rs - 1.0).abs() > _kernels.ROW_SUM_TOL).any()
    if bool(bad):
        _kernels.check_chunk(P, start, name, renormalize)   # raises the same one-line error
    if renormalize:
        if bool((rs <= 0).any()):
            _kernels.check_chunk(P, start, name, renormalize)
        T = T / rs[:, None]
    return T


def pass_a(P, y, start, *, name, renormalize, max_other, entropy, rowsum64, device):
    T = _prep(P, start, name, renormalize, device)
    yt = _t(y.astype(np.int64), device)
    r = torch.arange(T.shape[0], device=T.device)
    am = T.argmax(dim=1)
    out = {"given": _np(T[r, yt].double()), "argmax": _np(am).astype(np.int64),
           "maxp": _np(T[r, am].double())}
    if max_other:
        Q = T.clone()
        Q[r, yt] = -torch.inf
        out["max_other"] = _np(Q.max(dim=1).values.double())
    if entropy:
        D = T.double()
        out["entropy"] = _np(-torch.special.xlogy(D, D).sum(dim=1) / np.log(T.shape[1]))
    if rowsum64:
        out["rowsum64"] = _np(T.double().sum(dim=1))
    return out


def pass_b(P, y, start, *, need, name, renormalize, t_cmp, cleanlab_argmax, device):
    idx = np.flatnonzero(need)
    if len(idx) == 0:
        return {"idx": idx, "guess": idx, "has": np.zeros(0, bool)}
    T = _t(_float(P)[idx], device)
    if renormalize:
        T = T / T.sum(dim=1)[:, None]
    mask = T >= _t(t_cmp.astype(np.dtype(str(T.dtype).replace("torch.", ""))), device)
    if cleanlab_argmax:
        cnt = mask.sum(dim=1)
        first = mask.to(torch.uint8).argmax(dim=1)
        guess = torch.where(cnt > 1, T.argmax(dim=1), first)
        has = cnt > 0
    else:
        Q = T * mask
        guess = Q.argmax(dim=1)
        has = Q[torch.arange(len(idx), device=T.device), guess] > 0
    return {"idx": idx + start, "guess": _np(guess).astype(np.int64), "has": _np(has)}


def pass_adj(P, y, start, *, renormalize, t, device):
    T = _prep(P, start, "pred_probs", renormalize, device) if renormalize else _t(_float(P), device)
    A = T.double() - _t(np.asarray(t, dtype=np.float64), device)
    A[torch.arange(T.shape[0], device=T.device), _t(y.astype(np.int64), device)] = -torch.inf
    return {"max_other_adj": _np(A.max(dim=1).values)}


def pass_c(P, y, start, *, renormalize, prune, thr, device):
    T = _prep(P, start, "pred_probs", renormalize, device) if renormalize else _t(_float(P), device)
    K = T.shape[1]
    yt = _t(y.astype(np.int64), device)
    r = torch.arange(T.shape[0], device=T.device)
    M = T - T[r, yt][:, None]
    keep = (_t(prune, device)[yt] > 0) & (M.double() >= _t(np.asarray(thr, dtype=np.float64), device)[yt])
    i, j = torch.nonzero(keep, as_tuple=True)
    i, j = _np(i), _np(j)
    vals = _np(M[torch.as_tensor(i, device=T.device), torch.as_tensor(j, device=T.device)].double())
    return {"pair": y[i] * K + j, "value": vals, "row": i + start}
