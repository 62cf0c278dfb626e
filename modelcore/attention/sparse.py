"""Dynamic (content-adaptive) block-sparse attention, attention kind "sparse" (NSA / Quest style).

Each query (or query group, `Options.query_group`) attends to the sink blocks, its local window and its top-k
key blocks by a cheap score against pooled keys (selection: modelcore.attention.sparse_select, which
documents the scores and defaults).
Shapes as in modelcore.attention.dense: q (B, H, T, D); k, v (B, Hkv, S, D) (GQA: H a multiple of Hkv);
mask bool (B|1, 1, T, S) True = may attend, or None = plain causal with S == T. Query positions are the
slots the queries sit at (both KV caches keep slot == absolute position): `q_positions` (B, T) when given,
else read off the mask, else the last T slots.

- `sparse_attention_reference`: eager oracle (selection expanded to a (B, H, T, S) token mask, ANDed with
  causal and the mask, softmax in float32). Small shapes only: it materialises (B, H, T, S).
- `sparse_attention`: the fast prefill path. CPU: per chunk of query blocks gather the union of the blocks
  its queries selected, once per kv head (GQA: the group's query heads share them), each query masked to its
  own selection, and run one SDPA call (chunks bounded for 32k). CUDA: FlexAttention with a block mask whose
  mask_mod reads the selection (compiled; not run here: no GPU in this session).
- `sparse_decode_attention`: a few queries per row (decode), picks blocks of the cache per step from block
  summaries (cached across steps by `LayerKernel` in `kv_cache.aux`, see modelcore.attention.sparse_decode).
- `attention_stats`: compute skipped / cosine / softmax mass of the sparse selection vs dense, by query chunk.
- `LayerKernel`: the layer module the model builds for kind "sparse".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dense import _check, eager_attention, repeat_kv, sdpa_attention
from .flex import compiled_flex_attention
from .sparse_select import (
    Options,
    block_summaries,
    block_union,
    num_blocks,
    query_positions,
    select_blocks,
    select_local,
    token_mask,
)

__all__ = [
    "LayerKernel",
    "Options",
    "attention_stats",
    "select_blocks",
    "sparse_attention",
    "sparse_attention_reference",
    "sparse_decode_attention",
]


def _selection(q: Tensor, k: Tensor, options: Options, mask: Tensor | None, q_positions: Tensor | None):
    q_pos = query_positions(q, k.shape[2], mask, q_positions)  # (B, T)
    sel, qb0 = select_local(q, block_summaries(k, options), q_pos, k.shape[2], options)
    return sel, qb0, q_pos


def sparse_attention_reference(
    q: Tensor, k: Tensor, v: Tensor, options: Options, mask: Tensor | None = None, *,
    q_positions: Tensor | None = None,
) -> Tensor:
    """Eager oracle: (B, H, T, D). Plain masked softmax attention (float32) over the selected blocks."""
    _check(q, k, v, mask if mask is not None else torch.ones(1, 1, 1, 1, dtype=torch.bool))
    n_rep = q.shape[1] // k.shape[1]
    sel, qb0, q_pos = _selection(q, k, options, mask, q_positions)
    allowed = token_mask(sel, qb0, q_pos, k.shape[2], n_rep, options)  # (B, H, T, S)
    if mask is not None:
        allowed = allowed & mask
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = torch.einsum("bhtd,bhsd->bhts", q.float(), repeat_kv(k, n_rep).float()) * scale
    probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)  # (B, H, T, S)
    return torch.einsum("bhts,bhsd->bhtd", probs, repeat_kv(v, n_rep).float()).to(q.dtype)


def _block_order(sel: Tensor, k_max: int) -> tuple[Tensor, Tensor]:
    """sel (..., nKB) bool -> (indices (..., K) of the selected blocks first, in order; valid (..., K))."""
    order = torch.sort((~sel).to(torch.uint8), dim=-1, stable=True).indices[..., :k_max]
    return order, sel.gather(-1, order)


def _chunks(counts: list[int], budget: int, most: int) -> list[tuple[int, int]]:
    """Split query blocks into chunks whose (blocks x widest union) stays within budget (at least one)."""
    out, c0 = [], 0
    while c0 < len(counts):
        c1, width = c0 + 1, counts[c0]
        while c1 < len(counts) and c1 - c0 < most and (c1 - c0 + 1) * max(width, counts[c1]) <= budget:
            width = max(width, counts[c1])
            c1 += 1
        out.append((c0, c1))
        c0 = c1
    return out


def _gather_row(
    q: Tensor, k: Tensor, v: Tensor, sel: Tensor, p0: int, mask: Tensor | None, options: Options
) -> Tensor:
    """One batch row whose T queries sit at slots p0 .. p0+T-1. q (H, T, D), k/v (Hkv, S, D),
    sel (Hkv, nG, nKB) from absolute query group p0 // query_group, mask (T, S) or None (None = causal only).
    Per query block: gather the union of its groups' blocks once per kv head, each query masked to its own
    group's blocks (and causal in its own block). Returns (H, T, D)."""
    h, t, d = q.shape
    hkv, s, _ = k.shape
    n_rep = h // hkv
    bs, g = options.block_size, options.query_group
    gpb = bs // g  # query groups per block
    nkb = num_blocks(s, bs)
    off = p0 % bs
    nql = num_blocks(off + t, bs)
    qpad = q.new_zeros(h, nql * bs, d)
    qpad[:, off : off + t] = q
    qpad = qpad.view(hkv, n_rep, nql, bs, d).transpose(1, 2)  # (Hkv, nQL, r, bs, D)
    # groups laid out block by block: (Hkv, nQL, gpb, nKB); groups without queries select nothing
    qb_first = p0 // bs
    front = p0 // g - qb_first * gpb
    sel_g = F.pad(sel, (0, 0, front, nql * gpb - front - sel.shape[1])).view(hkv, nql, gpb, sel.shape[-1])
    union = sel_g.any(dim=2)  # (Hkv, nQL, nKB)
    counts = union.sum(-1).amax(0).tolist()  # (nQL,) widest union per query block
    # whole blocks as rows of a table: (Hkv * nKB, bs * D); the last block zero-padded
    kb = F.pad(k, (0, 0, 0, nkb * bs - s)).reshape(hkv * nkb, bs * d)
    vb = F.pad(v, (0, 0, 0, nkb * bs - s)).reshape(hkv * nkb, bs * d)
    out = q.new_empty(hkv, nql, n_rep, bs, d)
    within = torch.arange(bs, device=q.device)
    tri = torch.zeros(bs, bs, dtype=q.dtype, device=q.device).masked_fill_(within[None, :] > within[:, None],
                                                                           float("-inf"))  # (bs_q, bs_k)
    rows_of = torch.arange(hkv, device=q.device)[:, None, None] * nkb
    # query blocks in order of union width, so a chunk pads little to its widest block
    order = sorted(range(nql), key=counts.__getitem__)
    widths = [counts[c] for c in order]
    for c0, c1 in _chunks(widths, options.query_chunk * options.max_blocks, options.query_chunk):
        nc = c1 - c0
        width = max(1, widths[c1 - 1])
        ids = torch.tensor(order[c0:c1], device=q.device)  # (nc,) local query blocks of this chunk
        # the own block first (slot 0: causal triangle), then the other selected blocks in order
        own = (qb_first + ids)[None, :, None].expand(hkv, nc, 1)  # (Hkv, nc, 1)
        rest, valid = _block_order(union[:, ids].scatter(-1, own, False), width - 1) if width > 1 else (
            own[..., :0], torch.ones(hkv, nc, 0, dtype=torch.bool, device=q.device))
        blk = torch.cat((own, rest), dim=-1)  # (Hkv, nc, U)
        valid = torch.cat((torch.ones_like(own, dtype=torch.bool), valid), dim=-1)
        flat = (rows_of + blk).reshape(-1)
        kg = kb.index_select(0, flat).view(hkv * nc, 1, width * bs, d)
        vg = vb.index_select(0, flat).view(hkv * nc, 1, width * bs, d)
        # which gathered blocks each query row may see: its group's selection
        allowed = sel_g[:, ids].gather(-1, blk[:, :, None, :].expand(hkv, nc, gpb, width)) & valid[:, :, None]
        allowed = allowed.repeat_interleave(g, dim=2)  # (Hkv, nc, bs, U)
        tri_or_zero = torch.zeros(bs, width, bs, dtype=q.dtype, device=q.device)
        tri_or_zero[:, 0] = tri
        bias = torch.where(allowed[..., None], tri_or_zero, float("-inf"))  # (Hkv, nc, bs, U, bs)
        if mask is not None:  # a mask beyond causal: AND it in token by token
            tok = (blk[..., None] * bs + within).reshape(hkv, nc, width * bs).clamp(max=s - 1)
            qpos = (qb_first + ids)[:, None] * bs + within  # (nc, bs)
            rows = (qpos - p0).clamp(0, t - 1)
            extra = mask[rows[None, :, :, None], tok[:, :, None, :]]  # (Hkv, nc, bs, U*bs)
            bias = bias.reshape(hkv, nc, bs, width * bs).masked_fill(~extra, float("-inf"))
        y = F.scaled_dot_product_attention(  # GQA: the group's r heads share the gathered keys and the mask
            qpad[:, ids].reshape(hkv * nc, n_rep, bs, d), kg, vg,
            attn_mask=bias.reshape(hkv * nc, 1, bs, width * bs),
            enable_gqa=n_rep > 1,
        )  # (Hkv*nc, r, bs, D)
        out[:, ids] = y.view(hkv, nc, n_rep, bs, d)
    out = out.transpose(1, 2).reshape(h, nql * bs, d)
    return out[:, off : off + t]


def _is_causal_mask(mask: Tensor, q_pos: Tensor, s: int) -> bool:
    """True when mask (B|1, 1, T, S) says exactly "slot <= query position" (the caches' masks)."""
    expected = torch.arange(s, device=mask.device)[None, None, :] <= q_pos[:, :, None]  # (B, T, S)
    return bool((mask[:, 0] == expected).all())


def _flex(
    q: Tensor, k: Tensor, v: Tensor, sel: Tensor, qb0: Tensor, q_pos: Tensor, mask: Tensor | None,
    options: Options, *, compiled: bool,
) -> Tensor:
    """FlexAttention with a block mask whose mask_mod reads the selection (causal + mask inside blocks)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    b, h, t, _ = q.shape
    s = k.shape[2]
    n_rep = h // k.shape[1]
    bs = options.block_size
    full_mask = None if mask is None else mask.expand(b, 1, t, s)

    def mask_mod(bi, hi, qi, ki):
        p = q_pos[bi, qi]
        keep = sel[bi, hi // n_rep, p // options.query_group - qb0[bi], ki // bs] & (ki <= p)
        if full_mask is not None:
            keep = keep & full_mask[bi, 0, qi, ki]
        return keep

    flex_block = bs if bs >= 16 and bs % 16 == 0 else 128
    block_mask = create_block_mask(mask_mod, b, h, t, s, device=q.device, BLOCK_SIZE=flex_block, _compile=compiled)
    fn = compiled_flex_attention() if compiled else flex_attention
    return fn(q, k, v, block_mask=block_mask, enable_gqa=n_rep > 1)


def sparse_attention(
    q: Tensor, k: Tensor, v: Tensor, options: Options, mask: Tensor | None = None, *,
    q_positions: Tensor | None = None, backend: str = "auto",
) -> Tensor:
    """Fast path, same function as `sparse_attention_reference`: (B, H, T, D).
    backend: "auto" (flex on CUDA, gather elsewhere), "gather" (CPU path: gathered blocks + SDPA),
    "flex" (FlexAttention, compiled on CUDA) or "flex_eager" (FlexAttention uncompiled, for tests on CPU)."""
    _check(q, k, v, mask if mask is not None else torch.ones(1, 1, 1, 1, dtype=torch.bool))
    if backend == "auto":
        backend = "flex" if q.is_cuda else "gather"
    if backend not in ("gather", "flex", "flex_eager"):
        raise ValueError(f"sparse_attention: backend={backend!r} must be auto, gather, flex or flex_eager")
    sel, qb0, q_pos = _selection(q, k, options, mask, q_positions)
    if backend != "gather":
        return _flex(q, k, v, sel, qb0, q_pos, mask, options, compiled=backend == "flex")
    b, _, t, _ = q.shape
    contiguous = bool((q_pos == q_pos[:, :1] + torch.arange(t, device=q.device)).all())
    if not contiguous:  # queries of a row not at consecutive slots: decode-style per-query gather
        return _decode_gather(q, k, v, sel, qb0, q_pos, mask, options)
    if mask is not None and _is_causal_mask(mask, q_pos, k.shape[2]):
        mask = None  # causality is applied from q_pos anyway
    out = torch.empty_like(q)
    for i in range(b):
        row_mask = None if mask is None else mask[min(i, mask.shape[0] - 1), 0]  # (T, S)
        out[i] = _gather_row(q[i], k[i], v[i], sel[i], int(q_pos[i, 0]), row_mask, options)
    return out


def _gather_blocks(x: Tensor, idx: Tensor, bs: int) -> Tensor:
    """x (B, Hkv, S, D), idx (B, Hkv, N) block indices < ceil(S / bs) -> (B, Hkv, N, bs, D), block by block
    (whole-block copies; x, which may be a view of a cache, is not copied). Slots past S read as zeros."""
    b, hkv, s, d = x.shape
    n = idx.shape[-1]
    full = s // bs
    flat_idx = idx.reshape(b * hkv, n)
    heads = torch.arange(b * hkv, device=x.device)[:, None]
    if full:
        table = x[:, :, : full * bs].reshape(b * hkv, full, bs * d)  # a view when x is (a slice of) a cache
        clamped = flat_idx.clamp(max=full - 1)
        if b * hkv <= 32:  # a few index_selects copy whole rows faster than one advanced index
            out = torch.stack([table[i].index_select(0, clamped[i]) for i in range(b * hkv)])
        else:
            out = table[heads, clamped]  # (B*Hkv, N, bs*D)
    else:
        out = x.new_zeros(b * hkv, n, bs * d)
    if full * bs < s:  # the partial last block, zero-padded
        tail = F.pad(x[:, :, full * bs :], (0, 0, 0, (full + 1) * bs - s)).reshape(b * hkv, 1, bs * d)
        out = torch.where((flat_idx == full)[..., None], tail, out)
    return out.view(b, hkv, n, bs, d)


def _decode_gather(
    q: Tensor, k: Tensor, v: Tensor, sel: Tensor, qb0: Tensor, q_pos: Tensor, mask: Tensor | None,
    options: Options,
) -> Tensor:
    """Per query: gather its block's selected keys (few queries per row). Returns (B, H, T, D)."""
    b, h, t, d = q.shape
    hkv, s = k.shape[1], k.shape[2]
    n_rep = h // hkv
    bs = options.block_size
    k_max = min(options.max_blocks, sel.shape[-1])
    ql = q_pos // options.query_group - qb0[:, None]  # (B, T) local query group
    rows = sel.gather(2, ql[:, None, :, None].expand(b, hkv, t, sel.shape[-1]))  # (B, Hkv, T, nKB)
    idx, valid = _block_order(rows, k_max)  # (B, Hkv, T, K)
    within = torch.arange(bs, device=q.device)
    tok = (idx[..., None] * bs + within).reshape(b, hkv, t, k_max * bs)  # (B, Hkv, T, K*bs)
    ok = valid[..., None].expand(b, hkv, t, k_max, bs).reshape(b, hkv, t, k_max * bs)
    ok = ok & (tok < s) & (tok <= q_pos[:, None, :, None])
    tok = tok.clamp(max=s - 1)
    if mask is not None:
        mrow = mask[:, 0].expand(b, t, s)  # (B, T, S)
        ok = ok & mrow[:, None].expand(b, hkv, t, s).gather(3, tok)
    kg = _gather_blocks(k, idx.reshape(b, hkv, t * k_max), bs).view(b, hkv, t, k_max * bs, d).float()
    vg = _gather_blocks(v, idx.reshape(b, hkv, t * k_max), bs).view(b, hkv, t, k_max * bs, d).float()
    qg = q.float().view(b, hkv, n_rep, t, d).transpose(2, 3)  # (B, Hkv, T, r, D)
    scores = qg @ kg.transpose(-1, -2) / math.sqrt(d)  # (B, Hkv, T, r, K*bs)
    probs = torch.softmax(scores.masked_fill(~ok[:, :, :, None, :], float("-inf")), dim=-1)
    y = probs @ vg  # (B, Hkv, T, r, D)
    return y.transpose(2, 3).reshape(b, h, t, d).to(q.dtype)


def sparse_decode_attention(
    q: Tensor, k: Tensor, v: Tensor, options: Options, mask: Tensor | None = None, *,
    summaries: Tensor | None = None, q_positions: Tensor | None = None,
) -> Tensor:
    """Decode: few queries per row (T small), rows of different lengths via mask (R, 1, T, S).
    summaries (R, Hkv, n, C, D) float32: block summaries (`block_summaries`) of at least the complete blocks
    before each row's queries (the candidates); computed from k when None. Returns (R, H, T, D)."""
    _check(q, k, v, mask if mask is not None else torch.ones(1, 1, 1, 1, dtype=torch.bool))
    q_pos = query_positions(q, k.shape[2], mask, q_positions)
    if summaries is None:
        summaries = block_summaries(k, options)
    sel, qb0 = select_local(q, summaries, q_pos, k.shape[2], options)
    return _decode_gather(q, k, v, sel, qb0, q_pos, mask, options)


@torch.no_grad()
def attention_stats(
    q: Tensor, k: Tensor, v: Tensor, options: Options, mask: Tensor | None = None, *,
    q_positions: Tensor | None = None, chunk: int = 128,
) -> dict[str, float]:
    """Sparse selection vs dense causal attention, by chunks of `chunk` queries (never (H, T, S) at once).

    Returns skipped_fraction (1 - computed / dense query-key token pairs, per query head: what a kernel
    computing each query's own selection does), cosine (mean over rows, heads of the cosine similarity of
    sparse and dense outputs), mass (mean share of the dense softmax mass inside the selected tokens),
    computed_pairs, dense_pairs, rows, and tile_skipped_fraction: the same for the CPU path's work, which
    computes every query of a query block against the whole union of the blocks its queries selected
    (equal to skipped_fraction up to the causal triangle when query_group == block_size)."""
    b, h, t, d = q.shape
    hkv, s = k.shape[1], k.shape[2]
    n_rep = h // hkv
    sel, qb0, q_pos = _selection(q, k, options, mask, q_positions)
    union_width = block_union(sel, qb0, q_pos, options).sum(-1)  # (B, Hkv, nQB) blocks per query block
    tile_pairs = int(union_width.gather(2, (q_pos // options.block_size)[:, None].expand(b, hkv, t)).sum())
    tile_pairs *= n_rep * options.block_size
    scale = 1.0 / math.sqrt(d)
    computed = dense = rows = 0
    cos_sum = mass_sum = 0.0
    for t0 in range(0, t, chunk):
        t1 = min(t, t0 + chunk)
        pos = q_pos[:, t0:t1]
        sc = min(s, int(pos.max()) + 1)  # later slots are causally excluded
        allowed = torch.arange(sc, device=q.device)[None, None, :] <= pos[:, :, None]  # (B, tc, Sc)
        if mask is not None:
            allowed = allowed & mask[:, 0, t0:t1, :sc]
        allowed = allowed[:, None]  # (B, 1, tc, Sc)
        sparse = token_mask(sel, qb0, pos, s, n_rep, options)[..., :sc] & allowed  # (B, H, tc, Sc)
        qc = q[:, :, t0:t1].float().reshape(b, hkv, n_rep * (t1 - t0), d)
        kc, vc = k[:, :, :sc].float(), v[:, :, :sc].float()
        scores = (qc @ kc.transpose(-1, -2) * scale).view(b, h, t1 - t0, sc)  # (B, H, tc, Sc)
        p_dense = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        p_sparse = torch.softmax(scores.masked_fill(~sparse, float("-inf")), dim=-1)
        y_dense = (p_dense.view(b, hkv, -1, sc) @ vc).view(b, h, t1 - t0, d)
        y_sparse = (p_sparse.view(b, hkv, -1, sc) @ vc).view(b, h, t1 - t0, d)
        live = allowed.any(-1).expand(b, h, t1 - t0)  # rows with something to attend
        cos = F.cosine_similarity(y_dense, y_sparse, dim=-1)  # (B, H, tc)
        mass = (p_dense * sparse).sum(-1)  # (B, H, tc)
        cos_sum += float(cos[live].sum())
        mass_sum += float(mass[live].sum())
        rows += int(live.sum())
        computed += int(sparse.sum())
        dense += int(allowed.sum()) * h
    return {
        "skipped_fraction": 1.0 - computed / max(dense, 1),
        "cosine": cos_sum / max(rows, 1),
        "mass": mass_sum / max(rows, 1),
        "computed_pairs": float(computed),
        "dense_pairs": float(dense),
        "rows": float(rows),
        "tile_skipped_fraction": 1.0 - tile_pairs / max(dense, 1),
    }


class LayerKernel(nn.Module):
    """Attention kind "sparse" for one layer (no parameters). Routes: S <= dense threshold -> dense SDPA
    (eager reference when ctx.reference); with a cache and T < block_size -> decode path with block summaries
    cached in `kv_cache.aux`; else the prefill path (reference when ctx.reference, else fast)."""

    def __init__(self, config, layer_idx: int, options: Options) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.options = options

    def extra_repr(self) -> str:
        return f"layer={self.layer_idx}, {self.options}"

    def forward(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, ctx) -> Tensor:
        from .sparse_decode import cached_summaries, invalidate_summaries

        t, s = q.shape[2], k.shape[2]
        cache = ctx.kv_cache
        q_pos = ctx.positions if cache is not None else None  # with a cache, slot == position
        if cache is not None and hasattr(cache, "aux"):
            invalidate_summaries(cache, self.layer_idx, q_pos, self.options)
        if s <= self.options.dense_threshold:
            return eager_attention(q, k, v, mask) if ctx.reference else sdpa_attention(q, k, v, mask)
        if ctx.reference:
            return sparse_attention_reference(q, k, v, self.options, mask, q_positions=q_pos)
        if cache is not None and t < self.options.block_size:
            keeps_state = hasattr(cache, "aux") and hasattr(cache, "forward_rows")
            summ = cached_summaries(cache, self.layer_idx, k, q_pos, self.options) if keeps_state else None
            return sparse_decode_attention(q, k, v, self.options, mask, summaries=summ, q_positions=q_pos)
        return sparse_attention(q, k, v, self.options, mask, q_positions=q_pos)
