"""The embedded demo dataset: scikit-learn's digits written out as PNG images with a manifest,
with a fixed fraction of labels flipped (the true label kept in `true_label`). No download."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.data.manifest import write_manifest
from cleanlab_lite.io import atomic_path, unwritable
from cleanlab_lite.noise import inject_noise


def write_digits(folder: str | Path, *, noise: float = 0.10, seed: int = 0) -> Path:
    """Write digits PNGs (8x8 grayscale, upscaled intensity 0..16 -> 0..255) and manifest.csv.

    Returns the manifest path. Columns: id, path, label (noisy), true_label.
    """
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = Path(folder)
    img_dir = folder / "images"
    try:
        img_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise unwritable(img_dir, e) from None
    d = load_digits()
    pixels = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    ids, paths = [], []
    for i, im in enumerate(pixels):
        name = f"digit-{i:04d}.png"
        target = img_dir / name
        if not target.exists():
            with atomic_path(target) as tmp:
                Image.fromarray(im, mode="L").save(tmp, format="PNG")
        ids.append(f"d{i:04d}")
        paths.append(f"images/{name}")
    true = d.target.astype(np.int64)
    noisy, _ = inject_noise(true, kind="symmetric", rate=noise, num_classes=10, seed=seed)
    df = pd.DataFrame({"id": ids, "path": paths, "label": noisy, "true_label": true})
    return write_manifest(df, folder / "manifest.csv")
