"""What a torch computation (training a fold, embedding images, predicting rows) needs from the
device it runs on: the autocast precision, the CUDA backend flags, device synchronisation for
timing, and out-of-memory handling (recognising every form of it, retrying with smaller batches,
and the one-line exit-3 error naming the options that avoid it).

Used by `train.loop`, `train.embed` and `predict`, so the three behave alike on one GPU.
"""
from __future__ import annotations

import contextlib
from typing import Callable, TypeVar

import torch

from cleanlab_lite.errors import ConfigError, RuntimeFailure

T = TypeVar("T")
BF16_CAPABILITY = (8, 0)      # compute capability from which GPUs have native bf16 (Ampere)
# Messages of RuntimeErrors that are failed allocations: CUDA's, a failed pinned or CPU
# allocation, and the cuBLAS/cuDNN handles and workspaces allocated inside a kernel call.
OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory",
                "cublas_status_alloc_failed", "cudnn_status_alloc_failed")
GPU_MESSAGES = ("cuda", "cublas", "cudnn")


def autocast_dtype(device: torch.device, precision: str,
                   capability: tuple[int, int] | None = None) -> torch.dtype | None:
    """The autocast dtype for --precision on `device` (None: fp32, no autocast). auto is bf16 on
    GPUs with native bf16 (compute capability 8.0+: A100, H100, RTX 30xx and later) and fp32
    elsewhere: on a T4 or V100 bf16 is emulated and slower than fp32."""
    p = str(precision).lower()
    if p == "auto":
        if device.type != "cuda":
            return None
        if capability is None:
            capability = torch.cuda.get_device_capability(device)
        return torch.bfloat16 if tuple(capability) >= BF16_CAPABILITY else None
    if p == "bf16":
        return torch.bfloat16
    if p == "fp32":
        return None
    raise ConfigError(f"--precision {precision!r} is not known; use auto, bf16 or fp32")


def autocast(device: torch.device, amp: torch.dtype | None):
    """torch.autocast for `amp` on `device`, disabled when amp is None."""
    return torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None)


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on `device` (this very GPU, not cuda:0); nothing on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def backend_settings(device: torch.device, amp: torch.dtype | None,
                     capability: tuple[int, int] | None = None) -> dict[str, object]:
    """CUDA backend settings: cuDNN autotuning (`cudnn_benchmark`), worth it because every
    training batch has the same shape and prediction batches are padded to one; with fp32 (no
    autocast) on GPUs that have TF32 (compute capability 8.0+), TF32 matmuls (`matmul_precision`
    "high"; convolutions use TF32 by default). Nothing on CPU."""
    if device.type != "cuda":
        return {}
    if capability is None:
        capability = torch.cuda.get_device_capability(device)
    out: dict[str, object] = {"cudnn_benchmark": True}
    if amp is None and tuple(capability) >= (8, 0):
        out["matmul_precision"] = "high"
    return out


@contextlib.contextmanager
def backend_flags(settings: dict[str, object]):
    """Apply `backend_settings` for the duration of a block and restore the previous values."""
    old = (torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision())
    try:
        if "cudnn_benchmark" in settings:
            torch.backends.cudnn.benchmark = bool(settings["cudnn_benchmark"])
        if "matmul_precision" in settings:
            torch.set_float32_matmul_precision(str(settings["matmul_precision"]))
        yield
    finally:
        torch.backends.cudnn.benchmark = old[0]
        torch.set_float32_matmul_precision(old[1])


def is_out_of_memory(e: BaseException) -> bool:
    """Any failed allocation: torch's OutOfMemoryError, MemoryError, and the RuntimeErrors torch
    raises for a failed CUDA, pinned or CPU allocation and for cuBLAS/cuDNN allocation failures
    (see OOM_MESSAGES)."""
    if isinstance(e, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and any(m in msg for m in OOM_MESSAGES)


def memory_failure(e: BaseException, where: str, device: torch.device, *,
                   batch_size: int | None = None, image: bool = True,
                   model_option: str = "--model") -> RuntimeFailure:
    """The one-line exit-3 error for out-of-memory `e` while doing `where`, naming only the
    options that reduce the memory that ran out (`model_option`: the option naming the network,
    --backbone while embedding)."""
    on_gpu = device.type == "cuda" and (isinstance(e, torch.cuda.OutOfMemoryError)
                                        or any(m in str(e).lower() for m in GPU_MESSAGES))
    fixes = [f"--batch-size {max(1, batch_size // 2)}"] if batch_size and batch_size > 1 else []
    fixes.append(f"a smaller --image-size or {model_option}" if image else f"a smaller {model_option}")
    fixes.append("--device cpu" if on_gpu else "freeing host memory (other programs)")
    return RuntimeFailure(f"out of {'GPU' if on_gpu else 'host'} memory while {where}; try "
                          f"{', '.join(fixes[:-1])} or {fixes[-1]}")


def halving_batches(run: Callable[[int], T], batch: int, device: torch.device) -> tuple[T, int]:
    """run(batch), retried with half the batch while it runs out of memory; returns (result,
    the batch that worked). Out of memory at batch 1 is raised as it came."""
    while True:
        try:
            return run(batch), batch
        except Exception as e:  # noqa: BLE001 - only out-of-memory is retried
            if not is_out_of_memory(e) or batch <= 1:
                raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        batch = max(1, batch // 2)


@contextlib.contextmanager
def oom_as_failure(where: str, device: torch.device, *, batch_size: int | None = None,
                   image: bool = True, model_option: str = "--model"):
    """Out of memory inside the block becomes `memory_failure` (exit 3 with advice); other
    errors pass through."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 - only out-of-memory is translated
        if not is_out_of_memory(e):
            raise
        raise memory_failure(e, where, device, batch_size=batch_size, image=image,
                             model_option=model_option) from None
