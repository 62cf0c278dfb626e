"""Dense attention: an eager plain-PyTorch reference (also the CPU path and the test oracle) and the
`torch.nn.functional.scaled_dot_product_attention` fast path, behind one `attention(...)` entry point.

Shapes: q (B, H, T, D); k, v (B, Hkv, S, D) with H a multiple of Hkv (grouped-query attention: each
key/value head serves H // Hkv consecutive query heads, as in HF `repeat_kv`).
mask: bool (B or 1, 1, T, S), True = may attend; or None = plain causal attention, which needs S == T.
Returns (B, H, T, D).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def _check(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> None:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(
            f"attention: q, k, v must be 4-d, got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if k.shape != v.shape:
        raise ValueError(f"attention: k {tuple(k.shape)} and v {tuple(v.shape)} differ")
    if q.shape[0] != k.shape[0] or q.shape[-1] != k.shape[-1] or q.shape[1] % k.shape[1] != 0:
        raise ValueError(f"attention: q {tuple(q.shape)} does not fit k/v {tuple(k.shape)}")
    if mask is None and q.shape[2] != k.shape[2]:
        raise ValueError(f"attention: mask=None means causal over S == T, got T={q.shape[2]}, S={k.shape[2]}")
    if mask is not None and mask.dtype != torch.bool:
        raise ValueError(f"attention: mask must be bool (True = may attend), got {mask.dtype}")


def repeat_kv(x: Tensor, n_rep: int) -> Tensor:
    """(B, Hkv, S, D) -> (B, Hkv * n_rep, S, D); head h of the result is kv head h // n_rep."""
    if n_rep == 1:
        return x
    b, hkv, s, d = x.shape
    x = x[:, :, None, :, :].expand(b, hkv, n_rep, s, d)  # (B, Hkv, n_rep, S, D), a view
    return x.reshape(b, hkv * n_rep, s, d)  # (B, H, S, D)


def eager_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, *, scale: float | None = None
) -> Tensor:
    """Reference: softmax(q k^T * scale + mask) v, softmax in float32 like HF's eager path."""
    _check(q, k, v, mask)
    n_rep = q.shape[1] // k.shape[1]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    k = repeat_kv(k, n_rep)  # (B, H, S, D)
    v = repeat_kv(v, n_rep)  # (B, H, S, D)
    scores = torch.einsum("bhtd,bhsd->bhts", q, k) * scale  # (B, H, T, S)
    if mask is None:
        t, s = q.shape[2], k.shape[2]
        mask = torch.ones(t, s, dtype=torch.bool, device=q.device).tril()  # (T, S)
    scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)  # (B, H, T, S)
    return torch.einsum("bhts,bhsd->bhtd", probs, v)  # (B, H, T, D)


def sdpa_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, *, scale: float | None = None
) -> Tensor:
    """Fast path: PyTorch SDPA (flash / memory-efficient / math kernel chosen by PyTorch)."""
    _check(q, k, v, mask)
    gqa = q.shape[1] != k.shape[1]
    if mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale, enable_gqa=gqa)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=gqa)


# Implementation table; later kernels register here under their own name.
ATTENTION_IMPLS: dict[str, Callable[..., Tensor]] = {
    "sdpa": sdpa_attention,
    "eager": eager_attention,
}


def attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, *, scale: float | None = None, impl: str = "sdpa"
) -> Tensor:
    """Dispatch to `ATTENTION_IMPLS[impl]`; see the module docstring for shapes."""
    try:
        fn = ATTENTION_IMPLS[impl]
    except KeyError:
        raise ValueError(f"unknown attention impl {impl!r}; known: {', '.join(ATTENTION_IMPLS)}") from None
    return fn(q, k, v, mask, scale=scale)
