"""The one compiled FlexAttention shared by every attention kind that uses it (decay, sparse) on CUDA."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor


@functools.cache
def compiled_flex_attention() -> Callable[..., Tensor]:
    """`torch.compile(flex_attention)`, made on first use (never at import) and shared by every layer and kind,
    so dynamo compiles once per shape family instead of once per layer."""
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)
