"""ViT-style image encoder: patch embedding -> learned position embeddings -> pre-norm bidirectional
transformer blocks -> final LayerNorm.

Notation: B batch, C channels, H = W = image_size, P patch_size, N = (H / P)^2 patches, E hidden_size,
Hh heads, D head_dim = E / Hh.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..attention import ATTENTION_IMPLS, attention
from .config import VisionConfig


class PatchEmbedding(nn.Module):
    """(B, C, H, W) -> (B, N, E): non-overlapping P x P patches, each flattened and projected by one linear
    map (a Conv2d with kernel = stride = P), patches in row-major order."""

    def __init__(self, config: VisionConfig) -> None:
        super().__init__()
        self.config = config
        self.proj = nn.Conv2d(
            config.channels, config.hidden_size, config.patch_size, stride=config.patch_size
        )

    def forward(self, images: Tensor) -> Tensor:
        c, s = self.config.channels, self.config.image_size
        if images.dim() != 4 or tuple(images.shape[1:]) != (c, s, s):
            raise ValueError(f"images must be (B, {c}, {s}, {s}), got {tuple(images.shape)}")
        x = self.proj(images)  # (B, E, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, E)


class VisionAttention(nn.Module):
    """Multi-head self-attention over the patches, every patch sees every patch (no causal mask)."""

    def __init__(self, config: VisionConfig, attn_impl: str = "sdpa") -> None:
        super().__init__()
        self.n_heads = config.num_heads
        self.head_dim = config.head_dim
        self.attn_impl = attn_impl
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        b, n, e = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.n_heads, self.head_dim)  # (B, N, 3, Hh, D)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, Hh, N, D)
        full = torch.ones(1, 1, n, n, dtype=torch.bool, device=x.device)  # (1, 1, N, N): bidirectional
        y = attention(q, k, v, full, impl=self.attn_impl)  # (B, Hh, N, D)
        return self.out(y.transpose(1, 2).reshape(b, n, e))  # (B, N, E)


class VisionBlock(nn.Module):
    """Pre-norm block: x + attn(ln(x)), then h + mlp(ln(h)) with a GELU MLP."""

    def __init__(self, config: VisionConfig, attn_impl: str = "sdpa") -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attn = VisionAttention(config, attn_impl)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.fc1 = nn.Linear(config.hidden_size, config.mlp_hidden)
        self.fc2 = nn.Linear(config.mlp_hidden, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = x + self.dropout(self.attn(self.norm1(x)))  # (B, N, E)
        return h + self.dropout(self.fc2(F.gelu(self.fc1(self.norm2(h)))))


class VisionEncoder(nn.Module):
    """(B, C, H, W) float images -> (B, N, E) patch features."""

    def __init__(self, config: VisionConfig, *, attn_impl: str = "sdpa") -> None:
        super().__init__()
        if attn_impl not in ATTENTION_IMPLS:
            raise ValueError(f"unknown attn_impl {attn_impl!r}; known: {', '.join(ATTENTION_IMPLS)}")
        self.config = config
        self.patch_embed = PatchEmbedding(config)
        self.pos_embed = nn.Parameter(torch.zeros(1, config.num_patches, config.hidden_size))
        self.blocks = nn.ModuleList(VisionBlock(config, attn_impl) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self, *, std: float = 0.02, generator: torch.Generator | None = None) -> None:
        """Linear / conv weights and position embeddings ~ N(0, std), biases 0, LayerNorms 1 / 0."""
        nn.init.normal_(self.pos_embed, std=std, generator=generator)
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Conv2d):
                nn.init.normal_(module.weight, std=std, generator=generator)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()

    def set_attn_impl(self, impl: str) -> None:
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"unknown attn_impl {impl!r}; known: {', '.join(ATTENTION_IMPLS)}")
        for block in self.blocks:
            block.attn.attn_impl = impl

    def forward(self, images: Tensor) -> Tensor:
        x = self.patch_embed(images) + self.pos_embed  # (B, N, E)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)  # (B, N, E)
