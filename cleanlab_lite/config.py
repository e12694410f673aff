"""Typed, frozen configuration. Values come from defaults, then `--config FILE.yaml`, then flags
(flags win). The resolved config is written into the run folder as config.yaml.

A YAML file has one mapping per section: `data:`, `train:`, `rank:`, `export:`, `check:`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from cleanlab_lite.errors import ConfigError


@dataclass(frozen=True)
class DataConfig:
    label_col: str = "label"            # column holding the given label (string or int)
    path_col: str = "path"              # image path column, relative to data_root
    id_col: str | None = None           # optional stable row id, carried into ranking.csv
    feature_cols: tuple[str, ...] | None = None  # tabular: default every numeric column but label
    embeddings: str | None = None       # .npy (N, D), one row per manifest row
    data_root: str | None = None        # folder image paths are relative to; default manifest's
    group_col: str | None = None        # rows sharing a group stay in one fold
    weight_col: str | None = None       # per-sample loss weight column (>= 0)
    image_size: int | None = None       # pixels (square); None: native size if all equal, else 32
    skip_bad: bool = False              # drop unreadable images (listed in RUN/skipped.csv)
    decode_workers: int = 0             # image decode processes; 0 = all cores


@dataclass(frozen=True)
class TrainConfig:
    folds: int = 5                      # k in stratified k-fold
    repeats: int = 1                    # average out-of-fold probs over R differently seeded splits
    fold: int | None = None             # train only this fold (job arrays); merge with a plain run
    seed: int = 0
    device: str = "auto"                # auto | cpu | cuda
    model: str = "auto"                 # auto | cnn | resnet18 | ... | mlp | linear
    pretrained: str | None = None       # local weights file for torchvision models
    epochs: int | None = None           # None: chosen per model (see train.defaults)
    batch_size: int | None = None       # None: chosen per model
    lr: float | None = None             # None: chosen per model and optimizer
    weight_decay: float | None = None   # None: chosen per model
    hidden: int = 128                   # MLP hidden width (as accurate as 256 in tests, 2x faster)
    loss: str = "ce"                    # ce | gce | sce | focal | bootstrap
    class_weight: str = "none"          # none | inverse | sqrt_inverse | effective_number | w1,w2,..
    label_smoothing: str = "0"          # one epsilon, or per-class "e1,e2,.."
    gce_q: float = 0.7                  # generalized cross entropy exponent, 0 < q <= 1
    sce_alpha: float = 0.1              # symmetric CE: weight of CE
    sce_beta: float = 1.0               # symmetric CE: weight of reverse CE
    focal_gamma: float = 2.0
    bootstrap: str = "soft"             # soft | hard
    bootstrap_beta: float = 0.95        # weight of the given label in bootstrapping
    effective_number_beta: float = 0.999
    balance: str = "none"               # none | oversample | undersample (re-drawn each epoch)
    tta: bool = True                    # average predictions with the horizontal flip (images)
    compile: bool = False               # torch.compile once, re-initialise weights per fold
    channels_last: bool = True
    precision: str = "auto"             # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    # -- train helper: augmentation and CNN shape (None/auto: chosen in train.defaults) --
    flip: str = "auto"                  # auto (RGB images only) | on | off; also gates flip TTA
    translate: int | None = None        # max random shift in pixels; None: side/16, at least 1
    widths: str | None = None           # cnn block widths "64,256,256"; None: per device
    threads: int = 0                    # CPU training threads; 0: 1 for small inputs, else all
    # -- where the folds run (docs/scale.md); none of these changes what a fold learns --
    backend: str = "local"              # local (one after another here) | ray (one Ray task per fold)
    ray_address: str | None = None      # None: start a local Ray; "auto" | "ray://host:port": a cluster
    gpus_per_fold: float | None = None  # GPUs per Ray task; None: 1 when the cluster has GPUs, else 0
    cpus_per_fold: float = 1            # CPUs per Ray task (also its torch threads for large inputs)
    max_retries: int = 2                # Ray retries of a fold whose worker died or that raised
    quiet: bool = False


@dataclass(frozen=True)
class RankConfig:
    method: str = "self_confidence"     # label quality score (see scoring.METHODS)
    adjust_pred_probs: bool = False     # subtract per-class confident thresholds first
    filter_by: str = "adaptive"         # see scoring.FILTERS; chosen by F1 (docs/scoring.md)
    frac_noise: float = 1.0
    num_to_remove_per_class: tuple[int, ...] | None = None
    min_examples_per_class: int = 1
    device: str = "cpu"                 # cpu | cuda
    renormalize: bool = False           # renormalize rows that do not sum to 1 instead of erroring
    chunk_rows: int | None = None       # rows per chunk for out-of-core; None: automatic
    # scoring helper's fields (see docs/scoring.md)
    cj_argmax: str = "confident"        # confident (argmax over classes above threshold) | cleanlab
    estimation_method: str = "adaptive"  # adaptive | off_diagonal | off_diagonal_calibrated


SECTIONS: dict[str, type] = {"data": DataConfig, "train": TrainConfig, "rank": RankConfig}


def load_yaml(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """Read a config file into {section: {key: value}}; unknown sections or keys are errors."""
    if path is None:
        return {}
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} not found; pass an existing YAML file to --config")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        where = f" at line {line + 1}" if line is not None else ""
        raise ConfigError(f"config file {p} is not valid YAML{where}; fix the syntax") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {p} must be a mapping of sections (data:, train:, rank:)")
    out: dict[str, dict[str, Any]] = {}
    for section, values in raw.items():
        if section not in SECTIONS and section not in ("export", "check"):
            raise ConfigError(f"config file {p}: unknown section {section!r}; "
                              f"use one of {', '.join(list(SECTIONS) + ['export', 'check'])}")
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise ConfigError(f"config file {p}: section {section!r} must be a mapping")
        out[section] = dict(values)
    return out


def build(cls, *layers: Mapping[str, Any] | None, source: str = "config"):
    """Build dataclass `cls` from layers of overrides (later layers win), validating keys."""
    names = {f.name: f for f in fields(cls)}
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            key = key.replace("-", "_")
            if key not in names:
                raise ConfigError(f"{source}: unknown option {key!r} for {cls.__name__}; "
                                  f"valid: {', '.join(sorted(names))}")
            merged[key] = value
    for key, value in list(merged.items()):
        if isinstance(value, list):
            merged[key] = tuple(value)
    return cls(**merged)


def to_dict(cfg) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
