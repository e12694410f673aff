"""Embed once, fit k heads: one feature vector per image from a torchvision backbone (its
classifier head removed), computed once in batches (GPU when present, bf16 there), averaged with
the mirrored image when flips suit the images, and cached in RUN/cache/ beside the decoded
images. The folds then train a cheap head (`--head logreg|hgb|linear|mlp`) on the embeddings
instead of fine-tuning the backbone k times.

The cache file is embed-<key>.npy, float32 (N, D); the key covers the decode cache's key (image
files, size), the rows kept, the backbone, the weights (a name, or the file's path, size and
mtime), the normalisation and the flip averaging, so a rerun with the same inputs reuses it and
any change recomputes it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from cleanlab_lite import io
from cleanlab_lite.config import TrainConfig
from cleanlab_lite.data.dataset import Dataset
from cleanlab_lite.errors import ConfigError
from cleanlab_lite.run import Run
from cleanlab_lite.train import defaults, models, pretrained
from cleanlab_lite.train.data import image_stats

@dataclasses.dataclass
class Embedded:
    """dataset: the embeddings as an `embedding` Dataset (labels, classes, weights, groups kept)."""
    dataset: Dataset
    cache_path: Path | None
    reused: bool
    seconds: float
    dim: int


def check_backbone(name: str) -> None:
    import torchvision

    known = torchvision.models.list_models(module=torchvision.models)
    if name not in known:
        raise ConfigError(f"--backbone {name!r} is not a torchvision classification model; use one "
                          f"of e.g. resnet18, resnet50, efficientnet_b0, convnext_tiny, vit_b_16")


def _weights_id(spec: str | None) -> str:
    if spec is None:
        return "random-init"
    if pretrained.is_name(spec):
        return f"name:{spec.lower()}"
    p = Path(spec)
    st = p.stat() if p.is_file() else None
    return f"file:{p.resolve()}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}"


def _input_stats(X: np.ndarray, backbone: str, spec: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-channel mean/std on the 0..255 scale: the published weights' own (torchvision's
    transforms) for weights by name, else the images' (all rows: no labels are involved)."""
    c = X.shape[1]
    if spec is not None and pretrained.is_name(spec):
        t = pretrained.weights_enum_member(backbone, spec).transforms()
        mean, std = np.asarray(t.mean) * 255.0, np.asarray(t.std) * 255.0
        if c != 3:
            mean, std = np.full(c, mean.mean()), np.full(c, std.mean())
        return mean.astype(np.float32), std.astype(np.float32), "weights"
    mean, std = image_stats(X, np.arange(X.shape[0]))
    return mean, std, "images"


def cache_key(image_key: str, n: int, cfg: TrainConfig, norm: str, flip_tta: bool) -> str:
    h = hashlib.sha256(f"v1|{image_key}|{n}|{cfg.backbone}|{_weights_id(cfg.pretrained)}|{norm}|"
                       f"{flip_tta}".encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def compute(X: np.ndarray, cfg: TrainConfig, device: torch.device, mean: np.ndarray,
            std: np.ndarray, flip_tta: bool, batch_size: int) -> np.ndarray:
    """float32 (N, D) features of images X uint8 (N, C, H, W) from cfg.backbone."""
    torch.manual_seed(int(cfg.seed))           # random-init backbones are reproducible
    model = models.build_model(cfg.backbone, tuple(X.shape[1:]), 1, pretrained=cfg.pretrained)
    models.strip_head(model, cfg.backbone)
    models.set_input_stats(model, mean, std)
    model = model.to(device).eval()
    amp = torch.bfloat16 if device.type == "cuda" else None
    out = []
    for s in range(0, X.shape[0], batch_size):
        x = torch.from_numpy(np.array(X[s:s + batch_size])).to(device).float()   # a writable copy
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            f = model(x).float()
            if flip_tta:
                f = 0.5 * (f + model(x.flip(-1)).float())
        out.append(f.flatten(1).cpu())
    return torch.cat(out).numpy().astype(np.float32)


def embed_dataset(ds: Dataset, cfg: TrainConfig, run: Run | None, image_key: str | None) -> Embedded:
    """The images of `ds` as embeddings from cfg.backbone with cfg.pretrained, from the run
    folder's cache when an earlier run computed the same (image_key: the decode cache's key)."""
    from cleanlab_lite.train.loop import resolve_device
    from cleanlab_lite.train.threads import cpu_threads, limit_threads

    check_backbone(cfg.backbone)
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    hp = defaults.resolve(cfg, cfg.backbone, device.type, tuple(ds.X.shape[1:]), ds.n)
    flip_tta = bool(cfg.tta and hp.flip)
    mean, std, norm = _input_stats(ds.X, cfg.backbone, cfg.pretrained)
    path = None
    if run is not None and image_key is not None:
        path = run.embedding_path(cache_key(image_key, ds.n, cfg, norm, flip_tta))
        if path.is_file():
            try:
                E = np.load(path)
                if E.ndim == 2 and E.shape[0] == ds.n:
                    return Embedded(_as_dataset(ds, E), path, True, time.perf_counter() - t0, E.shape[1])
            except (OSError, ValueError):
                pass                                # unreadable: compute it again
    with limit_threads(cpu_threads(cfg, ds.X) if device.type == "cpu" else None):
        E = compute(ds.X, cfg, device, mean, std, flip_tta, hp.batch_size)
    if path is not None:
        io.write_npy(path, E)
    return Embedded(_as_dataset(ds, E), path, False, time.perf_counter() - t0, E.shape[1])


def _as_dataset(ds: Dataset, E: np.ndarray) -> Dataset:
    names = [f"emb{j}" for j in range(E.shape[1])]
    return dataclasses.replace(ds, kind="embedding", X=E, feature_names=names)
