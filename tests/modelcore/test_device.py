"""modelcore.device: PLUMBLINE_DEVICE / PLUMBLINE_DTYPE and --device / --dtype, one reading for every entry point."""
from __future__ import annotations

import pytest
import torch

from modelcore.device import resolve, resolve_device, resolve_dtype

HAS_CUDA = torch.cuda.is_available()


def test_auto_is_the_gpu_when_there_is_one_else_the_cpu():
    device, dtype = resolve("auto", "auto")
    if HAS_CUDA:
        assert device == torch.device("cuda", 0) and dtype in (torch.bfloat16, torch.float16)
    else:
        assert device == torch.device("cpu") and dtype == torch.float32  # bf16 matmuls are slow on this CPU


@pytest.mark.parametrize("spec, dtype", [
    ("float32", torch.float32), ("fp32", torch.float32), ("bf16", torch.bfloat16), (" BFloat16 ", torch.bfloat16),
    ("fp16", torch.float16), ("half", torch.float16),
])
def test_dtype_names(spec, dtype):
    assert resolve_dtype(spec, "cpu") == dtype


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cuda:-1", "cuda:0:1", "mps", "", "cpu0", "cuda 0"])
def test_unknown_devices_are_refused_by_name(spec):
    with pytest.raises(ValueError, match="expected one of auto | cpu | cuda | cuda:N"):
        resolve_device(spec)


@pytest.mark.parametrize("spec", ["int8", "float64", "", "auto16", None])
def test_unknown_dtypes_are_refused_by_name(spec):
    with pytest.raises(ValueError, match=r"dtype .*expected one of auto, float32"):
        resolve_dtype(spec, "cpu")


def test_a_gpu_this_host_lacks_is_refused():
    if HAS_CUDA:
        with pytest.raises(ValueError, match="CUDA device"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    else:
        for spec in ("cuda", "cuda:0", "CUDA:1"):
            with pytest.raises(ValueError, match="CUDA is not available on this host"):
                resolve_device(spec)


def test_cpu_is_always_there():
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve("cpu", "bfloat16") == (torch.device("cpu"), torch.bfloat16)
