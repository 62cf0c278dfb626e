"""Where the model runs and in what precision: one reading of `PLUMBLINE_DEVICE` / `PLUMBLINE_DTYPE` and of the
command line's `--device` / `--dtype`, shared by the gpu worker, adapter evaluation, training and the CLI.

    resolve_device("auto")            -> cuda:0 when CUDA is available, else cpu
    resolve_device("cuda:1")          -> cuda:1 (ValueError when there is no such device)
    resolve_dtype("auto", device)     -> bfloat16 on CUDA (float16 where the GPU lacks bf16), float32 on CPU
    resolve_dtype("bf16", device)     -> bfloat16 (names: float32/fp32, bfloat16/bf16, float16/fp16/half)

On this project's CPU hosts "auto" keeps float32: bfloat16 matmuls are much slower there than float32 ones (the
quantized kernels choose their own activation dtype, modelcore.quant). Every spec is checked against an allow-list
and refused with a ValueError naming it, so a typo in the environment fails at start, not on the first request.
"""

from __future__ import annotations

import re

import torch

DEVICE_SPECS = "auto | cpu | cuda | cuda:N"
DTYPE_NAMES: dict[str, torch.dtype] = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}
DTYPE_CHOICES = ("auto", *DTYPE_NAMES)
_CUDA_RE = re.compile(r"cuda(?::(\d{1,3}))?")


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device a spec names (see the module docstring); ValueError for anything else or a missing GPU."""
    if not isinstance(spec, str):
        raise ValueError(f"device {spec!r}: expected one of {DEVICE_SPECS}")
    text = spec.strip().lower()
    if text == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    if text == "cpu":
        return torch.device("cpu")
    match = _CUDA_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"device {spec!r}: expected one of {DEVICE_SPECS}")
    if not torch.cuda.is_available():
        raise ValueError(f"device {spec!r}: CUDA is not available on this host (use cpu or auto)")
    index = int(match.group(1) or 0)
    count = torch.cuda.device_count()
    if index >= count:
        raise ValueError(f"device {spec!r}: this host has {count} CUDA device(s) (cuda:0 .. cuda:{count - 1})")
    return torch.device("cuda", index)


def resolve_dtype(spec: str, device: torch.device | str) -> torch.dtype:
    """The floating dtype a spec names for `device` (see the module docstring); ValueError for anything else."""
    device = torch.device(device)
    text = spec.strip().lower() if isinstance(spec, str) else None
    if text == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if text not in DTYPE_NAMES:
        raise ValueError(f"dtype {spec!r}: expected one of {', '.join(DTYPE_CHOICES)}")
    return DTYPE_NAMES[text]


def resolve(device: str = "auto", dtype: str = "auto") -> tuple[torch.device, torch.dtype]:
    """(device, dtype) from the two specs."""
    resolved = resolve_device(device)
    return resolved, resolve_dtype(dtype, resolved)


def add_device_arguments(parser) -> None:
    """The command line's --device and --dtype (argparse), read back by `device_arguments`."""
    parser.add_argument("--device", default="auto", help=f"{DEVICE_SPECS} (default auto: a GPU if there is one)")
    parser.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES,
                        help="weights and activations (default auto: bfloat16 on CUDA, float32 on a CPU)")


def device_arguments(args, parser) -> tuple[torch.device, torch.dtype]:
    """(device, dtype) of parsed --device / --dtype; a bad value exits with status 2 naming the flag."""
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(f"--device: {exc}")
    return device, resolve_dtype(args.dtype, device)
