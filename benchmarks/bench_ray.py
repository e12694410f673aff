"""`--backend ray` against the local backend on one machine: the same folds, the same seed, in one
run. Prints, for each backend, the wall time of `train_folds` (all folds), and for Ray its costs:
Ray start-up, putting the data into the object store, reading it in a worker, the round trip of
an empty task, and the per-fold setup inside a task (data placement, model build). Also checks
that the two backends give the same out-of-fold probabilities.

    python benchmarks/bench_ray.py digits --workers 2                  # the demo's 1,797 digits
    python benchmarks/bench_ray.py manifest /work/mnist/png/manifest.csv --epochs 1 --workers 2
    python benchmarks/bench_ray.py manifest table.csv --model hgb --workers 2   # scikit-learn folds

Ray runs twice: "cold" (the first tasks start worker processes that import torch) and "warm"
(workers already up, as on a cluster that trains more than one run). Local runs first.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as clean-labels does, before torch loads OpenMP
from cleanlab_lite.train import train_folds  # noqa: E402
from cleanlab_lite.config import DataConfig, TrainConfig  # noqa: E402
from cleanlab_lite.data.load import load_dataset  # noqa: E402
from cleanlab_lite.folds import assign_repeats  # noqa: E402


def _noop(x=None):
    return 0


def _nbytes(x):
    return int(x.X.nbytes)


def ray_costs(ray, ds, repeats: int = 20) -> dict:
    """Empty-task round trip, ray.put of the data, and a worker's read of it (zero-copy)."""
    from cleanlab_lite.data.dataset import Dataset

    noop, probe = ray.remote(_noop), ray.remote(_nbytes)
    ray.get([noop.remote() for _ in range(4)])              # workers up
    trips = []
    for _ in range(repeats):
        t = time.perf_counter()
        ray.get(noop.remote())
        trips.append(time.perf_counter() - t)
    t = time.perf_counter()
    ref = ray.put(Dataset(ds.kind, np.asarray(ds.X), ds.labels, ds.classes, ds.weights))
    put_s = time.perf_counter() - t
    reads = []
    for _ in range(5):
        t = time.perf_counter()
        ray.get(probe.remote(ref))
        reads.append(time.perf_counter() - t)
    trip = statistics.median(trips)
    return {"task_round_trip_ms": 1000 * trip, "put_s": put_s,
            "worker_read_ms": 1000 * max(0.0, statistics.median(reads) - trip),
            "mb": ds.X.nbytes / 2**20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["digits", "manifest"])
    ap.add_argument("manifest", nargs="?", help="manifest for `manifest` (images by path)")
    ap.add_argument("--workers", type=int, default=2, help="Ray CPUs (= parallel folds)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None, help="default: the model's own")
    ap.add_argument("--model", default="auto", help="--model (a table: hgb, logreg, ...)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import ray

    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    if args.what == "digits":
        from cleanlab_lite.data.demo import write_digits

        manifest = write_digits(tmp / "digits")
    else:
        if not args.manifest:
            sys.exit("manifest mode needs a manifest path")
        manifest = Path(args.manifest)
    t = time.perf_counter()
    ds = load_dataset(manifest, DataConfig(), cache_dir=tmp / "cache").dataset
    decode_s = time.perf_counter() - t
    folds = assign_repeats(ds.labels, args.folds, 1, seed=args.seed, classes=ds.classes)
    base = dict(folds=args.folds, epochs=args.epochs, seed=args.seed, device="cpu", quiet=True,
                model=args.model)
    print(f"data: {manifest} -> {ds.n} rows, X {tuple(ds.X.shape)} {ds.X.dtype} "
          f"({ds.X.nbytes / 2**20:.1f} MiB), decode {decode_s:.1f} s; {args.folds} folds, "
          f"model {args.model}, epochs {args.epochs or 'default'}, CPU")

    t = time.perf_counter()
    local = train_folds(ds, folds, TrainConfig(**base), tmp / "local")
    local_s = time.perf_counter() - t

    t = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, logging_level=logging.WARNING)
    init_s = time.perf_counter() - t
    rcfg = TrainConfig(**base, backend="ray", cpus_per_fold=1)
    runs = {}
    for name in ("cold", "warm"):
        t = time.perf_counter()
        res = train_folds(ds, folds, rcfg, tmp / f"ray-{name}")
        runs[name] = (time.perf_counter() - t, res)
    costs = ray_costs(ray, ds)
    ray.shutdown()

    fit = [f["train_s"] + f["predict_s"] for f in local.metrics["per_fold"]]
    print(f"local backend (1 process, folds one after another): {local_s:.1f} s "
          f"(fit+predict per fold {statistics.mean(fit):.1f} s)")
    print(f"ray start-up (ray.init, {args.workers} CPUs): {init_s:.1f} s")
    for name, (wall, res) in runs.items():
        pf = res.metrics["per_fold"]
        setup = statistics.mean(f["task_s"] - f["train_s"] - f["predict_s"] for f in pf)
        fitr = statistics.mean(f["train_s"] + f["predict_s"] for f in pf)
        diff = float(np.abs(res.pred_probs - local.pred_probs).max())
        print(f"ray backend {name} ({args.workers} workers): {wall:.1f} s = {local_s / wall:.2f}x the "
              f"local backend; fit+predict per fold {fitr:.1f} s, setup in task {setup:.2f} s, "
              f"object-store put {res.metrics['timings']['prepare_s']:.3f} s; "
              f"max |ray - local| = {diff:.1e}")
    print(f"ray per-task overhead: empty task round trip {costs['task_round_trip_ms']:.1f} ms; "
          f"ray.put of {costs['mb']:.1f} MiB {costs['put_s'] * 1000:.0f} ms; "
          f"a worker's zero-copy read of it {costs['worker_read_ms']:.1f} ms")


if __name__ == "__main__":
    main()
