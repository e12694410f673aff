"""Training speed and accuracy: our `train_folds` against a hand-written PyTorch loop, same data,
same folds, one process.

MNIST mode (issue #4's reference): the 10,000 MNIST test images from idx .gz files, 5 folds.
  ours:     cleanlab_lite.train.train_folds with the default small-image CNN (GPU-resident uint8,
            bf16 autocast on CUDA, index-gather batches, batch-wide augmentation)
  baseline: torchvision resnet18 (1-channel stem), DataLoader, fp32, batch 128, Adam 1e-3,
            host-to-device copy per batch
Both print wall time for all folds and out-of-fold accuracy.

    python benchmarks/bench_train.py mnist ../shared/data/mnist-test --device cuda --epochs 5
    python benchmarks/bench_train.py mnist ../shared/data/mnist-test --device cpu --limit 2000 --epochs 2

Synthetic mode: CIFAR-shaped random images (N x 3 x 32 x 32), throughput in training images/s
for our default net and for resnet18, cold (first run in this process) and warm, against a plain
GPU-resident loop with an airbench-class net (widths 64/256/256, batch 1024) measured here too.

    python benchmarks/bench_train.py synthetic --device cuda --n 50000 --epochs 10
    python benchmarks/bench_train.py synthetic --device cpu --n 2000 --epochs 1
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as clean-labels does, before torch loads OpenMP
from cleanlab_lite.device import resolve_device  # noqa: E402
from cleanlab_lite.train import train_folds  # noqa: E402
from cleanlab_lite.config import TrainConfig  # noqa: E402
from cleanlab_lite.data.dataset import Dataset  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


# ---- data ------------------------------------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """An idx(.gz) file (the MNIST format) as a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def load_mnist(folder: Path, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    images = sorted(folder.glob("*images-idx3-ubyte*"))
    labels = sorted(folder.glob("*labels-idx1-ubyte*"))
    if not images or not labels:
        sys.exit(f"{folder}: no *images-idx3-ubyte(.gz) / *labels-idx1-ubyte(.gz) files")
    X = read_idx(images[0])[:, None]          # (N, 1, 28, 28) uint8
    y = read_idx(labels[0]).astype(np.int64)
    if limit:
        X, y = X[:limit], y[:limit]
    return np.ascontiguousarray(X), y


def stratified_folds(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    folds = np.empty(y.shape[0], dtype=np.int64)
    for i, (_, te) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y)):
        folds[te] = i
    return folds


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


# ---- the hand-written baseline ---------------------------------------------------------------

def resnet18_gray(num_classes: int) -> nn.Module:
    import torchvision

    net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    return net


def baseline_folds(X: np.ndarray, y: np.ndarray, folds: np.ndarray, epochs: int,
                   device: torch.device, batch: int = 128) -> tuple[float, np.ndarray]:
    """The loop most people write: DataLoader over float tensors, fp32, copy per batch."""
    from torch.utils.data import DataLoader, TensorDataset

    t0 = time.perf_counter()
    xf = torch.from_numpy(X).float().div_(255).sub_(0.1307).div_(0.3081)
    yt = torch.from_numpy(y)
    probs = np.zeros((len(y), int(y.max()) + 1), dtype=np.float32)
    for i in range(int(folds.max()) + 1):
        tr, te = np.flatnonzero(folds != i), np.flatnonzero(folds == i)
        torch.manual_seed(i)
        model = resnet18_gray(probs.shape[1]).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loader = DataLoader(TensorDataset(xf[tr], yt[tr]), batch_size=batch, shuffle=True,
                            pin_memory=device.type == "cuda")
        model.train()
        for _ in range(epochs):
            for xb, yb in loader:
                xb, yb = xb.to(device), yb.to(device)
                loss = nn.functional.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            out = [torch.softmax(model(xb.to(device)), 1).cpu()
                   for (xb,) in DataLoader(TensorDataset(xf[te]), batch_size=1024)]
        probs[te] = torch.cat(out).numpy()
    sync(device)
    return time.perf_counter() - t0, probs


# ---- ours --------------------------------------------------------------------------------------

def ours(X, y, folds, cfg: TrainConfig) -> tuple[float, np.ndarray, dict]:
    ds = Dataset("image", X, y, [str(c) for c in range(int(y.max()) + 1)])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = train_folds(ds, folds[None], cfg, Path(tmp))
        wall = time.perf_counter() - t0
    return wall, res.pred_probs, res.metrics


def warm_up(device: torch.device) -> float:
    """Create the CUDA context (not counted for anyone)."""
    t0 = time.perf_counter()
    if device.type == "cuda":
        torch.zeros(1, device=device).sum().item()
    return time.perf_counter() - t0


def run_mnist(a) -> dict:
    device = torch.device(resolve_device(a.device))
    X, y = load_mnist(Path(a.path), a.limit)
    folds = stratified_folds(y, a.folds)
    ctx_s = warm_up(device)
    cfg = TrainConfig(folds=a.folds, epochs=a.epochs, device=a.device, quiet=True,
                      batch_size=a.batch_size, lr=a.lr)
    cold_s, p_cold, m = ours(X, y, folds, cfg)
    warm_s, p_warm, _ = ours(X, y, folds, cfg)
    acc = lambda p: float((p.argmax(1) == y).mean())  # noqa: E731
    base_s, p_base = baseline_folds(X, y, folds, a.baseline_epochs or a.epochs, device)
    out = {
        "mode": "mnist", "device": _device_name(device), "n": int(len(y)), "folds": a.folds,
        "context_init_s": round(ctx_s, 2),
        "ours": {"model": m["model"], "epochs": m["epochs"], "batch_size": m["batch_size"],
                 "cpu_threads": m.get("threads"),
                 "cold_s": round(cold_s, 2), "warm_s": round(warm_s, 2),
                 "oof_accuracy_cold": round(acc(p_cold), 4), "oof_accuracy_warm": round(acc(p_warm), 4)},
        "baseline": {"model": "resnet18 DataLoader fp32 batch 128",
                     "epochs": a.baseline_epochs or a.epochs, "wall_s": round(base_s, 2),
                     "oof_accuracy": round(acc(p_base), 4)},
    }
    out["speedup_cold"] = round(base_s / cold_s, 2)
    out["speedup_warm"] = round(base_s / warm_s, 2)
    print(f"ours     {m['model']:>8} {m['epochs']:>3} ep  cold {cold_s:7.2f} s  warm {warm_s:7.2f} s  "
          f"OOF acc {acc(p_warm):.4f}")
    print(f"baseline resnet18 {out['baseline']['epochs']:>3} ep  wall {base_s:7.2f} s            "
          f"OOF acc {acc(p_base):.4f}")
    print(f"speed-up {out['speedup_cold']}x cold, {out['speedup_warm']}x warm  ({out['device']}"
          + (f"; ours trained on {m['threads']} thread(s))" if m.get("threads") else ")"))
    return out


# ---- synthetic throughput --------------------------------------------------------------------

def plain_loop_images_per_s(X: np.ndarray, y: np.ndarray, folds: np.ndarray, epochs: int,
                            device: torch.device, batch: int) -> float:
    """A plain GPU-resident loop with an airbench-class net (64/256/256): the issue's yardstick."""
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(cout),
                nn.GELU(), nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.GELU()]

    amp = device.type == "cuda"
    Xd = torch.from_numpy(X).to(device)
    yd = torch.from_numpy(y).to(device)
    seen, t_total = 0, 0.0
    for i in range(int(folds.max()) + 1):
        tr = torch.from_numpy(np.flatnonzero(folds != i)).to(device)
        batch = min(batch, tr.numel())
        net = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.GELU(),
                            *block(64, 64), *block(64, 256), *block(256, 256),
                            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(256, 10, bias=False)).to(device)
        if amp:
            net = net.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(epochs):
            order = tr[torch.randperm(tr.numel(), device=device)]
            for s in range(0, order.numel() - batch + 1, batch):
                idx = order[s:s + batch]
                xb = Xd[idx].float().div_(255)
                if amp:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                    loss = nn.functional.cross_entropy(net(xb).float(), yd[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                seen += idx.numel()
        sync(device)
        t_total += time.perf_counter() - t0
    return seen / t_total


def run_synthetic(a) -> dict:
    device = torch.device(resolve_device(a.device))
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (a.n, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, a.n).astype(np.int64)
    folds = stratified_folds(y, a.folds)
    warm_up(device)
    out = {"mode": "synthetic", "device": _device_name(device), "n": a.n, "folds": a.folds,
           "epochs": a.epochs, "models": {}}
    for name in a.models.split(","):
        cfg = TrainConfig(folds=a.folds, epochs=a.epochs, device=a.device, model=name, quiet=True,
                          batch_size=a.batch_size, compile=a.compile)
        row = {}
        for when in ("cold", "warm"):
            wall, _, m = ours(X, y, folds, cfg)
            imgs = sum(f["steps"] * m["batch_size"] for f in m["per_fold"])
            row[when] = {"wall_s": round(wall, 2), "train_s": round(m["timings"]["train_s"], 2),
                         "train_images_per_s": round(imgs / m["timings"]["train_s"])}
            print(f"ours {name:>9} {when}: {wall:7.2f} s wall for {a.folds} folds x {a.epochs} epochs, "
                  f"{row[when]['train_images_per_s']:,} training images/s (batch {m['batch_size']})")
        out["models"][name] = row
    base = plain_loop_images_per_s(X, y, folds, a.epochs, device, batch=a.plain_batch)
    out["plain_loop_images_per_s"] = round(base)
    print(f"plain GPU-resident loop (64/256/256, batch {a.plain_batch} or the fold if smaller): "
          f"{base:,.0f} training images/s"
          f"  ({out['device']})")
    return out


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("mnist", help="MNIST idx files: ours vs the resnet18 DataLoader baseline")
    m.add_argument("path", help="folder with *images-idx3-ubyte.gz and *labels-idx1-ubyte.gz")
    m.add_argument("--limit", type=int, default=None, help="use the first N images (CPU runs)")
    m.add_argument("--baseline-epochs", type=int, default=None)
    m.add_argument("--lr", type=float, default=None)
    s = sub.add_parser("synthetic", help="CIFAR-shaped random data: training throughput")
    s.add_argument("--n", type=int, default=50000)
    s.add_argument("--models", default="cnn,resnet18")
    s.add_argument("--plain-batch", type=int, default=1024)
    s.add_argument("--compile", action="store_true")
    for p in (m, s):
        p.add_argument("--device", default="auto")
        p.add_argument("--folds", type=int, default=5)
        p.add_argument("--epochs", type=int, default=None, help="default: 5 (mnist), 10 (synthetic)")
        p.add_argument("--batch-size", type=int, default=None)
        p.add_argument("--json", default=None, help="also write the figures to this file")
    a = ap.parse_args()
    if a.epochs is None:
        a.epochs = 5 if a.mode == "mnist" else 10
    out = run_mnist(a) if a.mode == "mnist" else run_synthetic(a)
    out["torch"] = torch.__version__
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
