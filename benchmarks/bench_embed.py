"""Embed once + k heads against fine-tuning the same backbone k times, on image manifests.

For each data set (scikit-learn's digits as PNGs; the MNIST test set as PNGs, optionally a
subset) both runs go through `clean-labels train` in a fresh process, same folds, same weights:

  * embed:     --backbone B --pretrained W --head H      (one forward pass per image, k heads)
  * fine-tune: --model B --pretrained W --epochs E       (the backbone trained k times)

and print wall time and out-of-fold accuracy (labels as given: these sets are clean).

    python benchmarks/bench_embed.py --weights r18.pth                 # digits only
    python benchmarks/bench_embed.py --weights r18.pth --mnist ../shared/data/mnist-test --limit 2000
    python benchmarks/bench_embed.py --weights imagenet --image-size 64 ...   # published weights

--weights random writes a randomly initialised state_dict (seed 0) to a temporary file and uses
it: the only weights at hand on a machine that cannot download any; say so when quoting figures.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _evalutil as U  # noqa: E402

from cleanlab_lite.run import Run  # noqa: E402

CLI = [sys.executable, "-m", "cleanlab_lite"]


def train(manifest: Path, run: Path, args: list[str]) -> tuple[float, dict]:
    cmd = CLI + ["train", str(manifest), "--out", str(run), "--quiet", *args]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout}{p.stderr}")
    return wall, Run(run).read_metrics() or {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--weights", default="random", help="random | imagenet | DEFAULT | FILE")
    ap.add_argument("--head", default="logreg")
    ap.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs per fold")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--mnist", type=Path, default=None, help="folder of the MNIST test idx files")
    ap.add_argument("--limit", type=int, default=2000, help="MNIST images used (first N)")
    ap.add_argument("--skip-finetune", action="store_true")
    a = ap.parse_args()
    print(U.machine())
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        weights = a.weights
        if weights == "random":
            import torch
            import torchvision

            torch.manual_seed(0)
            weights = str(tmp / f"{a.backbone}-random.pth")
            torch.save(torchvision.models.get_model(a.backbone, weights=None).state_dict(), weights)
        sets = {}
        X, y = U.digits_arrays()
        sets["digits"] = U.image_manifest((X * (255 / 16)).astype("uint8").reshape(-1, 8, 8), y,
                                          tmp / "digits")
        if a.mnist:
            imgs, y = U.mnist_test(a.mnist)
            sets[f"MNIST test[:{a.limit}]"] = U.image_manifest(imgs[:a.limit], y[:a.limit],
                                                                tmp / "mnist")
        size = ["--image-size", str(a.image_size)] if a.image_size else []
        common = ["--pretrained", weights, "--folds", str(a.folds), *size]
        rows = []
        for name, manifest in sets.items():
            wall, m = train(manifest, tmp / f"emb-{len(rows)}",
                            ["--backbone", a.backbone, "--head", a.head, *common])
            rows.append([name, f"embed once + {a.head}", f"{wall:.1f}",
                         f"{m.get('timings', {}).get('embed_s', float('nan')):.1f}",
                         f"{m['oof']['accuracy']:.4f}"])
            print(rows[-1], file=sys.stderr, flush=True)
            if not a.skip_finetune:
                wall, m = train(manifest, tmp / f"ft-{len(rows)}",
                                ["--model", a.backbone, "--epochs", str(a.epochs), *common])
                rows.append([name, f"fine-tune {a.epochs} ep x {a.folds} folds", f"{wall:.1f}",
                             "-", f"{m['oof']['accuracy']:.4f}"])
                print(rows[-1], file=sys.stderr, flush=True)
    print(f"\nbackbone {a.backbone}, weights {a.weights}, {a.folds} folds")
    print(U.markdown_table(["data", "method", "train wall s", "of which embedding s",
                            "OOF accuracy"], rows))


if __name__ == "__main__":
    main()
