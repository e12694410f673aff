"""The device runtime shared by training, embedding and prediction (`train.runtime`): precision
per GPU generation, out-of-memory in every form (CUDA, host, cuBLAS/cuDNN) with its advice,
batch halving, synchronisation of the right GPU. Runs on CPU: GPU facts are passed in or faked."""
from __future__ import annotations

import pytest
import torch

from cleanlab_lite.errors import RuntimeFailure
from cleanlab_lite.train import runtime
from tests.expect import assert_fragments


def test_out_of_memory_is_recognised_in_every_form():
    assert runtime.is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert runtime.is_out_of_memory(MemoryError())
    assert runtime.is_out_of_memory(RuntimeError("CUDA error: out of memory"))      # a failed pin
    assert runtime.is_out_of_memory(RuntimeError(
        "[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
        "you tried to allocate 8000000000 bytes. Error code 12 (Cannot allocate memory)"))
    assert not runtime.is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not runtime.is_out_of_memory(ValueError("out of memory"))


def test_memory_advice_names_only_what_helps():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    gpu_train = runtime.memory_failure(torch.cuda.OutOfMemoryError("CUDA out of memory"), "training fold 1/5",
                                    cuda, batch_size=256)
    assert_fragments(str(gpu_train), "out of GPU memory while training fold 1/5; try --batch-size "
                     "128, a smaller --image-size or --model or --device cpu")
    gpu_pred = runtime.memory_failure(torch.cuda.OutOfMemoryError("CUDA out of memory"),
                                   "predicting fold 1/5 one row at a time", cuda)
    assert "--batch-size" not in str(gpu_pred)          # prediction no longer follows it there
    host = runtime.memory_failure(MemoryError(), "placing 9.00 GB of data", cpu, image=False)
    assert_fragments(str(host), "out of host memory; try a smaller --model or freeing host memory "
                     "(other programs)")
    assert "--image-size" not in str(host) and "--device" not in str(host)   # a table: neither helps



def test_backend_settings_for_fixed_shapes_and_tf32():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert runtime.backend_settings(cpu, None) == {}
    assert runtime.backend_settings(cuda, torch.bfloat16, (9, 0)) == {"cudnn_benchmark": True}
    assert runtime.backend_settings(cuda, None, (8, 0)) == {"cudnn_benchmark": True, "matmul_precision": "high"}
    assert runtime.backend_settings(cuda, None, (7, 5)) == {"cudnn_benchmark": True}    # no TF32 before Ampere
    before = (torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision())
    with runtime.backend_flags({"cudnn_benchmark": True, "matmul_precision": "high"}):
        assert torch.backends.cudnn.benchmark and torch.get_float32_matmul_precision() == "high"
    assert (torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision()) == before


@pytest.mark.parametrize("capability,expected", [((7, 0), None), ((7, 5), None),
                                                 ((8, 0), torch.bfloat16), ((9, 0), torch.bfloat16)])
def test_precision_auto_is_bf16_only_on_gpus_with_native_bf16(capability, expected):
    cuda = torch.device("cuda")
    assert runtime.autocast_dtype(cuda, "auto", capability) is expected     # V100, T4: fp32
    assert runtime.autocast_dtype(cuda, "bf16", capability) is torch.bfloat16   # asked for: kept
    assert runtime.autocast_dtype(torch.device("cpu"), "auto") is None


@pytest.mark.parametrize("message", [
    "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
    "cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
])
def test_cublas_and_cudnn_allocation_failures_are_out_of_gpu_memory(message):
    e = RuntimeError(message)
    assert runtime.is_out_of_memory(e)
    err = runtime.memory_failure(e, "training fold 1/5", torch.device("cuda"), batch_size=64)
    assert str(err).startswith("out of GPU memory while training fold 1/5")
    assert "--batch-size 32" in str(err) and "--device cpu" in str(err)


def test_synchronize_waits_for_the_run_s_own_gpu(monkeypatch):
    seen = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: seen.append(device))
    runtime.synchronize(torch.device("cuda:1"))
    runtime.synchronize(torch.device("cpu"))
    assert seen == [torch.device("cuda:1")]


def test_halving_batches_retries_out_of_memory_down_to_one_row():
    tried = []

    def run(bs):
        tried.append(bs)
        if bs > 3:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1 GiB")
        return bs * 10

    assert runtime.halving_batches(run, 16, torch.device("cpu")) == (20, 2)
    assert tried == [16, 8, 4, 2]

    def never(bs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(RuntimeFailure, match="out of GPU memory while embedding"):
        with runtime.oom_as_failure("embedding 10 images", torch.device("cuda")):
            runtime.halving_batches(never, 4, torch.device("cpu"))
    with pytest.raises(ValueError):                 # other errors are not retried or translated
        with runtime.oom_as_failure("embedding", torch.device("cuda")):
            runtime.halving_batches(lambda bs: int("x"), 4, torch.device("cpu"))
