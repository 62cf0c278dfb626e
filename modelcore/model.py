"""LLaMA-architecture decoder (DeepSeek-LLM dense, SmolLM2): norm -> rope -> attention -> mlp -> block -> model.

Module names mirror Hugging Face `LlamaForCausalLM` so HF state dicts load with `strict=True` and PEFT finds
the same target modules. Notation: B batch, T new tokens, S attended tokens, H query heads, Hkv key/value
heads, D head_dim, C hidden_size, V vocab.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import ATTENTION_IMPLS, attention
from .attention.context import AttentionContext
from .attention.kinds import build_kernel
from .config import ModelConfig
from .kv_cache import KVCache
from .rope import apply_rope, rope_cos_sin

# Rows of input up to which `linear` splits the weight into per-thread blocks (measured on a 2-core CPU,
# SmolLM2-135M shapes: a win through 32 rows, a loss from 64, where MKL's own GEMM threading takes over).
SPLIT_LINEAR_MAX_ROWS = 32


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """`F.linear(x, weight, bias)`, faster for the few rows of a decode step on a multi-threaded CPU.

    Why: for a handful of rows MKL runs the matrix-vector product (`x @ W^T`, the whole of decode's cost:
    every weight byte is read once per step) on one thread, reaching about half the memory bandwidth of the
    machine (measured: lm_head 49152x576, one row: 9.9 ms with 1 or 2 threads). Cutting W into one block of
    output features per thread and running them as one `bmm` gets every thread streaming its own block
    (5.2 ms). Same products and sums; only the kernel and its summation order change. Used only without
    autograd, on CPU, for up to SPLIT_LINEAR_MAX_ROWS rows and when the blocks divide the output features
    evenly; everything else is plain `F.linear`.
    """
    n = torch.get_num_threads()
    out_features, in_features = weight.shape
    rows = x.numel() // in_features if in_features else 0
    if (
        n < 2
        or not 0 < rows <= SPLIT_LINEAR_MAX_ROWS
        or out_features % n != 0
        or x.device.type != "cpu"
        or torch.is_grad_enabled()
        or not weight.is_contiguous()
    ):
        return F.linear(x, weight, bias)
    x2 = x.reshape(rows, in_features)  # (N, I)
    blocks = weight.view(n, out_features // n, in_features)  # (n, O/n, I): one block per thread
    y = torch.bmm(blocks, x2.t().expand(n, in_features, rows))  # (n, O/n, N)
    y = y.view(out_features, rows).t()  # (N, O); a view, transposed strides unless N == 1
    if rows > 1:
        y = y.contiguous()  # callers .view() the result
    if bias is not None:
        y = y + bias
    return y.reshape(*x.shape[:-1], out_features)  # (..., O)


def apply_linear(module: nn.Module, x: Tensor) -> Tensor:
    """`module(x)`, through `linear` when `module` is exactly an `nn.Linear` with no hooks; subclasses (LoRA
    layers) and wrappers (PEFT) keep their own forward."""
    if type(module) is nn.Linear and not (module._forward_hooks or module._forward_pre_hooks):
        return linear(x, module.weight, module.bias)
    return module(x)


def check_inputs(input_ids: Tensor, positions: Tensor | None, times: Tensor | None) -> Tensor:
    """Validate a forward's inputs; returns positions (B, T), by default 0 .. T-1 in every row."""
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be (B, T), got {tuple(input_ids.shape)}")
    b, t = input_ids.shape
    if positions is None:
        positions = torch.arange(t, device=input_ids.device)[None, :].expand(b, t)  # (B, T)
    elif positions.shape != input_ids.shape:
        raise ValueError(f"positions {tuple(positions.shape)} must match input_ids {tuple(input_ids.shape)}")
    if times is not None and times.shape != input_ids.shape:
        raise ValueError(f"times {tuple(times.shape)} must match input_ids {tuple(input_ids.shape)}")
    return positions


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        # Upcast: the mean of squares over C in bf16 loses too much (HF does the same).
        in_dtype = x.dtype
        xf = x.to(torch.float32)
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(in_dtype)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = apply_linear(self.gate_proj, x), apply_linear(self.up_proj, x)
        return apply_linear(self.down_proj, F.silu(gate) * up)


class Attention(nn.Module):
    """Self-attention of one layer. Dense unless `config.attention_for(layer_idx)` names another kind, whose
    `LayerKernel` (modelcore.attention.kinds) then computes softmax-attention from q, k, v, the mask and an
    `AttentionContext` (positions, time stamps, the cache)."""

    def __init__(self, config: ModelConfig, layer_idx: int, attn_impl: str = "sdpa") -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.n_heads = config.num_attention_heads
        self.n_kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.attn_impl = attn_impl
        self.q_proj = nn.Linear(config.hidden_size, config.q_size, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, config.kv_size, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, config.kv_size, bias=False)
        self.o_proj = nn.Linear(config.q_size, config.hidden_size, bias=False)
        self.kernel = build_kernel(config, layer_idx)  # None = dense

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        kv_cache: KVCache | None = None,
        positions: Tensor | None = None,
        times: Tensor | None = None,
    ) -> Tensor:
        b, t, _ = x.shape
        q = apply_linear(self.q_proj, x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)
        k = apply_linear(self.k_proj, x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        v = apply_linear(self.v_proj, x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, T, D)
        q, k = apply_rope(q, k, cos, sin)
        mask = None  # plain causal over the T new tokens
        if kv_cache is not None:
            k, v, mask = kv_cache.update(self.layer_idx, k, v)  # (B, Hkv, S, D), mask (B, 1, T, S) | None
        if self.kernel is None:
            y = attention(q, k, v, mask, impl=self.attn_impl)  # (B, H, T, D)
        else:
            ctx = self._context(q, k, kv_cache, positions, times)
            y = self.kernel(q, k, v, mask, ctx)  # (B, H, T, D)
        y = y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)  # (B, T, H*D)
        return apply_linear(self.o_proj, y)

    def _context(
        self, q: Tensor, k: Tensor, kv_cache: KVCache | None, positions: Tensor | None, times: Tensor | None
    ) -> AttentionContext:
        b, _, t, _ = q.shape
        s = k.shape[2]
        if positions is None:
            positions = torch.arange(t, device=q.device)[None, :].expand(b, t)  # (B, T)
        if kv_cache is None:
            key_positions, key_times = positions, times  # (B, S == T)
        else:  # both caches keep slot == absolute position
            key_positions = torch.arange(s, device=q.device)[None, :].expand(b, s)  # (B, S)
            key_times = None
            if times is not None:
                if not hasattr(kv_cache, "key_times"):
                    raise ValueError(f"{type(kv_cache).__name__} keeps no time stamps; use DenseKVCache for times")
                key_times = kv_cache.key_times(s)  # (B, S)
        return AttentionContext(
            positions=positions,
            key_positions=key_positions,
            times=times,
            key_times=key_times,
            kv_cache=kv_cache,
            impl=self.attn_impl,
        )


class DecoderLayer(nn.Module):
    """Pre-norm block: x + attn(norm(x)), then h + mlp(norm(h))."""

    def __init__(self, config: ModelConfig, layer_idx: int, attn_impl: str = "sdpa") -> None:
        super().__init__()
        self.self_attn = Attention(config, layer_idx, attn_impl)
        self.mlp = MLP(config)
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        kv_cache: KVCache | None = None,
        positions: Tensor | None = None,
        times: Tensor | None = None,
    ) -> Tensor:
        h = x + self.self_attn(self.input_layernorm(x), cos, sin, kv_cache, positions, times)
        return h + self.mlp(self.post_attention_layernorm(h))


class LlamaModel(nn.Module):
    """Embeddings, decoder layers and the final norm (HF's `model.` prefix)."""

    def __init__(self, config: ModelConfig, attn_impl: str = "sdpa") -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(
            DecoderLayer(config, i, attn_impl) for i in range(config.num_hidden_layers)
        )
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)

    def forward(
        self,
        input_ids: Tensor,
        positions: Tensor,
        kv_cache: KVCache | None = None,
        times: Tensor | None = None,
        after_layer: Callable[[int, Tensor], Tensor] | None = None,
    ) -> Tensor:
        """after_layer(i, x) -> x: called on the output of every decoder layer i (how wrappers insert their
        own blocks between layers, e.g. modelcore.vision's cross-attention)."""
        x = self.embed_tokens(input_ids)  # (B, T, C)
        cos, sin = rope_cos_sin(self.config, positions, x.dtype)  # (B, T, D) each, shared by all layers
        for i, layer in enumerate(self.layers):
            x = layer(x, cos, sin, kv_cache, positions, times)
            if after_layer is not None:
                x = after_layer(i, x)
        return self.norm(x)  # (B, T, C)


class Transformer(nn.Module):
    """Causal LM: `model` (LlamaModel) + `lm_head`; `lm_head.weight is model.embed_tokens.weight` when tied."""

    def __init__(self, config: ModelConfig, *, attn_impl: str = "sdpa") -> None:
        super().__init__()
        if attn_impl not in ATTENTION_IMPLS:
            raise ValueError(f"unknown attn_impl {attn_impl!r}; known: {', '.join(ATTENTION_IMPLS)}")
        self.config = config
        self.model = LlamaModel(config, attn_impl)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.tie_weights()

    def tie_weights(self) -> None:
        """Share the embedding matrix with the output projection when the config says so (call again after
        anything that replaces parameters, e.g. `load_state_dict(..., assign=True)`)."""
        if self.config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight

    def set_attn_impl(self, impl: str) -> None:
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"unknown attn_impl {impl!r}; known: {', '.join(ATTENTION_IMPLS)}")
        for layer in self.model.layers:
            layer.self_attn.attn_impl = impl

    @torch.no_grad()
    def init_weights(self, *, std: float = 0.02, generator: torch.Generator | None = None) -> None:
        """HF-style init: linear and embedding weights ~ N(0, std), norm weights 1."""
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                if module is self.lm_head and self.config.tie_word_embeddings:
                    continue  # same tensor as embed_tokens
                nn.init.normal_(module.weight, mean=0.0, std=std, generator=generator)
            elif isinstance(module, RMSNorm):
                module.weight.fill_(1.0)

    def forward(
        self,
        input_ids: Tensor,
        positions: Tensor | None = None,
        kv_cache: KVCache | None = None,
        *,
        times: Tensor | None = None,
    ) -> Tensor:
        """input_ids (B, T) -> logits (B, T, V). positions (B, T) are absolute token positions for RoPE
        (default 0 .. T-1 in every row). Without a cache, attention is causal over the T tokens.
        times (B, T) float: optional real time stamps of the tokens, read only by layers whose attention
        kind uses them (temporal decay on time gaps); with a cache, `DenseKVCache.begin(positions, times)`
        must have been given the same stamps."""
        positions = check_inputs(input_ids, positions, times)
        h = self.model(input_ids, positions, kv_cache, times)  # (B, T, C)
        return apply_linear(self.lm_head, h)  # (B, T, V)
