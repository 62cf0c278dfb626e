"""Temporal-decay attention (kind "temporal_decay"): older context weighs less, geometrically, per head.

Derivation. Causal softmax attention gives query i the weights w_ij = exp(s_ij) / sum_j' exp(s_ij') over the
keys j it may see, with logits s_ij = q_i . k_j * scale. Adding a bias -lambda_h * (i - j) to the logit of
head h multiplies the unnormalised weight by exp(-lambda_h)^(i - j) = gamma_h^distance with
gamma_h = exp(-lambda_h) in (0, 1]: a key's weight decays geometrically with its age, the newest key (the
query's own position, distance 0) is undamped, and the softmax renormalises over what is left, so a head with
lambda_h = 0 is plain dense attention and a head with a huge lambda_h attends only to its newest key. Only
differences of positions enter, so adding a constant to every position (or every time stamp) changes
nothing: the layer is shift invariant, which is what lets a KV cache hold absolute positions. This is ALiBi's
linear bias (Press et al., 2022) read as a decay: the same fixed per-head slopes are the default rates here.

Why not `K * gamma**position` (the sketch in the issue): multiplying the keys scales the logit q.k, it does
not weight the key (a negatively aligned key becomes *more* likely as its logit shrinks towards 0), and
gamma**position is smallest for the largest positions, i.e. it damps the newest keys most: the opposite of
"older context weighs less". It is also not shift invariant.

Rates (`Options.rates`):
- "alibi": fixed slopes, scaled by `Options.scale`. For H a power of two, head h (1-based) gets 2^(-8h/H).
  For other H (SmolLM2: 9 heads) we use the ALiBi paper's construction: the slopes of the nearest lower power
  of two P, then every other slope of 2P until there are H (9 heads: 2^-1 .. 2^-8, then 2^-0.5).
- "learned": a per-head parameter `raw_rates` (H,) through softplus (rates stay > 0), initialised by inverse
  softplus to the same scaled ALiBi slopes.
With `Options.use_time` the distance is the real time gap times_i - times_j (from AttentionContext.times /
key_times, e.g. days between an encounter's history events) divided by `Options.time_unit`, so two tokens
with equal time stamps get equal bias. Which keys may be seen is still decided by the mask (positions), never
by time; a key stamped *after* its query (out-of-order stamps) gets gap 0, i.e. no decay and no bonus (we
clamp rather than refuse, so one bad stamp cannot stop a forward). Keep stamps small (relative to the first
event, say): gaps are taken in float32.

Paths, one function each (names are stable; bench/ imports them):
- `decay_attention_reference`: explicit scores + bias, masked_fill, float32 softmax (CPU path of
  attn_impl "eager" and the test oracle);
- `decay_attention_sdpa`: `F.scaled_dot_product_attention` with the bias (and -inf where masked) as an
  additive float mask; the fast path on CPU (and every device but CUDA);
- `decay_attention_flex`: FlexAttention with a `score_mod` adding the bias and a `block_mask` from the mask;
  the fast path on CUDA, where it runs compiled (`compiled_flex_attention()`) and never materialises the
  (B, H, T, S) bias. Eager (uncompiled) it runs anywhere and is tested against the reference on CPU.
`fast_path_for(device)` names the choice.

Shapes as in modelcore.attention.dense: q (B, H, T, D); k, v (B, Hkv, S, D) (GQA); mask bool (B|1, 1, T, S),
True = may attend, or None = causal with S == T; q_pos (B, T) and k_pos (B, S) positions or time stamps;
rates (H,) float. Returns (B, H, T, D).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .context import AttentionContext
from .dense import _check, repeat_kv
from .flex import compiled_flex_attention

RATE_MODES = ("alibi", "learned")


def _number(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"temporal_decay: {name}={value!r} must be a finite number > 0")
    return float(value)


@dataclass(frozen=True)
class Options:
    """rates: "alibi" (fixed per-head slopes) or "learned" (per-head softplus parameter, ALiBi init).
    scale: multiplier (> 0) on the ALiBi slopes (the fixed rates, or the learned rates' initial values).
    use_time: decay on time gaps (AttentionContext.times / key_times) instead of token distance.
    time_unit: (> 0) the time gap that counts as one step of distance when use_time is set."""

    rates: str = "alibi"
    scale: float = 1.0
    use_time: bool = False
    time_unit: float = 1.0

    def __post_init__(self) -> None:
        if self.rates not in RATE_MODES:
            raise ValueError(f"temporal_decay: rates={self.rates!r} must be one of {RATE_MODES}")
        object.__setattr__(self, "scale", _number("scale", self.scale))
        if not isinstance(self.use_time, bool):
            raise ValueError(f"temporal_decay: use_time={self.use_time!r} must be a bool")
        object.__setattr__(self, "time_unit", _number("time_unit", self.time_unit))


# ------------------------------------------------------------------------------------------------- rates
def alibi_slopes(n_heads: int) -> list[float]:
    """ALiBi's per-head slopes (see the module docstring for non-powers of two), largest first."""
    if n_heads <= 0:
        raise ValueError(f"alibi_slopes: n_heads={n_heads} must be positive")

    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]

    p = 2 ** int(math.floor(math.log2(n_heads)))
    return power_of_two(p) + power_of_two(2 * p)[0::2][: n_heads - p]


def decay_rates(n_heads: int, *, scale: float = 1.0, device: torch.device | str | None = None) -> Tensor:
    """(H,) float32: `scale` * ALiBi slopes, the fixed rates and the learned rates' initial values."""
    return torch.tensor(alibi_slopes(n_heads), dtype=torch.float32, device=device) * scale


def inverse_softplus(y: Tensor) -> Tensor:
    """x with softplus(x) == y (y > 0): x = y + log(1 - exp(-y)), stable for small and large y."""
    return y + torch.log(-torch.expm1(-y))


def decay_bias(q_pos: Tensor, k_pos: Tensor, rates: Tensor) -> Tensor:
    """(B, H, T, S) float32 bias -rates[h] * max(q_pos[b, t] - k_pos[b, s], 0).

    q_pos (B, T), k_pos (B, S): positions (long) or time stamps (float); rates (H,). Gaps are clamped at 0,
    so keys after the query (masked anyway when positions are used) are not boosted."""
    if q_pos.dim() != 2 or k_pos.dim() != 2 or q_pos.shape[0] != k_pos.shape[0] or rates.dim() != 1:
        raise ValueError(
            f"decay_bias: q_pos (B, T), k_pos (B, S), rates (H,) expected, got {tuple(q_pos.shape)}, "
            f"{tuple(k_pos.shape)}, {tuple(rates.shape)}"
        )
    gap = q_pos[:, :, None] - k_pos[:, None, :]  # (B, T, S), exact for integer positions
    gap = gap.to(torch.float32).clamp(min=0.0)
    return -rates.to(torch.float32)[None, :, None, None] * gap[:, None, :, :]  # (B, H, T, S)


def _prepare(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, rates: Tensor, q_pos: Tensor, k_pos: Tensor
) -> Tensor:
    """Checks shapes; returns the mask as bool (B|1, 1, T, S) (causal when None)."""
    _check(q, k, v, mask)
    b, h, t, _ = q.shape
    s = k.shape[2]
    if rates.shape != (h,):
        raise ValueError(f"temporal_decay: rates {tuple(rates.shape)} must be ({h},), one per query head")
    if q_pos.shape != (b, t) or k_pos.shape != (b, s):
        raise ValueError(
            f"temporal_decay: q_pos {tuple(q_pos.shape)} / k_pos {tuple(k_pos.shape)} must be ({b}, {t}) / ({b}, {s})"
        )
    if mask is None:
        mask = torch.ones(t, s, dtype=torch.bool, device=q.device).tril()[None, None]  # (1, 1, T, S)
    return mask


# ------------------------------------------------------------------------------------------------- paths
def decay_attention_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    *,
    rates: Tensor,
    q_pos: Tensor,
    k_pos: Tensor,
    scale: float | None = None,
) -> Tensor:
    """Reference: softmax(q k^T * scale + decay_bias, masked to -inf) v, softmax in float32. (B, H, T, D)."""
    mask = _prepare(q, k, v, mask, rates, q_pos, k_pos)
    n_rep = q.shape[1] // k.shape[1]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    k = repeat_kv(k, n_rep)  # (B, H, S, D)
    v = repeat_kv(v, n_rep)  # (B, H, S, D)
    scores = torch.einsum("bhtd,bhsd->bhts", q, k).to(torch.float32) * scale  # (B, H, T, S)
    scores = scores + decay_bias(q_pos, k_pos, rates)
    scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(q.dtype)  # (B, H, T, S)
    return torch.einsum("bhts,bhsd->bhtd", probs, v)  # (B, H, T, D)


def decay_attention_sdpa(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    *,
    rates: Tensor,
    q_pos: Tensor,
    k_pos: Tensor,
    scale: float | None = None,
) -> Tensor:
    """Fast path off CUDA: SDPA with the bias (-inf where masked) as its additive float mask. (B, H, T, D)."""
    mask = _prepare(q, k, v, mask, rates, q_pos, k_pos)
    bias = decay_bias(q_pos, k_pos, rates).masked_fill(~mask, float("-inf")).to(q.dtype)  # (B, H, T, S)
    gqa = q.shape[1] != k.shape[1]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=scale, enable_gqa=gqa)


def decay_attention_flex(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    *,
    rates: Tensor,
    q_pos: Tensor,
    k_pos: Tensor,
    scale: float | None = None,
    flex_fn: Callable[..., Tensor] | None = None,
) -> Tensor:
    """FlexAttention: `score_mod` adds -rates[h] * max(q_pos - k_pos, 0); the mask (or causality) becomes a
    `block_mask`, so fully masked blocks are skipped. `flex_fn` defaults to eager `flex_attention` (any
    device, unfused); pass `compiled_flex_attention()` for the fused Triton kernels on CUDA. (B, H, T, D)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    _prepare(q, k, v, mask, rates, q_pos, k_pos)
    b, _, t, _ = q.shape
    s = k.shape[2]
    r = rates.to(torch.float32)  # (H,)
    qp = q_pos.to(torch.float32)  # (B, T)
    kp = k_pos.to(torch.float32)  # (B, S)

    def score_mod(score, bi, hi, qi, ki):
        gap = qp[bi, qi] - kp[bi, ki]
        gap = torch.where(gap > 0, gap, torch.zeros_like(gap))
        return score - (r[hi] * gap).to(score.dtype)

    if mask is None:

        def mask_mod(bi, hi, qi, ki):
            return qi >= ki

    else:
        m = mask[:, 0].expand(b, t, s)  # (B, T, S)

        def mask_mod(bi, hi, qi, ki):
            return m[bi, qi, ki]

    block_mask = create_block_mask(mask_mod, b, None, t, s, device=q.device)
    fn = flex_attention if flex_fn is None else flex_fn
    return fn(
        q, k, v, score_mod=score_mod, block_mask=block_mask, scale=scale, enable_gqa=q.shape[1] != k.shape[1]
    )


def fast_path_for(device: torch.device | str) -> str:
    """The fast path on `device`: "flex" (compiled FlexAttention) on CUDA, "sdpa" elsewhere.

    CPU, 2 shared cores, float32, causal prefill (B, H, Hkv, T, D) = (1, 9, 3, 512, 64): reference ~350 ms,
    SDPA + bias ~160-210 ms, eager flex ~760 ms, compiled flex ~125 ms but only after a ~39 s compile that
    is repeated for new shapes; decode (T=1, S=2048): SDPA 12 ms, eager flex 260 ms. So SDPA on CPU.
    On CUDA the compiled kernel skips fully masked blocks and never materialises the (B, H, T, S) bias that
    SDPA needs (which also rules out SDPA's flash kernel); not measured here (no GPU)."""
    return "flex" if torch.device(device).type == "cuda" else "sdpa"


# ------------------------------------------------------------------------------------------------- layer
class LayerKernel(nn.Module):
    """Temporal-decay attention of one decoder layer. Learned rates live in `raw_rates` (H,) (state-dict key
    `model.layers.N.self_attn.kernel.raw_rates`); fixed rates are plain floats, nothing to save or load."""

    def __init__(self, config: Any, layer_idx: int, options: Options) -> None:
        super().__init__()
        if not isinstance(options, Options):
            raise ValueError(f"temporal_decay: options must be decay.Options, got {type(options).__name__}")
        self.layer_idx = layer_idx
        self.options = options
        self.n_heads = config.num_attention_heads
        # Python floats: the model may be built on the meta device (checkpoint loading), where tensors hold no data.
        self._fixed_rates = tuple(options.scale * r for r in alibi_slopes(self.n_heads))
        if options.rates == "learned":
            init = torch.tensor(self._fixed_rates, dtype=torch.float32)  # (H,)
            self.raw_rates = nn.Parameter(inverse_softplus(init))  # (H,)

    def rates(self, device: torch.device | str | None = None) -> Tensor:
        """(H,) float32 rates per head, per unit of distance (before `time_unit`)."""
        if self.options.rates == "learned":
            return F.softplus(self.raw_rates.to(torch.float32))
        return torch.tensor(self._fixed_rates, dtype=torch.float32, device=device)

    def forward(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, ctx: AttentionContext) -> Tensor:
        rates = self.rates(q.device)  # (H,)
        if self.options.use_time:
            if ctx.times is None or ctx.key_times is None:
                raise ValueError(
                    f"temporal_decay (layer {self.layer_idx}): use_time=True needs time stamps; pass "
                    "times=(B, T) to the model (and to DenseKVCache.begin with a cache)"
                )
            q_pos, k_pos = ctx.times, ctx.key_times  # (B, T), (B, S)
            rates = rates / self.options.time_unit
        else:
            q_pos, k_pos = ctx.positions, ctx.key_positions  # (B, T), (B, S)
        kwargs = dict(rates=rates, q_pos=q_pos, k_pos=k_pos)
        if ctx.reference:
            return decay_attention_reference(q, k, v, mask, **kwargs)
        if fast_path_for(q.device) == "flex":
            return decay_attention_flex(q, k, v, mask, **kwargs, flex_fn=compiled_flex_attention())
        return decay_attention_sdpa(q, k, v, mask, **kwargs)

    def extra_repr(self) -> str:
        o = self.options
        return f"rates={o.rates}, scale={o.scale}, use_time={o.use_time}, time_unit={o.time_unit}"
