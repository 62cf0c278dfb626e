"""Rotary position embeddings (RoPE), Hugging Face LLaMA convention ("rotate half").

Tables are computed per call from the absolute positions of the tokens (B, T): no state, nothing persisted,
and the same numbers as transformers' `LlamaRotaryEmbedding` (float32 inverse frequencies and angles, then a
cast to the activation dtype).

Scaling:
- "linear": inverse frequencies divided by `factor` (== positions divided by `factor`).
- "dynamic" (NTK-aware): once a sequence is longer than `max_position_embeddings`, the base is raised to
  `theta * (factor * L / max_pos - (factor - 1)) ** (dim / (dim - 2))` with L the sequence length
  (max position + 1). transformers uses the batch-wide maximum position and keeps the last grown table
  between calls; here L is taken per row and nothing is kept, so each row gets the table it would get if it
  ran alone through a fresh transformers model.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import ModelConfig


def _inv_freq_from_base(base: float | Tensor, dim: int, device: torch.device) -> Tensor:
    # exponents 0, 2/dim, 4/dim, ...: (dim/2,) float32
    exponents = torch.arange(0, dim, 2, dtype=torch.int64, device=device).to(torch.float32) / dim
    if isinstance(base, Tensor):
        return 1.0 / (base[:, None] ** exponents[None, :])  # (B, dim/2)
    return 1.0 / (base**exponents)  # (dim/2,)


def inv_freq(config: ModelConfig, positions: Tensor) -> Tensor:
    """Inverse frequencies in float32: (dim/2,) for default/linear RoPE, (B, dim/2) for dynamic scaling."""
    dim, device = config.head_dim, positions.device
    scaling = config.rope_scaling
    if scaling is None:
        return _inv_freq_from_base(config.rope_theta, dim, device)
    if scaling.rope_type == "linear":
        return _inv_freq_from_base(config.rope_theta, dim, device) / scaling.factor
    if scaling.rope_type == "dynamic":
        max_pos = config.max_position_embeddings
        seq_len = positions.amax(dim=-1) + 1  # (B,) length each row has reached
        seq_len = seq_len.clamp(min=max_pos)  # no change within the trained context
        base = config.rope_theta * ((scaling.factor * seq_len / max_pos) - (scaling.factor - 1)) ** (
            dim / (dim - 2)
        )  # (B,) float32
        return _inv_freq_from_base(base, dim, device)
    raise ValueError(f"unsupported rope_type {scaling.rope_type!r}")


def rope_cos_sin(config: ModelConfig, positions: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """cos, sin tables (B, T, head_dim) in `dtype` for absolute `positions` (B, T)."""
    freqs_base = inv_freq(config, positions)
    if freqs_base.dim() == 1:
        freqs_base = freqs_base[None, None, :]  # (1, 1, dim/2)
    else:
        freqs_base = freqs_base[:, None, :]  # (B, 1, dim/2)
    freqs = positions[..., None].to(torch.float32) * freqs_base  # (B, T, dim/2)
    emb = torch.cat((freqs, freqs), dim=-1)  # (B, T, dim): the two halves share frequencies
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: Tensor) -> Tensor:
    """(x1, x2) -> (-x2, x1) over the two halves of the last dim."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
    """q (B, H, T, D), k (B, Hkv, T, D), cos/sin (B, T, D) -> rotated q, k (same shapes)."""
    cos = cos.unsqueeze(1)  # (B, 1, T, D): broadcast over heads
    sin = sin.unsqueeze(1)
    q_out = q * cos + rotate_half(q) * sin
    k_out = k * cos + rotate_half(k) * sin
    return q_out, k_out
