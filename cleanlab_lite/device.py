"""The --device option: `auto`, `cpu`, `cuda` or `cuda:N`, resolved to the device a command runs
on, and checked before anything is written.

Shared by train, predict, check --manifest and rank. torch is imported only when the answer
depends on the machine (`cpu` never imports it), so a scikit-learn run or a CPU rank stays
torch-free.
"""
from __future__ import annotations

from cleanlab_lite.errors import ConfigError, UserInputError


def _cuda_count() -> int:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(name: str) -> str:
    """'cpu', 'cuda' or 'cuda:N' for --device `name`: auto is cuda when PyTorch sees a GPU, else
    cpu. --device cuda without a GPU, or cuda:N past the last GPU, is a UserInputError (exit 2)
    with the fix; an unknown name a ConfigError."""
    name = str(name).strip().lower()
    if name == "cpu":
        return "cpu"
    if name != "auto" and not name.startswith("cuda"):
        raise ConfigError(f"--device {name!r} is not known; use auto, cpu, cuda or cuda:N")
    count = _cuda_count()
    if name == "auto":
        return "cuda" if count else "cpu"
    if not count:
        raise UserInputError(f"--device {name} was requested but PyTorch sees no CUDA GPU here; "
                             f"use --device cpu (or auto)")
    if name == "cuda":
        return name
    index = name[5:]
    if name[4:5] != ":" or not index.isdigit():
        raise ConfigError(f"--device {name!r} is not known; use auto, cpu, cuda or cuda:N")
    if int(index) >= count:
        raise UserInputError(f"--device {name}: this machine has {count} CUDA GPU(s), "
                             f"cuda:0..cuda:{count - 1}; pass one of those or --device cuda")
    return f"cuda:{int(index)}"


def check_device(name: str) -> None:
    """Validate --device `name` before any file is written (see `resolve_device`); auto and cpu
    are always valid and import nothing."""
    if str(name).strip().lower() not in ("auto", "cpu"):
        resolve_device(name)
