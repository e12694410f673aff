"""Speed and memory of the default scoring against cleanlab, measured in the same run.

    python benchmarks/bench_rank.py                 # N=1,000,000 K=100 float32 (issue #3 item 5)
    python benchmarks/bench_rank.py --quick         # N=100,000 K=50 (for `make bench`)
    python benchmarks/bench_rank.py --out-of-core 4 # + a 4 GB .npy (10M x 100) ranked in chunks
                                                    #   under a 2 GiB address-space cap, GB/s vs numpy
    python benchmarks/bench_rank.py --device cuda   # + the torch kernels on the GPU

Each measurement runs in its own subprocess so its peak RSS (ru_maxrss) is its own:
  ours      cleanlab_lite: label quality scores + flags (default filter) + noise estimates
            (confident joint, calibrated joint, noise matrices, estimated number of issues)
            + the flagged rows ordered by score, on the in-memory float32 array
  cleanlab  cleanlab 2.9 find_label_issues(labels, pred_probs,
            return_indices_ranked_by='self_confidence') with its default filter
  cli       `clean-labels rank --pred-probs P.npy --labels L.npy --out DIR` end to end, including
            interpreter start-up, imports, reading the file and writing ranking.csv/summary.json
Memory is reported as peak RSS above the interpreter's baseline, divided by the array size
(the array itself counts: 1.00x = nothing but the array).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def make_data(folder: Path, n: int, k: int, noise: float = 0.2, seed: int = 0) -> tuple[Path, Path]:
    """Write pred_probs (N, K) float32 and noisy labels (N,) as .npy, in chunks."""
    pp, lab = folder / f"pp2_{n}x{k}.npy", folder / f"labels2_{n}.npy"
    if pp.exists() and lab.exists():
        return pp, lab
    rng = np.random.default_rng(seed)
    true = rng.integers(0, k, n)
    labels = true.copy()
    flip = rng.random(n) < noise
    labels[flip] = (true[flip] + rng.integers(1, k, int(flip.sum()))) % k
    out = np.lib.format.open_memmap(str(pp) + ".tmp", mode="w+", dtype=np.float32, shape=(n, k))
    step = max(1, (64 << 20) // (4 * k))
    for s in range(0, n, step):
        e = min(n, s + step)
        logits = rng.standard_normal((e - s, k), dtype=np.float32)
        # a model of mixed confidence: the true class's logit is 2..10 above the others
        logits[np.arange(e - s), true[s:e]] += rng.uniform(2.0, 10.0, e - s).astype(np.float32)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        out[s:e] = logits
    out.flush()
    del out
    os.replace(str(pp) + ".tmp", pp)
    np.save(lab, labels)
    return pp, lab


# ---- measured bodies (run in subprocesses) ---------------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def body(which: str, pp: str, lab: str, device: str, repeat: int) -> dict:
    import warnings
    warnings.filterwarnings("ignore")
    if which == "numpy_pass":       # the floor: one streaming numpy reduction over the file
        arr = np.load(pp, mmap_mode="r")
        base = _rss_mb()
        t0 = time.perf_counter()
        step = max(1, (8 << 20) // (arr.shape[1] * 4))
        acc = 0.0
        for s in range(0, arr.shape[0], step):
            acc += float(arr[s:s + step].max(axis=1).sum())
        dt = time.perf_counter() - t0
        return {"seconds": dt, "base_mb": base, "peak_mb": _peak_mb(), "bytes": arr.nbytes}
    if which == "ours_file":       # out of core: the engine reads the .npy in chunks
        from cleanlab_lite.config import RankConfig
        from cleanlab_lite.rank import score
        labels = np.load(lab)
        base = _rss_mb()
        t0 = time.perf_counter()
        res = score(labels, pp, RankConfig(device=device))
        dt = time.perf_counter() - t0
        nbytes = os.path.getsize(pp)
        return {"seconds": dt, "base_mb": base, "peak_mb": _peak_mb(), "bytes": nbytes,
                "flagged": int(res["issues"].sum())}
    labels = np.load(lab)
    base = _rss_mb()
    arr = np.load(pp)                 # in memory
    times, cpu, out = [], [], None
    for _ in range(repeat):
        c0 = time.process_time()
        t0 = time.perf_counter()
        if which == "ours":
            out = run_ours(labels, arr, device)
        else:
            from cleanlab.filter import find_label_issues
            out = find_label_issues(labels, arr, return_indices_ranked_by="self_confidence")
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"seconds": min(times), "all_seconds": times, "cpu_seconds": min(cpu),
            "base_mb": base, "peak_mb": _peak_mb(), "bytes": arr.nbytes, "flagged": int(len(out))}


def run_ours(labels, arr, device="cpu"):
    """What `rank` computes before writing: scores, default flags, noise estimates, order."""
    from cleanlab_lite.scoring import Engine, count, issues_from, scores_from
    from cleanlab_lite.scoring.api import DEFAULT_FILTER, DEFAULT_METHOD
    eng = Engine.create(labels, arr, device=device)
    scores = scores_from(eng, DEFAULT_METHOD)
    issues = issues_from(eng, DEFAULT_FILTER)
    count.latent(eng.calibrated_joint(), eng.label_counts)
    eng.num_issues("off_diagonal")
    idx = np.flatnonzero(issues)
    return idx[np.argsort(scores[idx], kind="stable")]


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sub(which: str, pp: Path, lab: Path, device: str = "cpu", repeat: int = 1,
        mem_limit_gb: float | None = None) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); "
            f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_rank as b; "
            f"print('RESULT', json.dumps(b.body({which!r}, {str(pp)!r}, {str(lab)!r}, "
            f"{device!r}, {repeat})))")
    pre = None
    if mem_limit_gb:
        lim = int(mem_limit_gb * 2**30)
        def pre():
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=pre)
    if r.returncode != 0:
        raise SystemExit(f"{which} failed:\n{r.stderr[-3000:]}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[7:])


def mem_ratio(res: dict) -> float:
    return (res["peak_mb"] - res["base_mb"]) * 2**20 / res["bytes"]


def main(argv=None):
    ap = argparse.ArgumentParser(description="scoring speed/memory vs cleanlab")
    ap.add_argument("--quick", action="store_true", help="N=100,000 K=50 (make bench)")
    ap.add_argument("-n", type=int, default=None)
    ap.add_argument("-k", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="timed repeats (best is reported)")
    ap.add_argument("--device", default="cpu", help="cpu | cuda (torch kernels)")
    ap.add_argument("--out-of-core", type=float, default=0.0, metavar="GB",
                    help="also rank a .npy of about this many GB in chunks (K=1000)")
    ap.add_argument("--ooc-k", type=int, default=100,
                    help="classes of the out-of-core file (N = GB / (4 K)); K=100 with 4 GB "
                         "gives the 10,000,000 rows of the issue's 40 GB case")
    ap.add_argument("--mem-limit", type=float, default=2.0, metavar="GB",
                    help="address-space cap for the out-of-core run (default 2 GiB)")
    ap.add_argument("--dir", default=None, help="where to write the data (default: a temp dir)")
    ap.add_argument("--skip-cleanlab", action="store_true")
    args = ap.parse_args(argv)
    tmp = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench_rank_"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        run(args, tmp)
    finally:
        if not args.dir:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args, tmp: Path) -> None:
    n = args.n or (100_000 if args.quick else 1_000_000)
    k = args.k or (50 if args.quick else 100)
    print(f"data: N={n:,} K={k} float32 ({n * k * 4 / 1e9:.2f} GB) in {tmp}; "
          f"{os.cpu_count()} CPU(s)", flush=True)
    pp, lab = make_data(tmp, n, k)
    ours = sub("ours", pp, lab, "cpu", args.repeat)
    print(f"ours      {ours['seconds']:8.3f} s  (CPU {ours['cpu_seconds']:.3f} s)  peak "
          f"{mem_ratio(ours):.2f}x array  ({ours['flagged']:,} flagged)  runs "
          f"{[round(t, 3) for t in ours['all_seconds']]}", flush=True)
    if not args.skip_cleanlab:
        cl = sub("cleanlab", pp, lab, "cpu", 1 if not args.quick else args.repeat)
        print(f"cleanlab  {cl['seconds']:8.3f} s  (CPU {cl['cpu_seconds']:.3f} s in the main "
              f"process)  peak {mem_ratio(cl):.2f}x array  ({cl['flagged']:,} flagged)", flush=True)
        print(f"speed-up  {cl['seconds'] / ours['seconds']:8.1f}x  wall time (cleanlab / ours, best of runs)")
    if args.device != "cpu":
        gpu = sub("ours", pp, lab, args.device, args.repeat)
        print(f"ours {args.device}  {gpu['seconds']:8.3f} s  runs "
              f"{[round(t, 3) for t in gpu['all_seconds']]}")
    # the command, end to end
    out = tmp / "rank_out"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "cleanlab_lite", "rank", "--pred-probs", str(pp),
                        "--labels", str(lab), "--out", str(out), "--quiet"],
                       capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"clean-labels rank failed: {r.stderr}")
    summ = json.loads((out / "summary.json").read_text())
    print(f"cli       {wall:8.3f} s  end to end (score {summ['seconds']['score']:.3f} s, write "
          f"ranking.csv {summ['seconds']['write']:.3f} s, "
          f"{(out / 'ranking.csv').stat().st_size / 1e6:.0f} MB)")
    if args.out_of_core:
        kk = args.ooc_k
        nn = int(args.out_of_core * 1e9 / (4 * kk))
        pp2, lab2 = make_data(tmp, nn, kk)
        gb = os.path.getsize(pp2) / 1e9
        base = sub("numpy_pass", pp2, lab2)
        big = sub("ours_file", pp2, lab2, "cpu", mem_limit_gb=args.mem_limit)
        print(f"out-of-core N={nn:,} K={kk} ({gb:.1f} GB file), address space capped at "
              f"{args.mem_limit:g} GiB:")
        print(f"  numpy pass (memmap, max per row)  {base['seconds']:7.2f} s  {gb / base['seconds']:.2f} GB/s")
        print(f"  ours (scores, flags, estimates)   {big['seconds']:7.2f} s  {gb / big['seconds']:.2f} GB/s"
              f"  peak RSS {big['peak_mb']:.0f} MB  ({big['flagged']:,} flagged)")
        lim = int(args.mem_limit * 2**30)
        out2 = tmp / "rank_ooc"
        t0 = time.perf_counter()
        code = ("import resource, sys; from cleanlab_lite.cli import main; "
                f"main(['rank', '--pred-probs', {str(pp2)!r}, '--labels', {str(lab2)!r}, "
                f"'--out', {str(out2)!r}, '--quiet'], standalone_mode=False); "
                "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (lim, lim)))
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(f"out-of-core clean-labels rank failed: {r.stderr[-2000:]}")
        peak = int(r.stdout.split("PEAK")[-1]) / 1024
        print(f"  clean-labels rank end to end      {wall:7.2f} s  peak RSS {peak:.0f} MB "
              f"(ranking.csv {(out2 / 'ranking.csv').stat().st_size / 1e6:.0f} MB)")

if __name__ == "__main__":
    main()
