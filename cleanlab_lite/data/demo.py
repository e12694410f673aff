"""The embedded demo dataset: scikit-learn's digits written out as PNG images, one folder per
class, with a fixed fraction of the images in the wrong class folder, and a manifest of the same
rows (the true label kept in `true_label`). No download."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cleanlab_lite.data.manifest import write_manifest
from cleanlab_lite.io import atomic_path, unwritable
from cleanlab_lite.noise import inject_noise


def write_digits(folder: str | Path, *, noise: float = 0.10, seed: int = 0) -> Path:
    """Write the digits as FOLDER/<label>/digit-NNNN.png (8x8 grayscale, intensity 0..16 scaled
    to 0..255) under their noisy label, and FOLDER/manifest.csv (id, path, label, true_label).
    FOLDER is then both a class-folder dataset and a manifest's folder. Returns the manifest."""
    from PIL import Image
    from sklearn.datasets import load_digits

    folder = Path(folder)
    d = load_digits()
    true = d.target.astype(np.int64)
    noisy, _ = inject_noise(true, kind="symmetric", rate=noise, num_classes=10, seed=seed)
    pixels = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    for c in range(10):
        try:
            (folder / str(c)).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise unwritable(folder / str(c), e) from None
    paths = []
    for i, (im, label) in enumerate(zip(pixels, noisy)):
        name = f"digit-{i:04d}.png"
        for c in range(10):          # a rerun with another seed moves the image, never copies it
            if c != label and (folder / str(c) / name).exists():
                (folder / str(c) / name).unlink()
        target = folder / str(label) / name
        if not target.exists():
            with atomic_path(target) as tmp:
                Image.fromarray(im, mode="L").save(tmp, format="PNG")
        paths.append(f"{label}/{name}")
    df = pd.DataFrame({"id": [f"d{i:04d}" for i in range(len(true))], "path": paths,
                       "label": noisy, "true_label": true})
    return write_manifest(df, folder / "manifest.csv")
