"""How well do the flags and scores find injected label noise?

For each noise kind (symmetric, class_dependent, pairwise) and rate (10%, 20%, 40%):
`clean-labels noise` corrupts the labels, `clean-labels train` + `rank` (default options) run on
the noisy manifest, and the flags and scores are compared with the true flips. Every filter and
every score method is evaluated on the SAME out-of-fold pred_probs (one training per setting),
and cleanlab 2.9's defaults (`cleanlab.filter.find_label_issues`,
`cleanlab.rank.get_label_quality_scores`) on those pred_probs are the baseline row of the run.

    python benchmarks/bench_quality.py --cpu                      # digits, tabular MLP (make bench)
    python benchmarks/bench_quality.py --mnist ../shared/data/mnist-test   # MNIST test, CNN (GPU)
    python benchmarks/bench_quality.py --mnist DIR --limit 600 --epochs 2 --device cpu  # smoke

Output: three markdown tables (headline, per filter, per score), printed and optionally written
with --markdown FILE. Metrics: precision / recall / F1 of flags vs true flips; AUROC and average
precision (AP) of the label quality score (lower = more suspect).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evalutil as U  # noqa: E402

from cleanlab_lite import scoring  # noqa: E402
from cleanlab_lite.noise import KINDS, noise_manifest  # noqa: E402

SHORT = {"symmetric": "sym", "class_dependent": "class-dep", "pairwise": "pair"}


def evaluate_setting(res: dict, true: np.ndarray) -> dict:
    """All flag and score metrics for one trained setting."""
    import cleanlab.filter
    import cleanlab.rank

    labels, pp = res["labels"], res["pred_probs"]
    flipped = labels != true
    out = {"n": len(labels), "flips": int(flipped.sum()),
           "oof_acc_true": float((pp.argmax(1) == true).mean()),
           "ours": {**U.flag_metrics(flipped, res["is_issue"]),
                    **U.score_metrics(flipped, res["quality"])}}
    filters = {}
    for f in scoring.FILTERS:
        filters[f] = U.flag_metrics(flipped, scoring.find_label_issues(labels, pp, filter_by=f))
    out["filters"] = filters
    out["scores"] = {m: U.score_metrics(flipped, scoring.label_quality_scores(labels, pp, method=m))
                     for m in scoring.METHODS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cl_flags = cleanlab.filter.find_label_issues(labels, pp)
        cl_scores = cleanlab.rank.get_label_quality_scores(labels, pp)
    out["cleanlab"] = {**U.flag_metrics(flipped, cl_flags), **U.score_metrics(flipped, cl_scores)}
    return out


def run(base_manifest: Path, work: Path, *, kinds, rates, seed: int, feature_cols, device: str,
        train_kw: dict, log=print) -> list[tuple[str, float, dict]]:
    results = []
    for kind in kinds:
        for rate in rates:
            tag = f"{kind}-{int(round(rate * 100))}"
            t0 = time.perf_counter()
            # beside the base manifest: image paths are relative to the manifest's folder
            noisy = noise_manifest(base_manifest, base_manifest.parent / f"{tag}{base_manifest.suffix}",
                                   kind=kind, rate=rate, seed=seed)
            res = U.train_and_rank(noisy.out, work / f"run-{tag}", feature_cols=feature_cols,
                                   device=device, seed=seed, **train_kw)
            classes = [str(c) for c in res["classes"]]
            import pandas as pd
            truth = pd.read_csv(noisy.out, usecols=["true_label"])["true_label"].astype(str)
            true = truth.map({c: i for i, c in enumerate(classes)}).to_numpy(dtype=np.int64)
            ev = evaluate_setting(res, true)
            ev["seconds"] = time.perf_counter() - t0
            results.append((kind, rate, ev))
            o, c = ev["ours"], ev["cleanlab"]
            log(f"{tag}: {ev['flips']} flips, oof acc vs true {ev['oof_acc_true']:.3f}; ours "
                f"F1 {o['f1']:.3f} AUROC {o['auroc']:.3f}; cleanlab F1 {c['f1']:.3f} "
                f"({ev['seconds']:.1f} s)", file=sys.stderr)
    return results


def tables(results) -> str:
    head = ["noise", "rate", "flips", "oof acc (true)", "method", "precision", "recall", "F1",
            "AUROC", "AP", "flagged"]
    rows = []
    for kind, rate, ev in results:
        for name, m in (("**ours (default)**", ev["ours"]), ("cleanlab 2.9 default", ev["cleanlab"])):
            rows.append([SHORT[kind], f"{rate:.0%}", ev["flips"], ev["oof_acc_true"], name,
                         m["precision"], m["recall"], m["f1"], m["auroc"], m["ap"], m["flagged"]])
    mean = lambda key, who: float(np.mean([ev[who][key] for _, _, ev in results]))  # noqa: E731
    for name, who in (("**ours (default)**", "ours"), ("cleanlab 2.9 default", "cleanlab")):
        rows.append(["mean", "", "", "", name] + [mean(k, who) for k in
                                                  ("precision", "recall", "f1", "auroc", "ap")] + [""])
    t1 = U.markdown_table(head, rows)

    filters = list(scoring.FILTERS)
    rows = []
    for kind, rate, ev in results:
        rows.append([SHORT[kind], f"{rate:.0%}"] + [
            f"{ev['filters'][f]['precision']:.2f}/{ev['filters'][f]['recall']:.2f}/"
            f"**{ev['filters'][f]['f1']:.3f}**" for f in filters])
    rows.append(["mean F1", ""] + [f"{np.mean([ev['filters'][f]['f1'] for *_, ev in results]):.3f}"
                                   for f in filters])
    t2 = U.markdown_table(["noise", "rate"] + filters, rows)

    methods = list(scoring.METHODS)
    rows = []
    for kind, rate, ev in results:
        rows.append([SHORT[kind], f"{rate:.0%}"] + [
            f"{ev['scores'][m]['auroc']:.3f} / {ev['scores'][m]['ap']:.3f}" for m in methods]
            + [f"{ev['cleanlab']['auroc']:.3f} / {ev['cleanlab']['ap']:.3f}"])
    rows.append(["mean", ""] + [
        f"{np.mean([ev['scores'][m]['auroc'] for *_, ev in results]):.3f} / "
        f"{np.mean([ev['scores'][m]['ap'] for *_, ev in results]):.3f}" for m in methods]
        + [f"{np.mean([ev['cleanlab']['auroc'] for *_, ev in results]):.3f} / "
           f"{np.mean([ev['cleanlab']['ap'] for *_, ev in results]):.3f}"])
    t3 = U.markdown_table(["noise", "rate"] + [f"{m} AUROC / AP" for m in methods]
                          + ["cleanlab default score AUROC / AP"], rows)
    return (f"Flags of the default (`clean-labels rank`) vs cleanlab 2.9's defaults, same "
            f"pred_probs:\n\n{t1}\n\nEvery filter (`rank --filter-by`), cells precision/recall/"
            f"**F1**:\n\n{t2}\n\nEvery score (`rank --method`), AUROC / AP of the score against "
            f"the true flips:\n\n{t3}\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--cpu", action="store_true",
                     help="scikit-learn digits (1,797 rows, 64 pixel features), the tool's MLP on CPU")
    src.add_argument("--mnist", type=Path, metavar="DIR",
                     help="folder with the MNIST test idx files; images through the tool's CNN")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images (MNIST)")
    ap.add_argument("--rates", default="0.1,0.2,0.4")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="override the model's default epochs")
    ap.add_argument("--device", default=None, help="cpu | cuda | auto (default: cpu for --cpu, "
                                                   "auto for --mnist)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads with --device cpu "
                                                           "(default 1: faster for these small models)")
    ap.add_argument("--work", type=Path, default=None, help="keep the manifests and runs here")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the tables here")
    args = ap.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",")]
    kinds = [k.strip() for k in args.kinds.split(",")]
    train_kw = {} if args.epochs is None else {"epochs": args.epochs}
    tmp = None
    if args.work is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-quality-")
        work = Path(tmp.name)
    else:
        work = args.work
        work.mkdir(parents=True, exist_ok=True)
    if (args.device or ("cpu" if args.cpu else "auto")) == "cpu":
        U.set_cpu_threads(args.threads)
    t0 = time.perf_counter()
    if args.cpu:
        X, y = U.digits_arrays()
        base, feats = U.tabular_manifest(X, y, work / "digits.csv")
        device = args.device or "cpu"
        data = f"scikit-learn digits, {len(y)} rows x 64 pixel features, tool's tabular MLP"
        train_kw["model"] = "mlp"     # the figures in the docs are the MLP's (auto is logreg here)
    else:
        imgs, y = U.mnist_test(args.mnist)
        if args.limit:
            imgs, y = imgs[:args.limit], y[:args.limit]
        base = U.image_manifest(imgs, y, work / "mnist")
        feats = None
        device = args.device or "auto"
        data = f"MNIST test set, {len(y)} images 28x28, tool's default image model"
    results = run(base, work, kinds=kinds, rates=rates, seed=args.seed, feature_cols=feats,
                  device=device, train_kw=train_kw)
    cmd = "python benchmarks/bench_quality.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"### Finding injected label noise: {data}\n\n`{cmd}` — 5-fold out-of-fold pred_probs, "
            f"noise seed {args.seed}, {time.perf_counter() - t0:.0f} s in all on {U.machine()}"
            f" (device {device}).\n\n" + tables(results))
    print(text)
    if args.markdown:
        from cleanlab_lite.io import write_text
        write_text(args.markdown, text)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
