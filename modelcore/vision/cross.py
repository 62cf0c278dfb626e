"""Dual-stream cross-attention: text attends to image tokens and image tokens attend to text.

Notation: B batch, T text tokens, N image tokens, Ct text width, Ci image width, A attn_dim (common q/k/v
width of both directions), H heads, D = A / H.

One `DualCrossBlock` holds two `CrossAttention`s, both computed from the block's *input* streams:

    text'  = text  + tanh(gate_t) * o_t(softmax_N(q_t(ln(text)) k_i(ln(image))^T / sqrt(D)) v_i(ln(image)))
    image' = image + tanh(gate_i) * o_i(softmax_T(q_i(ln(image)) k_t(ln(text))^T / sqrt(D)) v_t(ln(text)))

Gates start at 0: tanh(0) = 0, so a freshly added block returns its inputs bit for bit, and the gates still
get gradient (d tanh(g)/dg = 1 at 0), which is how training opens them.

Masks:
- image_mask (B, N) bool, True = a real image token. A row with no True (a batch item without an image)
  gets exactly zero text->image contribution: its softmax runs over all keys (finite, never a NaN from an
  all -inf row) and the result is replaced by 0 with `torch.where` before the gate. Image tokens that are
  masked out get no image->text update either.
- text_key_mask (B, T) bool, True = image tokens may read this text token (None = every text token). Keys
  where it is False get weight exactly 0 in image->text; a row with no True gets zero update.

Causality and generation (the choice made here): image->text is *prefix-LM* attention. The image stream
reads the text tokens that `text_key_mask` marks as the prompt, all of them, at once (bidirectionally over
the prompt). Generation runs the prompt through once (prefill), which computes every block's image stream;
later decode steps reuse those streams unchanged (see `modelcore.vision.model.ImageState`) and generated
tokens never feed back into the image stream. A full forward over prompt + generated tokens with
`text_key_mask` True on the prompt positions only computes the same numbers, which the tests check.
Consequence for training: a text position inside the prompt can see (through the image stream) prompt tokens
after it, so a next-token loss is sound only on positions from the last prompt token on (predicting what
follows the prompt). Text->image attention adds no such leak (image tokens are not part of the text
sequence). The per-position alternative (text position t sees an image stream that read text <= t) was
not built: it needs a (B, T, N, Ci) image stream per block.

Two implementations with one signature (`CROSS_IMPLS`): `eager_cross_attention` (explicit einsum and
softmax in float32: the CPU reference and test oracle) and `sdpa_cross_attention`
(`F.scaled_dot_product_attention`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import CrossModalConfig


def _safe_key_mask(key_mask: Tensor) -> tuple[Tensor, Tensor]:
    """key_mask (B, S) bool -> (mask (B, 1, 1, S) with empty rows opened to all keys, has_key (B,))."""
    has_key = key_mask.any(dim=-1)  # (B,)
    safe = key_mask | ~has_key[:, None]  # (B, S): no all-False row, so no all -inf softmax row
    return safe[:, None, None, :], has_key


def _check(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None) -> None:
    if (
        q.dim() != 4
        or k.shape != v.shape
        or k.dim() != 4
        or q.shape[:2] != k.shape[:2]
        or q.shape[3] != k.shape[3]
    ):
        raise ValueError(
            f"cross attention: q (B, H, T, D) and k, v (B, H, S, D) expected, got {tuple(q.shape)}, "
            f"{tuple(k.shape)}, {tuple(v.shape)}"
        )
    if key_mask is not None and (key_mask.dtype != torch.bool or key_mask.shape != (k.shape[0], k.shape[2])):
        raise ValueError(
            f"cross attention: key_mask must be bool (B, S) = {(k.shape[0], k.shape[2])}, "
            f"got {key_mask.dtype} {tuple(key_mask.shape)}"
        )


def eager_cross_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None) -> Tensor:
    """Reference. q (B, H, T, D), k/v (B, H, S, D), key_mask (B, S) bool or None -> (B, H, T, D).

    softmax over S in float32 of q k^T / sqrt(D) with masked keys at -inf, times v; rows whose key_mask is
    all False return 0."""
    _check(q, k, v, key_mask)
    scores = torch.einsum("bhtd,bhsd->bhts", q, k) * (1.0 / math.sqrt(q.shape[-1]))  # (B, H, T, S)
    has_key = None
    if key_mask is not None:
        mask, has_key = _safe_key_mask(key_mask)
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)  # (B, H, T, S)
    out = torch.einsum("bhts,bhsd->bhtd", probs, v)  # (B, H, T, D)
    if has_key is not None:
        out = torch.where(
            has_key[:, None, None, None], out, torch.zeros((), dtype=out.dtype, device=out.device)
        )
    return out


def sdpa_cross_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None) -> Tensor:
    """Fast path, same contract as `eager_cross_attention`, through `F.scaled_dot_product_attention`."""
    _check(q, k, v, key_mask)
    if key_mask is None:
        return F.scaled_dot_product_attention(q, k, v)
    mask, has_key = _safe_key_mask(key_mask)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, T, D)
    return torch.where(has_key[:, None, None, None], out, torch.zeros((), dtype=out.dtype, device=out.device))


CROSS_IMPLS: dict[str, Callable[[Tensor, Tensor, Tensor, Tensor | None], Tensor]] = {
    "sdpa": sdpa_cross_attention,
    "eager": eager_cross_attention,
}


class CrossAttention(nn.Module):
    """One direction: queries from a stream of width `q_dim`, keys/values from a context of width `kv_dim`,
    both pre-normed (LayerNorm) and projected to `attn_dim`; output projected back to `q_dim` and added to the
    query stream's residual through tanh(gate), gate initialised to 0."""

    def __init__(self, q_dim: int, kv_dim: int, config: CrossModalConfig, impl: str = "sdpa") -> None:
        super().__init__()
        if impl not in CROSS_IMPLS:
            raise ValueError(f"unknown cross attention impl {impl!r}; known: {', '.join(CROSS_IMPLS)}")
        self.impl = impl
        self.n_heads = config.num_heads
        self.head_dim = config.head_dim
        self.norm_q = nn.LayerNorm(q_dim, eps=config.layer_norm_eps)
        self.norm_kv = nn.LayerNorm(kv_dim, eps=config.layer_norm_eps)
        self.q_proj = nn.Linear(q_dim, config.attn_dim, bias=False)
        self.k_proj = nn.Linear(kv_dim, config.attn_dim, bias=False)
        self.v_proj = nn.Linear(kv_dim, config.attn_dim, bias=False)
        self.o_proj = nn.Linear(config.attn_dim, q_dim, bias=False)
        self.gate = nn.Parameter(torch.zeros(1 if config.gate == "scalar" else q_dim))

    def _heads(self, x: Tensor) -> Tensor:
        b, s, _ = x.shape
        return x.view(b, s, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, S, D)

    def attend(self, x: Tensor, ctx: Tensor, key_mask: Tensor | None, query_mask: Tensor | None) -> Tensor:
        """Ungated contribution. x (B, T, q_dim), ctx (B, S, kv_dim), key_mask (B, S) bool | None,
        query_mask (B, T) bool | None (False -> zero) -> (B, T, q_dim)."""
        b, t, _ = x.shape
        c = self.norm_kv(ctx)  # (B, S, kv_dim)
        q = self._heads(self.q_proj(self.norm_q(x)))  # (B, H, T, D)
        k, v = self._heads(self.k_proj(c)), self._heads(self.v_proj(c))  # (B, H, S, D)
        y = CROSS_IMPLS[self.impl](q, k, v, key_mask)  # (B, H, T, D)
        y = self.o_proj(y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))  # (B, T, q_dim)
        if query_mask is not None:
            y = torch.where(query_mask[:, :, None], y, torch.zeros((), dtype=y.dtype, device=y.device))
        return y

    def forward(
        self, x: Tensor, ctx: Tensor, key_mask: Tensor | None = None, query_mask: Tensor | None = None
    ) -> Tensor:
        """x + tanh(gate) * attend(...): (B, T, q_dim)."""
        return x + torch.tanh(self.gate) * self.attend(x, ctx, key_mask, query_mask)


class DualCrossBlock(nn.Module):
    """text (B, T, Ct), image (B, N, Ci) -> (text', image'), both directions from the input streams.

    `image_update=False` builds the text->image direction only (image' = image): for the last block of a
    model, whose image stream nothing reads, so no parameter sits there without gradient."""

    def __init__(
        self,
        text_dim: int,
        image_dim: int,
        config: CrossModalConfig,
        impl: str = "sdpa",
        *,
        image_update: bool = True,
    ) -> None:
        super().__init__()
        self.text_from_image = CrossAttention(text_dim, image_dim, config, impl)
        self.image_from_text = CrossAttention(image_dim, text_dim, config, impl) if image_update else None

    def set_impl(self, impl: str) -> None:
        if impl not in CROSS_IMPLS:
            raise ValueError(f"unknown cross attention impl {impl!r}; known: {', '.join(CROSS_IMPLS)}")
        self.text_from_image.impl = impl
        if self.image_from_text is not None:
            self.image_from_text.impl = impl

    def text_step(self, text: Tensor, image: Tensor, image_mask: Tensor) -> Tensor:
        """Text reads the image: text (B, T, Ct), image (B, N, Ci), image_mask (B, N) bool -> (B, T, Ct).
        Rows whose image_mask is all False come back unchanged."""
        return self.text_from_image(text, image, image_mask)

    def image_step(
        self, image: Tensor, text: Tensor, image_mask: Tensor, text_key_mask: Tensor | None
    ) -> Tensor:
        """Image reads the text: -> (B, N, Ci). Masked-out image tokens and rows come back unchanged (and
        all of it without the image->text direction)."""
        if self.image_from_text is None:
            return image
        return self.image_from_text(image, text, text_key_mask, image_mask)

    def forward(
        self, text: Tensor, image: Tensor, image_mask: Tensor, text_key_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        return self.text_step(text, image, image_mask), self.image_step(
            image, text, image_mask, text_key_mask
        )


def normalize_image_mask(
    image_mask: Tensor | None, batch: int, num_tokens: int, device: torch.device
) -> Tensor:
    """None (every row has an image), (B,) bool (row has an image) or (B, N) bool (real image tokens)
    -> (B, N) bool."""
    if image_mask is None:
        return torch.ones(batch, num_tokens, dtype=torch.bool, device=device)
    if image_mask.dtype != torch.bool:
        raise ValueError(f"image_mask must be bool, got {image_mask.dtype}")
    if image_mask.shape == (batch,):
        return image_mask.to(device)[:, None].expand(batch, num_tokens)
    if image_mask.shape == (batch, num_tokens):
        return image_mask.to(device)
    raise ValueError(
        f"image_mask must be ({batch},) or ({batch}, {num_tokens}), got {tuple(image_mask.shape)}"
    )
