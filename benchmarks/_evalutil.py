"""Shared pieces of the evaluation benchmarks (bench_quality, bench_cleaning, bench_imbalance):
datasets written as manifests, the tool run end to end, flag/score metrics, markdown tables and a
one-line description of the machine."""
from __future__ import annotations

import gzip
import os
import platform
import struct
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cleanlab_lite.data.manifest import write_manifest  # noqa: E402


# ---- data as manifests --------------------------------------------------------------------------

def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits (ships with it, no download): X float32 (1797, 64) in 0..16, y (1797,)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data.astype(np.float32), d.target.astype(np.int64)


def tabular_manifest(X: np.ndarray, y: np.ndarray, path: Path, *, prefix: str = "px",
                     extra: dict | None = None) -> tuple[Path, tuple[str, ...]]:
    """Write features X (N, D) and labels y (N,) as a manifest with columns id, <prefix>0.., label
    (+ `extra` columns). Returns (path, feature column names)."""
    cols = tuple(f"{prefix}{i}" for i in range(X.shape[1]))
    df = pd.DataFrame(X, columns=list(cols))
    df.insert(0, "id", [f"r{i:06d}" for i in range(len(y))])
    df["label"] = y
    for k, v in (extra or {}).items():
        df[k] = v
    return write_manifest(df, path), cols


def read_idx(path: Path) -> np.ndarray:
    """An MNIST idx file (.gz or raw) as a numpy array (uint8 images (N, 28, 28) or labels (N,))."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte idx file")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def mnist_test(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test images (N, 28, 28) uint8 and labels (N,) from `folder`
    (t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])."""
    folder = Path(folder)

    def find(stem):
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
        raise FileNotFoundError(f"{folder} has no {stem}[.gz]; pass the folder holding the MNIST "
                                "test idx files")
    X = read_idx(find("t10k-images-idx3-ubyte"))
    y = read_idx(find("t10k-labels-idx1-ubyte")).astype(np.int64)
    return X, y


def image_manifest(images: np.ndarray, y: np.ndarray, folder: Path) -> Path:
    """Write grayscale images (N, H, W) uint8 as PNGs under folder/images and folder/manifest.csv
    (id, path, label)."""
    from PIL import Image

    img_dir = folder / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, im in enumerate(images):     # one file per image: there is no way around a loop here
        name = f"img-{i:05d}.png"
        if not (img_dir / name).exists():
            Image.fromarray(np.ascontiguousarray(im), mode="L").save(img_dir / name)
        paths.append(f"images/{name}")
    df = pd.DataFrame({"id": [f"m{i:05d}" for i in range(len(y))], "path": paths, "label": y})
    return write_manifest(df, folder / "manifest.csv")


def set_cpu_threads(n: int) -> None:
    """torch intra-op threads. The models here are tiny: on a busy 2-core machine one thread was
    10x faster than two (6 s vs 59 s for 5 folds x 10 epochs of the digits MLP)."""
    import torch

    torch.set_num_threads(max(1, int(n)))


# ---- the tool, end to end -----------------------------------------------------------------------

def train_and_rank(manifest: Path, run: Path, *, feature_cols=None, weight_col=None,
                   device="cpu", seed=0, **train_kw) -> dict:
    """`clean-labels train` + `clean-labels rank` (default options) through the library.

    Returns labels (N,) int, pred_probs (N, K), classes, ranking (DataFrame in row order),
    is_issue (N,) bool, quality (N,) float, metrics (train metrics.json)."""
    from cleanlab_lite.config import DataConfig, RankConfig, TrainConfig
    from cleanlab_lite.pipeline import run_train
    from cleanlab_lite.rank import rank_run
    from cleanlab_lite.run import Run

    data_cfg = DataConfig(id_col="id", feature_cols=tuple(feature_cols) if feature_cols else None,
                          weight_col=weight_col)
    train_cfg = TrainConfig(device=device, seed=seed, quiet=True, **train_kw)
    summary = run_train(manifest, data_cfg, train_cfg, run, log=lambda *_: None)
    rank_run(run, RankConfig())
    folder = Run(run)
    ranking = folder.read_ranking().sort_values("row").reset_index(drop=True)
    flags = ranking["is_label_issue"].to_numpy(bool)
    return {"labels": folder.read_labels(), "pred_probs": folder.read_pred_probs(),
            "classes": folder.read_classes(), "ranking": ranking, "is_issue": flags,
            "quality": ranking["label_quality"].to_numpy(dtype=np.float64),
            "metrics": summary.get("metrics", {})}


# ---- metrics ------------------------------------------------------------------------------------

def flag_metrics(truth: np.ndarray, flagged: np.ndarray) -> dict:
    """Precision, recall, F1 of boolean flags (N,) against boolean truth (N,)."""
    truth, flagged = np.asarray(truth, bool), np.asarray(flagged, bool)
    tp = int((truth & flagged).sum())
    p = tp / flagged.sum() if flagged.sum() else 0.0
    r = tp / truth.sum() if truth.sum() else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f1, "flagged": int(flagged.sum())}


def score_metrics(truth: np.ndarray, quality: np.ndarray) -> dict:
    """AUROC and average precision of a label quality score (lower = more suspect)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    truth = np.asarray(truth, bool)
    if truth.all() or not truth.any():
        return {"auroc": float("nan"), "ap": float("nan")}
    s = -np.asarray(quality, dtype=np.float64)
    return {"auroc": float(roc_auc_score(truth, s)), "ap": float(average_precision_score(truth, s))}


def binary_metrics(y_true: np.ndarray, y_pred: np.ndarray, positive: int = 1) -> dict:
    """Precision, recall and F1 of class `positive`."""
    return flag_metrics(np.asarray(y_true) == positive, np.asarray(y_pred) == positive)


# ---- output -------------------------------------------------------------------------------------

def markdown_table(header: list[str], rows: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            return "nan" if v != v else f"{v:.3f}"
        return str(v)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def machine() -> str:
    """e.g. 'CPU: Intel Xeon ... (2 cores), torch 2.14.1, numpy 2.x, Python 3.11.7'."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = f"CPU: {cpu} ({os.cpu_count()} cores)"
    if torch.cuda.is_available():
        dev += f"; GPU: {torch.cuda.get_device_name(0)}"
    return (f"{dev}; torch {torch.__version__}, numpy {np.__version__}, "
            f"Python {platform.python_version()}; code {code_version()}")


def code_version() -> str:
    """'git abc1234' or 'git abc1234 + uncommitted changes' (or 'unknown' outside git)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no",
                                "cleanlab_lite"], cwd=root, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return f"git {head}" + (" + uncommitted changes in cleanlab_lite/" if dirty else "")


def mean_std(values) -> str:
    v = np.asarray(values, dtype=np.float64)
    return f"{v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.4f}"
