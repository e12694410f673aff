"""The embedded demo dataset: scikit-learn's digits written out as PNG images with a manifest,
with a fixed fraction of labels flipped (the true label kept in `true_label`). No download."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.data.manifest import write_manifest
from cleanlab_lite.io import atomic_path, unwritable


def flip_labels(labels: np.ndarray, rate: float, num_classes: int, seed: int) -> np.ndarray:
    """Flip round(rate * N) labels, chosen at random, each to a different random class."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    n_flip = int(round(rate * len(labels)))
    idx = rng.choice(len(labels), size=n_flip, replace=False)
    shift = rng.integers(1, num_classes, size=n_flip)
    noisy = labels.copy()
    noisy[idx] = (labels[idx] + shift) % num_classes
    return noisy


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
    noisy = flip_labels(true, noise, 10, seed)
    df = pd.DataFrame({"id": ids, "path": paths, "label": noisy, "true_label": true})
    return write_manifest(df, folder / "manifest.csv")
