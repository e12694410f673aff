"""The CI gate on changed data: `check RUN --manifest CURRENT` against a full retrain.

A pull request edits labels and adds rows. The run folder was trained on the data BEFORE the
pull request (the "base" manifest); the current manifest is the base with 1% of the labels
flipped (the edit) plus 2% new rows, a fifth of which carry a wrong label. The benchmark reports

- the wall time of `clean-labels check RUN --manifest CURRENT` (a fresh process, as in CI),
- the wall time of a full retrain (`clean-labels train`, default options), the baseline,
- precision / recall of the gate's flags on the edited rows and on the new rows, against the
  injected truth.

    # digits (scikit-learn, no download): writes the data, trains the base run, runs the gate and
    # retrains the current manifest in the same run, in a scratch folder
    python benchmarks/bench_delta.py digits --work /tmp/bench-delta

    # any image manifest (e.g. MNIST PNGs): step 1 writes base.csv / current.csv / truth.csv,
    python benchmarks/bench_delta.py prepare /work/mnist/png/manifest.csv --work W
    # step 2 is yours: time the training of the base run (it is the retrain baseline)
    /usr/bin/time -p clean-labels train W/base.csv --out W/run --id-col id
    # step 3 runs the gate on it and compares with the base run's own training time
    python benchmarks/bench_delta.py gate --work W --run W/run

Floors (issue 11): the gate >= 50x faster than retraining on MNIST, recall >= 0.9 on the flipped
edits with precision >= 0.8.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

FLIP_FRAC = 0.01        # share of the base rows whose label the edit flips
NEW_FRAC = 0.02         # new rows, as a share of all rows
NEW_WRONG_FRAC = 0.2    # share of the new rows that carry a wrong label
GATE_LIMIT = "5%"       # --max-issue-rate of the gate: at most 5% of the changed rows suspect


def _cli() -> list[str]:
    exe = Path(sys.executable).with_name("clean-labels")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "cleanlab_lite"]


def prepare(manifest: Path, work: Path, *, seed: int = 0, label_col: str = "label",
            path_col: str = "path", data_root: Path | None = None) -> dict:
    """Write work/base.csv (the data the run is trained on), work/current.csv (after the pull
    request) and work/truth.csv (per current row: change, wrong). Image paths become absolute."""
    rng = np.random.default_rng(seed)
    df = pd.read_csv(manifest)
    root = Path(data_root) if data_root else manifest.resolve().parent
    df[path_col] = [p if os.path.isabs(p) else str(root / p) for p in df[path_col].astype(str)]
    classes = np.sort(df[label_col].unique())
    k = len(classes)
    n = len(df)
    n_new = int(round(NEW_FRAC * n))
    new_idx = np.sort(rng.choice(n, n_new, replace=False))
    base = df.drop(index=new_idx).reset_index(drop=True)
    new = df.iloc[new_idx].reset_index(drop=True)

    def wrong(labels: pd.Series, count: int) -> tuple[pd.Series, np.ndarray]:
        pos = np.sort(rng.choice(len(labels), count, replace=False))
        code = np.searchsorted(classes, labels.to_numpy())
        out = labels.copy()
        out.iloc[pos] = classes[(code[pos] + rng.integers(1, k, size=count)) % k]
        mask = np.zeros(len(labels), dtype=bool)
        mask[pos] = True
        return out, mask

    current = base.copy()
    current[label_col], flipped = wrong(base[label_col], int(round(FLIP_FRAC * len(base))))
    new_labels, new_wrong = wrong(new[label_col], int(round(NEW_WRONG_FRAC * n_new)))
    new[label_col] = new_labels
    current = pd.concat([current, new], ignore_index=True)
    truth = pd.DataFrame({
        "id": current["id"],
        "change": ["edited" if f else "unchanged" for f in flipped] + ["new"] * n_new,
        "wrong": np.concatenate([flipped, new_wrong]),
        "true_label": pd.concat([base[label_col], df.iloc[new_idx][label_col]], ignore_index=True),
    })
    work.mkdir(parents=True, exist_ok=True)
    base.to_csv(work / "base.csv", index=False)
    current.to_csv(work / "current.csv", index=False)
    truth.to_csv(work / "truth.csv", index=False)
    return {"base_rows": len(base), "current_rows": len(current), "edited": int(flipped.sum()),
            "new": n_new, "new_wrong": int(new_wrong.sum())}


def timed(cmd: list[str], log: Path | None = None) -> dict:
    """Run `cmd` as a child process; wall seconds, CPU seconds (user + sys of the child) and rc."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if log is not None:
        log.write_text(proc.stdout + proc.stderr)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "rc": proc.returncode, "out": proc.stdout + proc.stderr}


def time_log(path: Path) -> dict | None:
    """wall/cpu from the `real/user/sys` lines `/usr/bin/time -p` appends to a log."""
    if not path.is_file():
        return None
    vals = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("real", "user", "sys"):
            vals[parts[0]] = float(parts[1])
    if "real" not in vals:
        return None
    return {"wall": vals["real"], "cpu": vals.get("user", 0.0) + vals.get("sys", 0.0)}


def gate(work: Path, run: Path, *, repeats: int = 2) -> dict:
    """Run `check RUN --manifest work/current.csv` `repeats` times (the first decodes the current
    images into RUN/delta/cache, later ones reuse it) and score its flags against the truth."""
    import shutil

    shutil.rmtree(run / "delta", ignore_errors=True)
    images = os.path.commonpath(pd.read_csv(work / "current.csv")["path"].tolist())  # absolute
    runs = []
    for _ in range(repeats):
        res = timed(_cli() + ["check", str(run), "--manifest", str(work / "current.csv"),
                              "--data-root", images, "--max-issue-rate", GATE_LIMIT,
                              "--json", str(work / "check.json")], work / "check.log")
        if res["rc"] not in (0, 1):
            raise SystemExit(f"check failed (exit {res['rc']}):\n{res['out']}")
        runs.append(res)
    result = json.loads((work / "check.json").read_text())
    d = pd.read_csv(run / "delta" / "ranking.csv", dtype={"id": str})
    truth = pd.read_csv(work / "truth.csv", dtype={"id": str})
    d = d[d["change"] != "removed"].merge(truth[["id", "wrong"]], on="id", how="left")
    flag = d["is_label_issue"].astype(str).str.lower() == "true"

    def pr(mask) -> dict:
        tp = int((flag & d["wrong"] & mask).sum())
        wrong, flagged = int((d["wrong"] & mask).sum()), int((flag & mask).sum())
        return {"wrong": wrong, "flagged": flagged, "tp": tp,
                "precision": tp / flagged if flagged else float("nan"),
                "recall": tp / wrong if wrong else float("nan")}

    return {"cold": runs[0], "warm": runs[-1], "passed": result["passed"],
            "changes": result["delta"]["changes"], "seconds": result["delta"]["seconds"],
            "edited": pr(d["change"] == "edited"), "new": pr(d["change"] == "new"),
            "all": pr(d["change"] != "")}


def report(name: str, work: Path, g: dict, retrain: dict, retrain_how: str) -> None:
    e, nw, a = g["edited"], g["new"], g["all"]
    print(f"\n== {name} ==")
    print(f"changes seen: {g['changes']} (gate {'passed' if g['passed'] else 'failed'})")
    print(f"check --manifest, first run (decodes the current images): {g['cold']['wall']:.1f} s "
          f"wall, {g['cold']['cpu']:.1f} s CPU")
    print(f"check --manifest, rerun (decode cache reused):             {g['warm']['wall']:.1f} s "
          f"wall, {g['warm']['cpu']:.1f} s CPU  (inside: {g['seconds']})")
    print(f"full retrain ({retrain_how}): {retrain['wall']:.1f} s wall, {retrain['cpu']:.1f} s CPU")
    print(f"speed-up vs retrain, first run: {retrain['wall'] / g['cold']['wall']:.0f}x wall, "
          f"{retrain['cpu'] / max(g['cold']['cpu'], 1e-9):.0f}x CPU")
    for label, m in (("edited rows", e), ("new rows", nw), ("all changed rows", a)):
        print(f"{label:18s} wrong {m['wrong']:4d}  flagged {m['flagged']:4d}  found {m['tp']:4d}  "
              f"precision {m['precision']:.3f}  recall {m['recall']:.3f}")
    print(f"| {name} | {g['cold']['wall']:.1f} s ({g['cold']['cpu']:.1f} s CPU) | "
          f"{retrain['wall']:.0f} s ({retrain['cpu']:.0f} s CPU) | "
          f"{retrain['wall'] / g['cold']['wall']:.0f}x | {e['recall']:.3f} / {e['precision']:.3f} | "
          f"{nw['recall']:.3f} / {nw['precision']:.3f} | {a['recall']:.3f} / {a['precision']:.3f} |")


def digits(work: Path, seed: int) -> None:
    """Everything in one run: data, base run (trained without the new rows), gate, retrain."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cleanlab_lite.data.demo import write_digits

    manifest = write_digits(work / "data", noise=0.0, seed=seed)
    print(prepare(manifest, work, seed=seed))
    base = timed(_cli() + ["train", str(work / "base.csv"), "--out", str(work / "run"),
                           "--id-col", "id", "--quiet", "--seed", str(seed)], work / "train.log")
    assert base["rc"] == 0, base["out"]
    assert timed(_cli() + ["rank", str(work / "run")])["rc"] == 0
    g = gate(work, work / "run")
    retrain = timed(_cli() + ["train", str(work / "current.csv"), "--out", str(work / "retrain"),
                              "--id-col", "id", "--quiet", "--seed", str(seed)])
    assert retrain["rc"] == 0, retrain["out"]
    report("digits", work, g, retrain, "train current.csv, this run")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write base.csv, current.csv and truth.csv")
    p.add_argument("manifest", type=Path)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    g = sub.add_parser("gate", help="time and score check --manifest on a trained base run")
    g.add_argument("--work", type=Path, required=True)
    g.add_argument("--run", type=Path, required=True)
    g.add_argument("--train-log", type=Path, default=None,
                   help="log ending in `/usr/bin/time -p` lines of the base run's training "
                        "(default WORK/train.log); the retrain baseline")
    d = sub.add_parser("digits", help="the whole benchmark on scikit-learn's digits")
    d.add_argument("--work", type=Path, required=True)
    d.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.cmd == "prepare":
        print(prepare(a.manifest, a.work, seed=a.seed))
    elif a.cmd == "digits":
        digits(a.work, a.seed)
    else:
        retrain = time_log(a.train_log or a.work / "train.log")
        if retrain is None:
            raise SystemExit("no `/usr/bin/time -p` lines in the train log; time the base run")
        res = gate(a.work, a.run)
        report(a.run.name, a.work, res, retrain,
               "the base run's own training, /usr/bin/time -p, same machine")


if __name__ == "__main__":
    main()
