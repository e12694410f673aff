"""Every flagging rule on the demo's own out-of-fold probabilities, with cleanlab 2.9's
`find_label_issues` (its defaults) on the same pred_probs in the same run:

    python benchmarks/bench_demo_filters.py            # runs `clean-labels demo` into demo-run
    python benchmarks/bench_demo_filters.py --run demo-run   # reuse a finished demo folder
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cleanlab_lite.scoring import find_label_issues  # noqa: E402
from cleanlab_lite.scoring.api import DEFAULT_FILTER, FILTERS  # noqa: E402


def prf(flags: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    tp = int((flags & truth).sum())
    p = tp / max(1, int(flags.sum()))
    r = tp / max(1, int(truth.sum()))
    return p, r, 2 * p * r / max(1e-12, p + r)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=None, help="a finished `clean-labels demo --out` folder")
    a = ap.parse_args(argv)
    folder = a.run
    if folder is None:
        from cleanlab_lite.demo import run_demo

        folder = Path("demo-run")
        run_demo(folder, quiet=True, log=lambda *_: None)
    manifest = pd.read_csv(folder / "data" / "manifest.csv")
    labels = np.load(folder / "run" / "labels.npy")
    pp = np.load(folder / "run" / "pred_probs.npy")
    flipped = (manifest["label"] != manifest["true_label"]).to_numpy()
    acc = float((pp.argmax(1) == manifest["true_label"].to_numpy()).mean())
    print(f"demo run {folder}: N={len(labels)}, {int(flipped.sum())} flips, "
          f"OOF accuracy vs true labels {acc:.4f}")
    print("| filter | precision | recall | F1 |\n|---|---|---|---|")
    for f in FILTERS:
        p, r, f1 = prf(find_label_issues(labels, pp, filter_by=f), flipped)
        print(f"| {f}{' (our default)' if f == DEFAULT_FILTER else ''} | {p:.3f} | {r:.3f} | {f1:.3f} |")
    from cleanlab.filter import find_label_issues as cl_find

    p, r, f1 = prf(cl_find(labels, pp), flipped)
    print(f"| cleanlab 2.9 find_label_issues (its defaults), same pred_probs | {p:.3f} | {r:.3f} | {f1:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
