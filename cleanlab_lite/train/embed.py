"""Embed once, fit k heads: one feature vector per image from a torchvision backbone (its
classifier head removed), computed once in batches and cached in RUN/cache/ beside the decoded
images. The folds then train a cheap head (`--head logreg|hgb|linear|mlp`) on the embeddings
instead of fine-tuning the backbone k times.

The backbone runs like a fold model does (`train.runtime`): --precision (auto: bf16 on GPUs with
native bf16), channels_last, the images placed by `DeviceData` (on the GPU when they fit, else
streamed from the host through pinned buffers with asynchronous copies), the batch halved when
the device runs out of memory, and the features averaged with the mirrored image when flips
suit the images.

The cache file is embed-<key>.npy, float32 (N, D); the key covers the decode cache's key (image
files, size), the rows kept, the backbone, the weights (a name, or the file's path, size and
mtime), the normalisation, the flip averaging, the device type and the precision, so a rerun
with the same inputs reuses it and any change recomputes it.
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
from cleanlab_lite.device import resolve_device
from cleanlab_lite.run import Run
from cleanlab_lite.train import defaults, infer, models, pretrained
from cleanlab_lite.train.data import DeviceData, image_stats
from cleanlab_lite.train.runtime import autocast, autocast_dtype, halving_batches, oom_as_failure

@dataclasses.dataclass
class Embedded:
    """dataset: the embeddings as an `embedding` Dataset (labels, classes, weights, groups kept)."""
    dataset: Dataset
    cache_path: Path | None
    reused: bool
    seconds: float
    dim: int


def _weights_id(spec: str | None) -> str:
    if spec is None:
        return "random-init"
    if pretrained.is_name(spec):
        return f"name:{spec.lower()}"
    p = Path(spec)
    st = p.stat() if p.is_file() else None
    return f"file:{p.resolve()}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}"


def input_stats(X: np.ndarray, backbone: str, spec: str | None) -> tuple[np.ndarray, np.ndarray, str]:
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


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a backbone turns images into features: everything that changes the numbers."""
    backbone: str
    pretrained: str | None
    mean: np.ndarray
    std: np.ndarray
    norm: str                      # where mean/std came from: weights | images
    flip_tta: bool
    device: torch.device
    amp: torch.dtype | None
    channels_last: bool
    batch_size: int
    seed: int

    def key(self, image_key: str, n: int) -> str:
        """The cache key of these features for the decode cache `image_key` and `n` rows."""
        text = (f"v2|{image_key}|{n}|{self.backbone}|{_weights_id(self.pretrained)}|{self.norm}|"
                f"{self.flip_tta}|{self.device.type}|{self.amp}|{self.channels_last}")
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def recipe(cfg: TrainConfig, device: torch.device, stats_from: np.ndarray) -> Recipe:
    """The recipe for cfg.backbone on `device`; input statistics from the weights (by name) or
    the images `stats_from` (the run's own images, also when predicting new ones)."""
    mean, std, norm = input_stats(stats_from, cfg.backbone, cfg.pretrained)
    shape = tuple(stats_from.shape[1:])
    hp = defaults.resolve(cfg, cfg.backbone, device.type, shape, stats_from.shape[0])
    return Recipe(cfg.backbone, cfg.pretrained, mean, std, norm, bool(cfg.tta and hp.flip), device,
                  autocast_dtype(device, cfg.precision), bool(cfg.channels_last), hp.batch_size,
                  int(cfg.seed))


def embed_images(X: np.ndarray, r: Recipe) -> np.ndarray:
    """float32 (N, D) features of images X uint8 (N, C, H, W) by recipe `r`. The batch is
    halved while the device runs out of memory; out of memory at one image is a RuntimeFailure
    (exit 3) naming the options that avoid it."""
    torch.manual_seed(r.seed)                  # random-init backbones are reproducible
    model = models.build_model(r.backbone, tuple(X.shape[1:]), 1, pretrained=r.pretrained)
    models.strip_head(model, r.backbone)
    models.set_input_stats(model, r.mean, r.std)
    where = f"embedding {X.shape[0]} images with --backbone {r.backbone}"
    with oom_as_failure(where, r.device, model_option="--backbone"):
        model = model.to(r.device).eval()
        if r.channels_last:
            model = model.to(memory_format=torch.channels_last)
        data = DeviceData(X, np.zeros(X.shape[0], dtype=np.int64), None, r.device)
        E, _ = halving_batches(lambda bs: _features(model, data, bs, r), r.batch_size, r.device)
    return E


@torch.no_grad()
def _features(model, data: DeviceData, batch_size: int, r: Recipe) -> np.ndarray:
    def batches():
        for x in data.in_order(batch_size):
            x = infer.model_input(x, True, r.channels_last)
            with autocast(r.device, r.amp):
                f = model(x).float()
                if r.flip_tta:
                    f = 0.5 * (f + model(x.flip(-1)).float())
            yield f.flatten(1)

    return infer.collect_rows(batches(), data.n, r.device)


def embed_dataset(ds: Dataset, cfg: TrainConfig, run: Run | None, image_key: str | None) -> Embedded:
    """The images of `ds` as embeddings from cfg.backbone with cfg.pretrained, from the run
    folder's cache when an earlier run computed the same (image_key: the decode cache's key)."""
    from cleanlab_lite.train.threads import cpu_threads, limit_threads

    models.check_backbone(cfg.backbone, tuple(ds.X.shape[1:]), cfg.pretrained)
    t0 = time.perf_counter()
    device = torch.device(resolve_device(cfg.device))
    r = recipe(cfg, device, ds.X)
    path = None
    if run is not None and image_key is not None:
        path = run.embedding_path(r.key(image_key, ds.n))
        if path.is_file():
            try:
                E = np.load(path)
                if E.ndim == 2 and E.shape[0] == ds.n:
                    return Embedded(_as_dataset(ds, E), path, True, time.perf_counter() - t0, E.shape[1])
            except (OSError, ValueError):
                pass                                # unreadable: compute it again
    with limit_threads(cpu_threads(cfg, ds.X) if device.type == "cpu" else None):
        E = embed_images(ds.X, r)
    if path is not None:
        io.write_npy(path, E)
    return Embedded(_as_dataset(ds, E), path, False, time.perf_counter() - t0, E.shape[1])


def _as_dataset(ds: Dataset, E: np.ndarray) -> Dataset:
    names = [f"emb{j}" for j in range(E.shape[1])]
    return dataclasses.replace(ds, kind="embedding", X=E, feature_names=names)
