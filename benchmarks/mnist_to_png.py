"""Write the MNIST test idx files out as PNG images plus a manifest, the input `clean-labels
train` takes:

    python benchmarks/mnist_to_png.py ../shared/data/mnist-test /tmp/mnist-png
    clean-labels train /tmp/mnist-png/manifest.csv --out /tmp/mnist-run --device cuda
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _evalutil import image_manifest, mnist_test  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="folder with t10k-images-idx3-ubyte.gz and labels")
    ap.add_argument("out", type=Path, help="folder to write images/ and manifest.csv into")
    ap.add_argument("--limit", type=int, default=None, help="only the first N images")
    a = ap.parse_args(argv)
    X, y = mnist_test(a.src)
    if a.limit:
        X, y = X[: a.limit], y[: a.limit]
    manifest = image_manifest(X, y, a.out)
    print(f"wrote {len(y)} PNGs and {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
