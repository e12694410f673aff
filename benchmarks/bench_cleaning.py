"""Cleaning gain: does training on the cleaned data beat training on the noisy data?

Per seed: split scikit-learn's digits (stratified) into a training pool and a held-out test split
whose labels stay CLEAN; `clean-labels noise` corrupts the pool; `clean-labels train` + `rank`
(default options, 5-fold) find the suspects; `clean-labels export --drop-flagged` and
`--relabel` write the cleaned pools. Then one model (the tool's tabular MLP, default
hyperparameters, trained by the tool's trainer) is fit on each version of the pool and scored on
the clean test split:

    noisy            the corrupted pool as is (the baseline)
    drop-flagged     export --drop-flagged
    relabel          export --relabel
    down-weight      the noisy pool with --weight-col: weight 0.2 on flagged rows, 1 elsewhere
    weight=quality   the noisy pool with --weight-col: weight = label_quality of the row
    true labels      the pool with its true labels (the ceiling, not reachable in practice)

    python benchmarks/bench_cleaning.py                 # symmetric 20%, 40%, pairwise 20%; seeds 0-2
    python benchmarks/bench_cleaning.py --settings pairwise:0.3 --seeds 0,1,2
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evalutil as U  # noqa: E402

from cleanlab_lite.config import TrainConfig  # noqa: E402
from cleanlab_lite.data.dataset import Dataset  # noqa: E402
from cleanlab_lite.data.manifest import read_manifest, write_manifest  # noqa: E402
from cleanlab_lite.export import export_run  # noqa: E402
from cleanlab_lite.noise import noise_manifest  # noqa: E402

WAYS = ("noisy", "drop-flagged", "relabel", "down-weight", "weight=quality", "true labels")
FLAGGED_WEIGHT = 0.2


def fit_and_test(Xp, yp, wp, Xt, yt, *, seed: int, work: Path, k: int = 10) -> float:
    """Fit the tool's model on the pool (Xp, yp, per-row weights wp or None) with the tool's
    trainer and return accuracy on the test split (Xt, yt).

    The trainer is given two folds: fold 1 = the pool (trained on), fold 0 = the test rows
    (predicted, never trained on); only fold 0 is run, so this is one plain fit on the pool."""
    from cleanlab_lite.train import train_folds

    X = np.concatenate([Xp, Xt]).astype(np.float32)
    y = np.concatenate([yp, yt]).astype(np.int64)
    w = None if wp is None else np.concatenate([wp, np.ones(len(yt))]).astype(np.float32)
    ds = Dataset(kind="tabular", X=X, labels=y, classes=[str(c) for c in range(k)], weights=w,
                 groups=None, feature_names=None)
    folds = np.concatenate([np.ones(len(yp)), np.zeros(len(yt))]).astype(np.int64)
    cfg = TrainConfig(folds=2, fold=0, device="cpu", seed=seed, quiet=True, model="mlp")
    res = train_folds(ds, folds, cfg, work)
    from cleanlab_lite.run import FoldFiles

    probs = np.load(FoldFiles(res.fold_dirs[0]).probs_path)
    return float((probs.argmax(1) == yt).mean())


def one_seed(kind: str, rate: float, seed: int, work: Path, test_size: float) -> dict:
    from sklearn.model_selection import train_test_split

    X, y = U.digits_arrays()
    Xp, Xt, yp, yt = train_test_split(X, y, test_size=test_size, stratify=y, random_state=seed)
    pool, feats = U.tabular_manifest(Xp, yp, work / "pool.csv")
    noisy = noise_manifest(pool, work / "noisy.csv", kind=kind, rate=rate, seed=seed).out
    found = U.train_and_rank(noisy, work / "run", feature_cols=feats, device="cpu", seed=seed,
                             model="mlp")
    flipped = found["labels"] != yp
    flags = U.flag_metrics(flipped, found["is_issue"])
    dropped = export_run(work / "run", mode="drop_flagged", out=work / "dropped.csv").out
    relabeled = export_run(work / "run", mode="relabel", out=work / "relabeled.csv").out

    noisy_df = read_manifest(noisy)
    w_flag = np.where(found["is_issue"], FLAGGED_WEIGHT, 1.0)
    weighted = noisy_df.assign(weight=w_flag)
    write_manifest(weighted, work / "weighted.csv")       # what a user would pass --weight-col
    versions = {
        "noisy": (noisy_df, None),
        "drop-flagged": (read_manifest(dropped), None),
        "relabel": (read_manifest(relabeled), None),
        "down-weight": (read_manifest(work / "weighted.csv"), "weight"),
        "weight=quality": (noisy_df.assign(weight=found["quality"]), "weight"),
        "true labels": (noisy_df.assign(label=noisy_df["true_label"]), None),
    }
    acc = {}
    for way, (df, wcol) in versions.items():
        Xw = df[list(feats)].to_numpy(np.float32)
        yw = df["label"].to_numpy(np.int64)
        ww = None if wcol is None else df[wcol].to_numpy(np.float32)
        acc[way] = fit_and_test(Xw, yw, ww, Xt, yt, seed=seed, work=work / f"fit-{way}")
    relabel_right = float((read_manifest(relabeled)["label"].to_numpy() == yp).mean())
    return {"acc": acc, "flags": flags, "n_pool": len(yp), "n_test": len(yt),
            "n_dropped": len(yp) - len(read_manifest(dropped)), "relabel_label_acc": relabel_right,
            "noisy_label_acc": float((~flipped).mean())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", default="symmetric:0.2,symmetric:0.4,pairwise:0.2",
                    help="comma-separated KIND:RATE noise settings")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--test-size", type=float, default=0.3, help="share of digits held out, clean")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table here")
    args = ap.parse_args(argv)
    U.set_cpu_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    settings = [(s.split(":")[0], float(s.split(":")[1])) for s in args.settings.split(",")]
    t0 = time.perf_counter()
    rows, detail = [], []
    with tempfile.TemporaryDirectory(prefix="bench-cleaning-") as tmp:
        for kind, rate in settings:
            per = []
            for seed in seeds:
                t = time.perf_counter()
                r = one_seed(kind, rate, seed, Path(tmp) / f"{kind}-{rate}-{seed}", args.test_size)
                per.append(r)
                print(f"{kind} {rate:.0%} seed {seed}: " + ", ".join(
                    f"{w} {a:.4f}" for w, a in r["acc"].items())
                    + f" ({time.perf_counter() - t:.0f} s)", file=sys.stderr)
            base = np.array([p["acc"]["noisy"] for p in per])
            for way in WAYS:
                a = np.array([p["acc"][way] for p in per])
                gain = a - base
                wins = int((gain > 0).sum())
                rows.append([f"{kind} {rate:.0%}", way, U.mean_std(a),
                             "—" if way == "noisy" else f"{gain.mean():+.4f} ± {gain.std(ddof=1) if len(gain) > 1 else 0.0:.4f}",
                             "—" if way == "noisy" else f"{wins}/{len(seeds)}"])
            fl = {k: np.mean([p["flags"][k] for p in per]) for k in ("precision", "recall", "f1")}
            detail.append(f"{kind} {rate:.0%}: pool {per[0]['n_pool']} rows, test {per[0]['n_test']} "
                          f"(clean); flags vs true flips precision {fl['precision']:.3f}, recall "
                          f"{fl['recall']:.3f}; drop-flagged removed "
                          f"{np.mean([p['n_dropped'] for p in per]):.0f} rows on average; labels right "
                          f"{np.mean([p['noisy_label_acc'] for p in per]):.3f} before, "
                          f"{np.mean([p['relabel_label_acc'] for p in per]):.3f} after --relabel.")
    cmd = "python benchmarks/bench_cleaning.py " + " ".join(argv if argv is not None else sys.argv[1:])
    table = U.markdown_table(["noise", "trained on", "test accuracy (mean ± sd)",
                              "gain vs noisy (mean ± sd)", "seeds better"], rows)
    text = (f"### Cleaning gain: scikit-learn digits, tool's MLP, clean held-out test split\n\n"
            f"`{cmd.strip()}` — seeds {','.join(map(str, seeds))} (each seed: its own split, noise "
            f"and model init), {time.perf_counter() - t0:.0f} s in all on {U.machine()}.\n\n"
            f"{table}\n\n" + "\n".join(f"- {d}" for d in detail) + "\n")
    print(text)
    if args.markdown:
        from cleanlab_lite.io import write_text
        write_text(args.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
