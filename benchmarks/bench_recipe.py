"""The tool's own training for finding label errors: recipes compared on injected confusable noise,
and folds at once against one after another. Every figure is printed next to its baseline,
measured in the same run on the same data and folds.

Confusable noise: a logistic regression on the pixels, trained out-of-fold on the clean labels,
gives every image its most likely wrong class; `--noise` of the images (chosen at random) get
that class as their label, so the flips are the mistakes an annotator plausibly makes (a 4 that
looks like a 9), not uniform ones.

    # every recipe (the first is the baseline of the gains), 2,000 MNIST images, 5% confusable flips
    python benchmarks/bench_recipe.py recipe mnist ../shared/data/mnist-test --limit 2000
    python benchmarks/bench_recipe.py recipe digits --recipes none,default
    # changes the tool does not ship, against the default (benchmarks/recipe_patches.py)
    python benchmarks/bench_recipe.py recipe digits --recipes default,shift-tta,trunc0.1,mixup0.2,seeds2,aum
    # folds at once against one after another (default recipe), the same images and folds
    python benchmarks/bench_recipe.py concurrency mnist ../shared/data/mnist-test --limit 10000

Figures per recipe: train wall seconds (5 folds), out-of-fold accuracy against the given
(noisy) labels and against the true ones, recall of the flips among the k lowest label-quality
scores (k = number of flips), the number of rows flagged by `find_label_issues` (default rule)
and their precision.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as clean-labels does, before torch loads

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import load_mnist, stratified_folds  # noqa: E402
from recipe_patches import AUM, PATCHES  # noqa: E402
from cleanlab_lite import find_label_issues, label_quality_scores  # noqa: E402
from cleanlab_lite.config import TrainConfig  # noqa: E402
from cleanlab_lite.data.dataset import Dataset  # noqa: E402
from cleanlab_lite.train import train_folds  # noqa: E402

# name -> TrainConfig options; "none" trains without the error-finding recipe (no snapshots,
# no label smoothing), "default" is the tool's default for images now (4 snapshots + 0.1)
BASE = {"snapshots": 1, "label_smoothing": "0"}
RECIPES = {
    "none": BASE,
    "default": {},
    "epochs6": {**BASE, "epochs": 6},
    "ls0.1": {**BASE, "label_smoothing": "0.1"},
    "gce": {**BASE, "loss": "gce"},
    "sce": {**BASE, "loss": "sce"},
    "snap4": {**BASE, "snapshots": 4},
    "snap4-epochs8": {**BASE, "snapshots": 4, "epochs": 8},
    "epochs6-ls0.1": {**BASE, "epochs": 6, "label_smoothing": "0.1"},
    "knn10": {**BASE, "knn": 10},
    "snap4-knn10": {**BASE, "snapshots": 4, "knn": 10},
    "snap4-ls0.1": {"snapshots": 4, "label_smoothing": "0.1"},
    "snap4-ls0.2": {"snapshots": 4, "label_smoothing": "0.2"},
    "snap4-ls0.3": {"snapshots": 4, "label_smoothing": "0.3"},
    "snap8-ls0.1": {"snapshots": 8, "label_smoothing": "0.1"},
    # the default recipe with a change the tool does not ship (benchmarks/recipe_patches.py);
    # aum also ranks by the area under the margin alone and by its mean rank with the
    # label-quality score (its flag columns are the default rule's on the probabilities)
    "shift-tta": {}, "trunc0.1": {}, "mixup0.2": {}, "aum": {},
    # the default recipe trained twice (training seeds --seed and --seed + 1), probabilities averaged
    "seeds2": {},
}


def load(args) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 1, H, W) and their clean labels."""
    if args.data == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        X = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)[:, None]
        y = d.target.astype(np.int64)
    else:
        X, y = load_mnist(Path(args.folder), None)
    if args.limit and args.limit < len(y):
        keep = np.sort(np.random.default_rng(args.seed).choice(len(y), args.limit, replace=False))
        X, y = X[keep], y[keep]
    return np.ascontiguousarray(X), y


def confusable_flips(X: np.ndarray, y: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Labels with round(rate * N) random rows moved to their most likely wrong class under an
    out-of-fold logistic regression on the pixels (trained on the clean labels)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    flat = X.reshape(len(X), -1).astype(np.float32) / 255.0
    p = cross_val_predict(LogisticRegression(C=0.1, max_iter=300), flat, y, cv=5,
                          method="predict_proba")
    p[np.arange(len(y)), y] = -1.0
    wrong = p.argmax(axis=1)
    rng = np.random.default_rng(seed + 1)
    rows = rng.choice(len(y), int(round(rate * len(y))), replace=False)
    noisy = y.copy()
    noisy[rows] = wrong[rows]
    return noisy


def train(X, labels, folds, cfg: TrainConfig) -> tuple[float, np.ndarray, dict]:
    ds = Dataset("image", X, labels, [str(c) for c in range(int(labels.max()) + 1)])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = train_folds(ds, folds[None], cfg, Path(tmp))
        return time.perf_counter() - t0, res.pred_probs, res.metrics


def train_recipe(name: str, X, labels, folds, args, opts: dict):
    """Wall seconds, out-of-fold probabilities and (aum) the area under the margin of one
    recipe. A patched recipe trains one fold at a time in this process; seeds2 is the mean over
    two training seeds."""
    parallel = 1 if name in PATCHES else args.parallel_folds
    seeds = (args.seed, args.seed + 1) if name == "seeds2" else (args.seed,)
    wall, preds = 0.0, []
    for seed in seeds:
        cfg = TrainConfig(folds=args.folds, seed=seed, device="cpu", quiet=True,
                          parallel_folds=parallel, **opts)
        patch = PATCHES[name](len(labels)) if name in PATCHES else contextlib.nullcontext()
        with patch:
            w, pred, _ = train(X, labels, folds, cfg)
        wall, preds = wall + w, preds + [pred.astype(np.float64)]
    mean = sum(preds) / len(preds)
    area = patch.area() if isinstance(patch, AUM) else None
    return wall, (mean / mean.sum(axis=1, keepdims=True)).astype(np.float32), area


def mean_rank(*scores: np.ndarray) -> np.ndarray:
    """The mean of each score's rank (low = more likely an error)."""
    return sum(np.argsort(np.argsort(s, kind="stable"), kind="stable") for s in scores) / len(scores)


def judge(pred: np.ndarray, noisy: np.ndarray, truth: np.ndarray,
          scores: np.ndarray | None = None) -> dict:
    """Figures of one recipe; recall@k ranks by `scores` when given, else the label quality."""
    flipped = noisy != truth
    k = int(flipped.sum())
    order = np.argsort(label_quality_scores(noisy, pred) if scores is None else scores,
                      kind="stable")
    flags = find_label_issues(noisy, pred)
    return {"acc_given": float((pred.argmax(1) == noisy).mean()),
            "acc_true": float((pred.argmax(1) == truth).mean()),
            "recall_at_k": float(flipped[order[:k]].mean()) if k else float("nan"),
            "flagged": int(flags.sum()), "flips": k,
            "precision": float(flipped[flags].mean()) if flags.any() else float("nan")}


def load_line() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg() + f", {os.cpu_count()} cores"
    except OSError:
        return ""


def cmd_recipe(args) -> None:
    X, y = load(args)
    noisy = confusable_flips(X, y, args.noise, args.seed)
    folds = stratified_folds(noisy, args.folds, args.seed)
    print(f"# {args.data}: {len(y)} images, {int((noisy != y).sum())} confusable flips "
          f"({args.noise:.0%}), {args.folds} folds; {load_line()}")
    print("| recipe | train s | s/image | OOF acc (given) | OOF acc (true) | recall@k | flagged "
          "(flips) | precision |")
    print("|---|---|---|---|---|---|---|---|")
    base = None
    for name in args.recipes.split(","):
        opts = {**RECIPES[name], **({"epochs": args.epochs} if args.epochs and "epochs" not in RECIPES[name] else {})}
        wall, pred, area = train_recipe(name, X, noisy, folds, args, opts)
        if args.save:
            np.savez(f"{args.save}-{name}.npz", pred_probs=pred, given=noisy, truth=y)
        lines = [(name, None)]
        if area is not None:
            lines += [("aum: area alone", area),
                      ("aum: mean rank with the score", mean_rank(
                          area, label_quality_scores(noisy, pred)))]
        for label, scores in lines:
            j = judge(pred, noisy, y, scores)
            base = base or (wall, j)
            gain = j["recall_at_k"] - base[1]["recall_at_k"]
            print(f"| {label} | {wall:.1f} ({wall / base[0]:.2f}x) | {wall / len(y) * 1e3:.1f} ms | "
                  f"{j['acc_given']:.4f} | {j['acc_true']:.4f} | {j['recall_at_k']:.3f} "
                  f"({gain:+.3f}) | {j['flagged']} ({j['flips']}) | {j['precision']:.3f} |",
                  flush=True)
    print(f"# after: {load_line()}")


def cmd_concurrency(args) -> None:
    X, y = load(args)
    folds = stratified_folds(y, args.folds, args.seed)
    print(f"# {args.data}: {len(y)} images, {args.folds} folds, default recipe"
          f"{f', {args.epochs} epochs' if args.epochs else ''}; {load_line()}")
    opts = {"epochs": args.epochs} if args.epochs else {}
    runs = {}
    for n in (1, args.parallel_folds):
        cfg = TrainConfig(folds=args.folds, seed=args.seed, device="cpu", quiet=True,
                          parallel_folds=n, **opts)
        wall, pred, m = train(X, y, folds, cfg)
        runs[n] = (wall, pred, m)
        print(f"parallel_folds={n} ({m['parallel_folds']} at once, {m['threads']} threads each): "
              f"wall {wall:.1f} s, OOF accuracy {m['oof']['accuracy']:.4f}  [{load_line()}]",
              flush=True)
    import resource

    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024   # KiB -> MiB
    print(f"peak resident memory of one fold process: {peak:.0f} MiB")
    (w1, p1, m1), (wn, pn, mn) = runs[1], runs[args.parallel_folds]
    print(f"folds at once: wall {wn / w1:.3f}x the one-after-another run ({wn:.1f} s vs {w1:.1f} s), "
          f"OOF accuracy {mn['oof']['accuracy'] - m1['oof']['accuracy']:+.4f}; pred_probs "
          f"bit-identical: {np.array_equal(p1, pn)}")
    if args.save_probs:
        np.save(args.save_probs, pn)
        print(f"out-of-fold probabilities (folds at once) saved to {args.save_probs}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("recipe", "concurrency"):
        p = sub.add_parser(name)
        p.add_argument("data", choices=["mnist", "digits"])
        p.add_argument("folder", nargs="?", help="MNIST idx folder (mnist)")
        p.add_argument("--limit", type=int, default=None, help="a random subset of this many images")
        p.add_argument("--folds", type=int, default=5)
        p.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--parallel-folds", type=int, default=0 if name == "recipe" else 2)
        if name == "recipe":
            p.add_argument("--noise", type=float, default=0.05)
            p.add_argument("--recipes", default=",".join(RECIPES))
            p.add_argument("--save", default=None, help="write each recipe's out-of-fold "
                           "probabilities, given and true labels to SAVE-RECIPE.npz")
        else:
            p.add_argument("--save-probs", default=None, help="write the concurrent run's "
                           "out-of-fold probabilities here (.npy)")
    args = ap.parse_args()
    if args.data == "mnist" and not args.folder:
        ap.error("mnist needs the folder of the idx files")
    unknown = [r for r in getattr(args, "recipes", "").split(",") if r and r not in RECIPES]
    if unknown:
        ap.error(f"unknown recipe {unknown[0]!r}; use some of {','.join(RECIPES)}")
    for opt in ("save", "save_probs"):
        where = getattr(args, opt, None)
        if where and not Path(where).parent.is_dir():
            ap.error(f"--{opt.replace('_', '-')} {where}: folder {Path(where).parent} does not "
                     "exist; create it first")
    (cmd_recipe if args.cmd == "recipe" else cmd_concurrency)(args)


if __name__ == "__main__":
    main()
