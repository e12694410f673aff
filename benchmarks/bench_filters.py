"""Which flagging rule and which score find real label errors best? (issue #3, item 4)

Out-of-fold pred_probs from scikit-learn models (5-fold `cross_val_predict`, trained on the noisy
labels) on digits and on synthetic 10-class data, with symmetric and class-dependent noise at
10/20/40% (cleanlab_lite.noise). For every filter (and both confident-joint argmax variants) it
prints precision / recall / F1 of the flags against the true flips, and for every score the
average precision (AP) of ranking the flips first. cleanlab's own default
(`filter_by='prune_by_noise_rate'`) is run in the same loop as the baseline.

    python benchmarks/bench_filters.py            # full grid (a few minutes on 2 cores)
    python benchmarks/bench_filters.py --quick    # digits + logistic regression only
    python benchmarks/bench_filters.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
import warnings

import numpy as np

from cleanlab_lite.noise import inject_noise
from cleanlab_lite.scoring import METHODS, Engine, issues_from, scores_from

CACHE = Path(os.environ.get("BENCH_CACHE", Path(tempfile.gettempdir()) / "clean_labels_bench_filters"))
CJ_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
              "low_self_confidence", "low_normalized_margin")


def datasets(quick: bool):
    from sklearn.datasets import load_digits, make_classification
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    yield "digits", StandardScaler().fit_transform(X), y
    if not quick:
        for sep in (1.0, 2.0):
            X, y = make_classification(n_samples=3000, n_features=20, n_informative=12,
                                       n_redundant=2, n_classes=10, n_clusters_per_class=1,
                                       class_sep=sep, random_state=0)
            yield f"synth-sep{sep:g}", StandardScaler().fit_transform(X), y


def models(name: str, quick: bool):
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.svm import SVC

    yield "logreg", LogisticRegression(max_iter=300, C=0.1)
    if quick:
        return
    yield "knn", KNeighborsClassifier(n_neighbors=15)
    yield "naive_bayes", GaussianNB()
    if name == "digits":
        yield "svc", SVC(probability=True, C=3.0, random_state=0)


def oof(model, X, y, seed):
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(model, X, y, cv=cv, method="predict_proba")
    p = np.clip(p, 0, None)
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


def prf(flags, truth):
    tp = int((flags & truth).sum())
    p = tp / max(1, int(flags.sum()))
    r = tp / max(1, int(truth.sum()))
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def average_precision(scores, truth):
    order = np.argsort(scores, kind="stable")       # most suspect first
    hits = truth[order]
    cum = np.cumsum(hits)
    prec = cum / np.arange(1, len(hits) + 1)
    return float((prec * hits).sum() / max(1, hits.sum()))


def candidate_rules(eng):
    """Rules not in cleanlab, measured next to its filters (candidates for the default)."""
    s = eng.stats
    y = eng.labels
    t = s["thresholds"]
    off = (s["argmax"] != y) & ~eng.reduce_mask
    pbc = issues_from(eng, "prune_by_class")
    return {
        "argmax_and_below_given_threshold": off & (s["given"] < t[y]),
        "argmax_and_pred_above_threshold": off & (s["maxp"] >= t[s["argmax"]]),
        "prune_by_class_or_noise_rate": pbc | issues_from(eng, "prune_by_noise_rate"),
    }


def rules():
    out = [("adaptive", "confident"), ("predicted_neq_given", "confident")]
    for f in CJ_FILTERS:
        out += [(f, "confident"), (f, "cleanlab")]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    rows = []
    t0 = time.perf_counter()
    for dname, X, ytrue in datasets(args.quick):
        for mname, model in models(dname, args.quick):
            for kind in ("symmetric", "class_dependent"):
                for rate in (0.1, 0.2, 0.4):
                    for seed in range(args.seeds):
                        noisy, _ = inject_noise(ytrue, kind=kind, rate=rate, seed=seed,
                                                sparsity=0.5 if kind == "class_dependent" else 0.0)
                        truth = noisy != ytrue
                        cache = CACHE / f"{dname}-{mname}-{kind}-{rate}-{seed}.npy"
                        if cache.exists():
                            p = np.load(cache)
                        else:
                            p = oof(model, X, noisy, seed)
                            CACHE.mkdir(parents=True, exist_ok=True)
                            np.save(cache, p)
                        acc = float((p.argmax(1) == ytrue).mean())
                        rec = {"data": dname, "model": mname, "kind": kind, "rate": rate,
                               "seed": seed, "acc_vs_true": acc, "rules": {}, "scores": {}}
                        engines = {a: Engine.create(noisy, p, cj_argmax=a) for a in ("confident", "cleanlab")}
                        for f, a in rules():
                            flags = issues_from(engines[a], f)
                            rec["rules"][f"{f}/{a}"] = prf(flags, truth)
                        for f, flags in candidate_rules(engines["confident"]).items():
                            rec["rules"][f"{f}/candidate"] = prf(flags, truth)
                        for m in METHODS:
                            for adj in (False, True):
                                if adj and m == "confidence_weighted_entropy":
                                    continue
                                s = scores_from(engines["confident"], m, adj)
                                rec["scores"][m + ("+adj" if adj else "")] = average_precision(s, truth)
                        rec["est_off"] = engines["confident"].num_issues("off_diagonal") / len(truth)
                        rec["est_cal"] = engines["confident"].num_issues("off_diagonal_calibrated") / len(truth)
                        rec["true_rate"] = float(truth.mean())
                        rows.append(rec)
            print(f"  {dname:12s} {mname:12s} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    report(rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)


def report(rows):
    names = list(rows[0]["rules"])
    print("\nF1 of flags vs true flips (mean over configs); precision / recall in brackets")
    header = f"{'rule':42s} {'all':>6s}" + "".join(f" {k[:4]}{int(r * 100):>3d}%" for k in ("symmetric", "class_dependent") for r in (0.1, 0.2, 0.4))
    print(header)
    best = None
    for nm in names:
        f1 = np.mean([r["rules"][nm][2] for r in rows])
        pr = np.mean([r["rules"][nm][0] for r in rows])
        rc = np.mean([r["rules"][nm][1] for r in rows])
        cells = []
        for kind in ("symmetric", "class_dependent"):
            for rate in (0.1, 0.2, 0.4):
                sel = [r["rules"][nm][2] for r in rows if r["kind"] == kind and r["rate"] == rate]
                cells.append(f" {np.mean(sel):8.3f}")
        print(f"{nm:42s} {f1:6.3f}" + "".join(cells) + f"   (P {pr:.3f} / R {rc:.3f})")
        if best is None or f1 > best[1]:
            best = (nm, f1)
    print(f"\nbest rule by mean F1: {best[0]} ({best[1]:.3f}); cleanlab default "
          f"prune_by_noise_rate/cleanlab: {np.mean([r['rules']['prune_by_noise_rate/cleanlab'][2] for r in rows]):.3f}")
    print("\nper model (F1): rule x model accuracy")
    groups = sorted({(r["data"], r["model"]) for r in rows})
    for d, m in groups:
        sel = [r for r in rows if r["data"] == d and r["model"] == m]
        acc = np.mean([r["acc_vs_true"] for r in sel])
        top = sorted(names, key=lambda nm: -np.mean([r["rules"][nm][2] for r in sel]))[:3]
        print(f"  {d:12s} {m:12s} acc {acc:.3f}: " + ", ".join(
            f"{nm} {np.mean([r['rules'][nm][2] for r in sel]):.3f}" for nm in top))
    print("\nscore ranking quality: average precision of the true flips (mean over configs)")
    for s in rows[0]["scores"]:
        print(f"  {s:32s} {np.mean([r['scores'][s] for r in rows]):.4f}")
    err_off = np.mean([abs(r["est_off"] - r["true_rate"]) for r in rows])
    err_cal = np.mean([abs(r["est_cal"] - r["true_rate"]) for r in rows])
    print(f"\nnoise-rate estimate, mean |estimate - true|: off_diagonal {err_off:.4f}, "
          f"off_diagonal_calibrated {err_cal:.4f}")


if __name__ == "__main__":
    main()
