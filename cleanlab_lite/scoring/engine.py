"""The scoring engine: a few streaming passes over pred_probs, then array work on (N,) vectors.

    pass A  validation, self-confidence, argmax, optional margin / entropy     (no thresholds)
    pass B  the confident joint's true-label guess per row                     (thresholds)
    pass C  prune_by_noise_rate margins, only for that filter                  (prune counts)

A pass reads pred_probs one chunk at a time (`_source.map_chunks`), so an in-memory array, a
memory-sized `.npy` file and a file many times larger than RAM take the same code path and give
the same result. `device="cuda"` runs the per-chunk kernels in torch (`_torch`) instead.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from cleanlab_lite.config import CJ_ARGMAX
from cleanlab_lite.errors import LabelsError, PredProbsError
from cleanlab_lite.scoring import _kernels, count
from cleanlab_lite.scoring._source import ArraySource, as_source, concat, map_chunks

DEVICES = ("cpu", "cuda", "torch-cpu")  # torch-cpu: the torch kernels on the CPU (tests the GPU path)
TORCH_CHUNK_BYTES = 256 * 2**20  # pred_probs bytes per chunk on the GPU
BLOCK_CELLS = 2**24
ROW_SUM_BOUND = 1.0 + _kernels.ROW_SUM_TOL + 1e-4  # rows sum to at most this (validated)         # pred_probs cells per prune_by_noise_rate block (bounds its memory)   # argmax over confident classes only (fixed) | cleanlab's


def check_labels(labels, n: int, k: int, name: str = "labels") -> np.ndarray:
    """Labels as int64 class indices of shape (N,), each in [0, K)."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise LabelsError(f"{name} has shape {y.shape}; it must be one class index per row, shape (N,)")
    if y.dtype.kind == "b" or y.dtype.kind not in "iuf":
        raise LabelsError(f"{name} has dtype {y.dtype}; it must hold integer class indices 0..K-1 "
                          "(map class names to indices first)")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            i = int(np.argmax(~np.isfinite(y) | (y != np.round(y))))
            raise LabelsError(f"{name}: row {i} is {y[i]!r}, not an integer class index; "
                              "labels must be integers 0..K-1")
    y = y.astype(np.int64, copy=False)
    if len(y) != n:
        raise LabelsError(f"{name} has {len(y)} rows but pred_probs has {n}; both need one row "
                          "per example, in the same order")
    if n:
        bad = (y < 0) | (y >= k)
        if bad.any():
            i = int(np.argmax(bad))
            raise LabelsError(f"{name}: row {i} has label {int(y[i])}, outside the {k} classes "
                              f"[0, {k - 1}] of pred_probs; check the class order or the label column")
    return y


@dataclass
class Engine:
    """Row statistics of one (labels, pred_probs) pair, computed lazily pass by pass."""

    labels: np.ndarray
    source: object
    renormalize: bool = False
    cj_argmax: str = "confident"
    device: str = "cpu"
    chunk_rows: int | None = None
    threads: int | None = None
    stats: dict = field(default_factory=dict)

    @classmethod
    def create(cls, labels, pred_probs, *, renormalize=False, cj_argmax="confident",
               device="cpu", chunk_rows=None, threads=None) -> "Engine":
        if cj_argmax not in CJ_ARGMAX:
            raise ValueError(f"cj_argmax={cj_argmax!r} is not valid; use one of {', '.join(CJ_ARGMAX)}")
        if device not in DEVICES and not str(device).startswith("cuda:"):
            raise ValueError(f"device={device!r} is not valid; use one of {', '.join(DEVICES)}")
        src = as_source(pred_probs)
        if len(src.shape) != 2:
            raise PredProbsError(f"{src.name} has shape {src.shape}; pred_probs must be 2-D (N, K)")
        n, k = src.shape
        if k < 2:
            raise PredProbsError(f"{src.name} has {k} column; pred_probs needs one column per class "
                                 "and at least 2 classes")
        if np.dtype(src.dtype).kind not in "fiu":
            raise PredProbsError(f"{src.name} has dtype {src.dtype}; it must hold float probabilities")
        y = check_labels(labels, n, k)
        return cls(labels=y, source=src, renormalize=renormalize, cj_argmax=cj_argmax,
                   device=device, chunk_rows=chunk_rows, threads=threads)

    # ---- shapes -----------------------------------------------------------------------
    @property
    def n(self) -> int:
        return int(self.source.shape[0])

    @property
    def k(self) -> int:
        return int(self.source.shape[1])

    @property
    def name(self) -> str:
        return self.source.name

    # ---- passes -----------------------------------------------------------------------
    def _map(self, kernel, rows=None, rowargs=None, **kw) -> list[dict]:
        """Run `kernel(P, y, start, **per-chunk slices of rowargs, **kw)` over the chunks."""
        y = self.labels
        rowargs = rowargs or {}
        chunk_rows = self.chunk_rows
        if self.device != "cpu":
            from cleanlab_lite.scoring import _torch
            kernel = functools.partial(getattr(_torch, kernel.__name__),
                                       device="cpu" if self.device == "torch-cpu" else self.device)
            threads = 1
            chunk_rows = chunk_rows or max(1024, TORCH_CHUNK_BYTES // (4 * self.k))
        else:
            threads = self.threads

        def fn(P, start, stop):
            extra = {name: a[start:stop] for name, a in rowargs.items()}
            return kernel(P, y[start:stop], start, **extra, **kw)

        return map_chunks(self.source, fn, chunk_rows=chunk_rows, threads=threads, rows=rows)

    def ensure_a(self, *, max_other=False, entropy=False, rowsum64=False) -> None:
        have = self.stats
        want = {"max_other": max_other, "entropy": entropy, "rowsum64": rowsum64}
        if "given" in have and all(not v or k in have for k, v in want.items()):
            return
        want = {k: v or k in have for k, v in want.items()}
        res = self._map(_kernels.pass_a, name=self.name, renormalize=self.renormalize, **want)
        for key in ("given", "argmax", "maxp") + tuple(k for k, v in want.items() if v):
            have[key] = concat(res, key) if res else np.empty(0)
        have["argmax"] = have["argmax"].astype(np.int64)
        have["thresholds"] = count.confident_thresholds(self.labels, have["given"], self.k)

    def ensure_b(self, *, adj_margin=False) -> None:
        """The confident joint's guess per row. A row whose argmax passes its own threshold is
        guessed as its argmax under both argmax rules, so only the other rows are read again."""
        self.ensure_a()
        have = self.stats
        if "guess" not in have:
            t = have["thresholds"]
            dtype = np.float64 if np.dtype(self.source.dtype) == np.float64 else np.float32
            t_cmp = _kernels.float_threshold(t - _kernels.EPS, dtype)
            am, maxp = have["argmax"], have["maxp"]
            t64 = t_cmp.astype(np.float64)
            # Only rows whose argmax is below its threshold can have a different guess. In such a
            # row any other class j has p_j <= min(max p, row sum - max p), so when that bound is
            # below every threshold no class can pass and the row is simply not counted.
            bound = np.minimum(maxp, ROW_SUM_BOUND - maxp)
            need = (maxp < t64[am]) & (bound >= t64.min())
            guess = am.copy()
            has = np.ones(self.n, dtype=bool)
            has[(maxp < t64[am]) & ~need] = False
            if need.any():
                res = self._map(_kernels.pass_b, rowargs={"need": need}, name=self.name,
                                renormalize=self.renormalize, t_cmp=t_cmp,
                                cleanlab_argmax=self.cj_argmax == "cleanlab")
                idx = concat(res, "idx").astype(np.int64)
                guess[idx] = concat(res, "guess").astype(np.int64)
                has[idx] = concat(res, "has").astype(bool)
            have["guess"], have["has"] = guess, has
        if adj_margin and "max_other_adj" not in have:
            res = self._map(_kernels.pass_adj, renormalize=self.renormalize, t=have["thresholds"])
            have["max_other_adj"] = concat(res, "max_other_adj") if res else np.empty(0)

    def set_thresholds(self, thresholds: np.ndarray) -> None:
        """Use these per-class thresholds, shape (K,), instead of the mean self-confidences
        (cleanlab's `thresholds=`); drops everything computed from the old ones."""
        self.ensure_a()
        for key in ("guess", "has", "cj", "max_other_adj", "adaptive", "adaptive_scores"):
            self.stats.pop(key, None)
        self.stats["thresholds"] = np.asarray(thresholds, dtype=np.float64).reshape(self.k)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The pred_probs rows `rows` (sorted indices) as float64, shape (len(rows), K),
        renormalized when the engine renormalizes. A file is read chunk by chunk."""
        rows = np.asarray(rows, dtype=np.int64)
        if isinstance(self.source, ArraySource):
            P = np.asarray(self.source.array[rows], dtype=np.float64)
        else:
            def fn(chunk, start, stop):
                lo, hi = np.searchsorted(rows, (start, stop))
                return {"p": np.asarray(chunk[rows[lo:hi] - start], dtype=np.float64)}
            res = map_chunks(self.source, fn, chunk_rows=self.chunk_rows, threads=self.threads)
            P = np.concatenate([r["p"] for r in res]) if res else np.empty((0, self.k))
        if self.renormalize and len(P):
            P /= P.sum(axis=1, keepdims=True)
        return P.reshape(len(rows), self.k)

    # ---- derived quantities -------------------------------------------------------------
    @property
    def label_counts(self) -> np.ndarray:
        if "label_counts" not in self.stats:
            self.stats["label_counts"] = np.bincount(self.labels, minlength=self.k)
        return self.stats["label_counts"].copy()

    @property
    def reduce_mask(self) -> np.ndarray:
        """Rows never flagged: adding 1e-6 to the given label's probability (in the input dtype,
        as cleanlab) makes it the argmax (first index wins ties)."""
        if "reduce" not in self.stats:
            self.ensure_a()
            s = self.stats
            dtype = np.float64 if np.dtype(self.source.dtype) == np.float64 else np.float32
            g = (s["given"].astype(dtype) + dtype(_kernels.EPS)).astype(np.float64)
            am, y = s["argmax"], self.labels
            s["reduce"] = (am == y) | (g > s["maxp"]) | ((g == s["maxp"]) & (y < am))
        return self.stats["reduce"]

    def confident_joint(self) -> np.ndarray:
        """Raw confident joint (K, K): rows given label, columns guessed true label; diag >= 1."""
        if "cj" not in self.stats:
            self.ensure_b()
            s = self.stats
            has = s["has"]
            k = self.k
            cell = np.where(has, self.labels * k + s["guess"], k * k)   # k*k: not counted
            cj = np.bincount(cell, minlength=k * k + 1)[: k * k].reshape(k, k)
            np.fill_diagonal(cj, np.maximum(cj.diagonal(), 1))
            s["cj"] = cj.astype(np.int64)
        return self.stats["cj"].copy()

    def off_diagonal(self) -> np.ndarray:
        """Rows counted off the confident joint's diagonal, as a mask of shape (N,)."""
        self.ensure_b()
        return self.stats["has"] & (self.stats["guess"] != self.labels)

    def calibrated_joint(self) -> np.ndarray:
        return count.calibrate(self.confident_joint(), self.label_counts)

    def num_issues(self, estimation_method: str = "off_diagonal") -> int:
        if estimation_method == "off_diagonal":
            return int((self.off_diagonal() & ~self.reduce_mask).sum())
        if estimation_method == "adaptive":
            from cleanlab_lite.scoring.adaptive import adaptive_count
            return adaptive_count(self)["num_issues"]
        if estimation_method == "off_diagonal_calibrated":
            joint = count.joint_distribution(self.calibrated_joint(), self.label_counts)
            return int(np.rint((1.0 - joint.trace()) * self.n))
        raise ValueError(f"estimation_method={estimation_method!r} is not valid; use one of "
                         "adaptive, off_diagonal, off_diagonal_calibrated")

    def margin_candidates(self, prune: np.ndarray) -> np.ndarray:
        """Rows flagged by prune_by_noise_rate: for each given class k and other class j, the
        prune[k, j] rows of class k with the largest p_j - p_k. Returns a mask of shape (N,).

        Streams pass C keeping, per (k, j), only margins above the running m-th largest, then
        sorts the survivors once; ties go to the lower row index.
        """
        k = self.k
        prune = np.asarray(prune, dtype=np.int64)
        flat_prune = prune.reshape(-1)
        thr = np.full((k, k), -np.inf)
        pair = np.empty(0, np.int64)
        value = np.empty(0)
        row = np.empty(0, np.int64)
        block = max(4096, BLOCK_CELLS // k)
        for lo in range(0, self.n, block):
            res = self._map(_kernels.pass_c, rows=(lo, min(self.n, lo + block)),
                            renormalize=self.renormalize, prune=prune, thr=thr)
            pair = np.concatenate([pair] + [r["pair"].astype(np.int64) for r in res])
            value = np.concatenate([value] + [r["value"] for r in res])
            row = np.concatenate([row] + [r["row"].astype(np.int64) for r in res])
            # keep the top prune[pair] per pair; the m-th kept value bounds the next blocks
            order = np.lexsort((row, -value, pair))
            pair, value, row = pair[order], value[order], row[order]
            rank = np.arange(len(pair)) - np.searchsorted(pair, pair, side="left")
            keep = rank < flat_prune[pair]
            full = keep & (rank == flat_prune[pair] - 1)
            pair, value, row = pair[keep], value[keep], row[keep]
            thr.reshape(-1)[pair[full[keep]]] = value[full[keep]]
        mask = np.zeros(self.n, dtype=bool)
        mask[row] = True
        return mask
