"""Shared fixtures: tiny manifests of every kind, made on the fly (no downloads, no ../shared)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

# As `clean-labels` does (cli.main sets it before any OpenMP runtime loads): OpenMP
# threads of torch and scikit-learn sleep instead of spinning while waiting. Test modules import
# scikit-learn early, so set it here, first; spinning threads made hgb folds 100x slower on a
# busy 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, timeout: float) -> str:
    """Run `code` in a fresh Python process at the repository root; returns its stdout (asserts
    that it exited 0, with its stderr as the message)."""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                       timeout=timeout)
    assert p.returncode == 0, p.stderr
    return p.stdout


def blob_table(n_per_class: int = 40, k: int = 3, d: int = 4, seed: int = 0) -> pd.DataFrame:
    """Well separated Gaussian blobs: a tabular dataset any model learns perfectly."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 6, size=(k, d))
    X = np.concatenate([c + rng.normal(0, 0.6, size=(n_per_class, d)) for c in centers])
    y = np.repeat(np.arange(k), n_per_class)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(d)])
    df.insert(0, "id", [f"r{i:03d}" for i in range(len(df))])
    df["label"] = np.array(["cat", "dog", "eel", "fox", "gnu"])[y]
    return df


def write_pngs(folder: Path, n_per_class: int = 12, k: int = 2, size: int = 8, seed: int = 0,
               rgb: bool = False) -> pd.DataFrame:
    """Images whose class is obvious (class 0 dark left half, class 1 bright), as PNG files."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for c in range(k):
        for i in range(n_per_class):
            a = rng.integers(0, 40, size=(size, size)).astype(np.uint8)
            a[:, : size // 2] += np.uint8(200 if c == 1 else 0)
            a[: size // 2, :] += np.uint8(200 if c == 2 else 0)
            name = f"c{c}_{i:03d}.png"
            im = Image.fromarray(a, mode="L")
            if rgb:
                im = im.convert("RGB")
            im.save(folder / name)
            rows.append({"path": f"img/{name}", "label": f"class{c}"})
    return pd.DataFrame(rows)


@pytest.fixture
def tabular_csv(tmp_path) -> Path:
    p = tmp_path / "tab.csv"
    blob_table().to_csv(p, index=False)
    return p


@pytest.fixture
def image_manifest(tmp_path) -> Path:
    df = write_pngs(tmp_path / "img")
    p = tmp_path / "images.csv"
    df.to_csv(p, index=False)
    return p


@pytest.fixture
def inject_faults(monkeypatch, tmp_path):
    """inject_faults({fold: mode}) -> the folder where first attempts leave their marker: every
    trainer's run_fold (the function Ray tasks and fold processes run) becomes `faulty_fold`."""
    import functools

    from cleanlab_lite.train import loop, sklearn_models
    from tests.faults import FAULT_MODES, faulty_fold

    seen = tmp_path / "faults-seen"
    seen.mkdir()
    module = sys.modules[faulty_fold.__module__]
    try:    # Ray workers cannot import this file: send the wrapper to them by value
        from ray import cloudpickle
    except ImportError:
        cloudpickle = None
    if cloudpickle is not None:
        cloudpickle.register_pickle_by_value(module)

    def apply(faults: dict) -> Path:
        assert set(faults.values()) <= set(FAULT_MODES), faults
        for module in (loop, sklearn_models):
            monkeypatch.setattr(module, "_run_fold_before_faults", module.run_fold, raising=False)
            monkeypatch.setattr(module, "run_fold", functools.partial(
                faulty_fold, inner=module.__name__, faults=faults, seen=str(seen)))
        return seen

    yield apply
    if cloudpickle is not None:
        cloudpickle.unregister_pickle_by_value(module)


def interrupt_when_folds_are_done(run: Path, folds: tuple, timeout_s: float = 900) -> None:
    """In a thread: send this process a real SIGINT once every fold in `folds` of `run` has its
    done.json (give up after timeout_s)."""
    import signal
    import threading

    def wait_then_interrupt():
        deadline = time.monotonic() + timeout_s
        while not all((run / "folds" / f"fold-{i}" / "done.json").is_file() for i in folds):
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=wait_then_interrupt, daemon=True).start()
