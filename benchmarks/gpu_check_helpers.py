"""Helpers for benchmarks/gpu_check.sh (each usable on its own):

  make-data OUT N SIDE CHANNELS NOISE SEED   synthetic PNGs (10 classes, NOISE share of labels
                                             flipped) + OUT/manifest.csv (path,label,true_label)
  from-idx SRC OUT [LIMIT]                   MNIST idx files -> PNGs + OUT/manifest.csv
  wrap CLI-ARGS...                           `clean-labels CLI-ARGS` in this process, then one
                                             GPUCHECK line: wall time, peak GPU memory (torch's
                                             allocator), peak host RSS. Environment:
                                               GPUCHECK_FORCE_MODE=host|mapped  data not resident
                                               GPUCHECK_MEM_FRACTION=f          cap the CUDA
                                                 allocator (a real out-of-memory)
                                               GPUCHECK_INJECT_OOM=1            every forward
                                                 raises CUDA's OutOfMemoryError (CPU dry runs)
                                               GPUCHECK_COMPILE_BACKEND=eager   torch.compile's
                                                 backend (CPU dry runs: no C++ build)
  summarize RUN                              one SUMMARY line from RUN/metrics.json (images/s)
  compare A.npy B.npy                        max |A - B|
  same-flags RUN_A RUN_B                     do two ranking.parquet/csv flag the same rows
  folds RUN                                  one line per fold: device, GPU ids, node
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


# ---------------------------------------------------------------------------------- data
def _write_chunk(args):
    import numpy as np
    from PIL import Image

    out, start, labels, side, channels, seed = args
    rng = np.random.default_rng(seed * 1_000_003 + start)
    low = np.random.default_rng(seed).normal(0, 1, (10, channels, 7, 7))
    reps = -(-side // 7)
    T = np.kron(low, np.ones((1, 1, reps, reps)))[:, :, :side, :side]
    T = 40 + 170 * (T - T.min()) / (T.max() - T.min())
    paths = []
    for i, c in enumerate(labels, start):
        img = np.roll(T[c], tuple(rng.integers(-3, 4, 2)), axis=(1, 2))
        img = img * rng.uniform(0.7, 1.2) + rng.normal(0, 30, img.shape)
        a = np.clip(img, 0, 255).astype(np.uint8)
        rel = f"img/{i // 1000:03d}/{i:06d}.png"
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a[0] if channels == 1 else a.transpose(1, 2, 0)).save(out / rel, compress_level=1)
        paths.append(rel)
    return paths


def make_data(out: str, n: str, side: str, channels: str, noise: str, seed: str) -> None:
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np
    import pandas as pd

    out_p, n, side, channels, seed = Path(out), int(n), int(side), int(channels), int(seed)
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 10, n)
    given = true.copy()
    flip = rng.random(n) < float(noise)
    given[flip] = (true[flip] + rng.integers(1, 10, flip.sum())) % 10
    jobs = [(out_p, s, true[s:s + 1000], side, channels, seed) for s in range(0, n, 1000)]
    t = time.time()
    with ProcessPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as ex:
        paths = [p for chunk in ex.map(_write_chunk, jobs) for p in chunk]
    pd.DataFrame({"path": paths, "label": [f"c{v}" for v in given],
                  "true_label": [f"c{v}" for v in true]}).to_csv(out_p / "manifest.csv", index=False)
    print(f"wrote {n} {side}x{side}x{channels} PNGs ({flip.sum()} labels flipped) to {out_p} "
          f"in {time.time() - t:.1f} s")


def from_idx(src: str, out: str, limit: str = "0") -> None:
    import numpy as np
    import pandas as pd
    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _evalutil import mnist_test

    X, y = mnist_test(Path(src))
    if int(limit):
        X, y = X[:int(limit)], y[:int(limit)]
    out_p = Path(out)
    paths = []
    for i, im in enumerate(X):
        rel = f"img/{i // 1000:03d}/{i:06d}.png"
        (out_p / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(im)).save(out_p / rel, compress_level=1)
        paths.append(rel)
    pd.DataFrame({"path": paths, "label": [f"c{v}" for v in y]}).to_csv(out_p / "manifest.csv", index=False)
    print(f"wrote {len(y)} MNIST PNGs to {out_p}")


# ---------------------------------------------------------------------------------- wrapper
def _patch_for_check() -> None:
    """Apply the GPUCHECK_* environment (imports torch; only when one is set)."""
    import torch

    from cleanlab_lite.train import data, models

    mode = os.environ.get("GPUCHECK_FORCE_MODE") or None
    real_init = data.DeviceData.__init__

    def init(self, X, labels, weights, device, stream=None, gpu_share=1.0):
        real_init(self, X, labels, weights, device, stream=stream or mode, gpu_share=gpu_share)
        print(f"GPUCHECK placement mode={self.mode} device={device} X={X.nbytes / 2**20:.1f}MiB",
              file=sys.stderr, flush=True)

    data.DeviceData.__init__ = init
    frac = os.environ.get("GPUCHECK_MEM_FRACTION")
    if frac and torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(float(frac))
    if os.environ.get("GPUCHECK_INJECT_OOM"):
        real_build = models.build_model

        def oom(module, inputs):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected by gpu_check)")

        def build(*a, **kw):
            m = real_build(*a, **kw)
            m.register_forward_pre_hook(oom)
            return m

        models.build_model = build
    backend = os.environ.get("GPUCHECK_COMPILE_BACKEND")
    if backend:
        import functools

        torch.compile = functools.partial(torch.compile, backend=backend)


def wrap(args: list[str]) -> None:
    import atexit
    import signal

    # a background job of a non-interactive shell starts with SIGINT ignored: restore Ctrl-C
    signal.signal(signal.SIGINT, signal.default_int_handler)
    t0 = time.perf_counter()

    def report():
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        line = f"GPUCHECK wall_s={time.perf_counter() - t0:.1f} peak_rss_GiB={rss:.2f}"
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            g = 2 ** 30
            line += (f" peak_gpu_alloc_GiB={torch.cuda.max_memory_allocated() / g:.2f}"
                     f" peak_gpu_reserved_GiB={torch.cuda.max_memory_reserved() / g:.2f}"
                     f" gpu={torch.cuda.get_device_name()!r}")
        print(line, file=sys.stderr, flush=True)

    atexit.register(report)
    if any(os.environ.get(k) for k in ("GPUCHECK_FORCE_MODE", "GPUCHECK_MEM_FRACTION",
                                       "GPUCHECK_INJECT_OOM", "GPUCHECK_COMPILE_BACKEND")):
        _patch_for_check()
    from cleanlab_lite.cli import main

    main(args=args, prog_name="clean-labels")


# ---------------------------------------------------------------------------------- reports
def summarize(run: str) -> None:
    m = json.loads((Path(run) / "metrics.json").read_text())
    t = m.get("timings", {})
    trained = [f for f in m.get("per_fold", []) if not f.get("reused")]
    imgs = sum(int(f.get("steps") or 0) * int(f.get("batch_size") or 0) for f in trained)
    train_s = float(t.get("train_s") or 0)
    parts = [f"model={m.get('model')}", f"device={m.get('device')}", f"epochs={m.get('epochs')}",
             f"batch={m.get('batch_size')}", f"lr={m.get('lr')}",
             f"trained_folds={len(trained)}", f"reused_folds={len(m.get('per_fold', [])) - len(trained)}",
             f"train_s={train_s:.2f}", f"predict_s={t.get('predict_s', 0):.2f}",
             f"total_s={t.get('total_s', 0):.2f}",
             f"train_images_per_s={imgs / train_s:,.0f}" if imgs and train_s else "train_images_per_s=-",
             f"oof_acc={m.get('oof', {}).get('accuracy', float('nan')):.4f}"]
    if "embed_s" in t:
        n = sum(int(f.get("n_val") or 0) for f in m.get("per_fold", [])) // max(1, m.get("repeats", 1))
        parts.append(f"embed_s={t['embed_s']:.2f}")
        if t["embed_s"] > 0 and not m.get("backbone", {}).get("cache_reused"):
            parts.append(f"embed_images_per_s={n / t['embed_s']:,.0f}")
        parts.append(f"embed_cache_reused={m.get('backbone', {}).get('cache_reused')}")
    print("SUMMARY " + " ".join(parts))


def compare(a: str, b: str) -> None:
    import numpy as np

    A, B = np.load(a), np.load(b)
    print(f"COMPARE max_abs_diff={float(np.abs(A - B).max()):.3g} shape={A.shape}")


def _flags(run: Path):
    import pandas as pd

    p = run / "ranking.parquet"
    df = pd.read_parquet(p) if p.is_file() else pd.read_csv(run / "ranking.csv")
    return set(df.loc[df["is_label_issue"].astype(str).str.lower() == "true", "row"].astype(int))


def same_flags(a: str, b: str) -> None:
    fa, fb = _flags(Path(a)), _flags(Path(b))
    print(f"FLAGS same={fa == fb} flagged_a={len(fa)} flagged_b={len(fb)}")


def folds(run: str) -> None:
    m = json.loads((Path(run) / "metrics.json").read_text())
    for f in m["per_fold"]:
        print(f"FOLD {f['fold']}: device={f['device']} gpu_ids={f.get('gpu_ids')} node={f.get('node')} "
              f"task_s={f.get('task_s', 0):.1f} train_s={f['train_s']:.2f}")


if __name__ == "__main__":
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "wrap":
        wrap(rest)
    else:
        {"make-data": make_data, "from-idx": from_idx, "summarize": summarize, "compare": compare,
         "same-flags": same_flags, "folds": folds}[cmd](*rest)
