"""Sparse-attention statistics at long lengths within a CPU budget (helpers of bench/attention.py).

`modelcore.attention.sparse.attention_stats` compares every query's sparse output with dense attention; at
32k tokens that is a dense pass per call (tens of seconds per layer and setting on 2 cores). Here:
- the skipped fraction is exact over the whole window, counted from the block selection
  (`select_local`, cheap: one score per query group and key block);
- cosine and softmax mass come from `attention_stats` on a sample of whole query chunks (`chunk` queries,
  aligned to `chunk`, a multiple of every block size used, so each sampled query block gets exactly the
  selection it gets in the full computation), evenly spaced over the window including its end.
Shapes as in modelcore.attention: q (B, H, T, D), k, v (B, Hkv, S, D) with the queries at slots 0 .. T-1
(a causal prefill, S == T).
"""

from __future__ import annotations

import torch
from torch import Tensor

from modelcore.attention import sparse
from modelcore.attention.sparse_select import block_summaries, select_local


@torch.no_grad()
def exact_skipped_fraction(q: Tensor, k: Tensor, options: sparse.Options, *, rows: int = 4096) -> float:
    """1 - (query-key pairs computed) / (causal dense pairs) of the causal prefill of q (B, H, T, D) over
    k (B, Hkv, T, D), counted from the selection itself (`select_local`: one row of key blocks per query
    group of `options.query_group` consecutive queries; the query heads of a kv group share it, so the
    fraction over kv heads is the fraction over query heads). A query sees every key of a selected block
    before its own block, and the keys up to itself in its own block (always selected); `rows` groups are
    counted at a time."""
    b, _, t, _ = q.shape
    if k.shape[2] != t:
        raise ValueError(f"exact_skipped_fraction: a causal prefill needs S == T, got T={t}, S={k.shape[2]}")
    bs, g = options.block_size, options.query_group
    q_pos = torch.arange(t, device=q.device)[None, :].expand(b, t)  # (B, T)
    sel, g0 = select_local(q, block_summaries(k, options), q_pos, t, options)  # (B, Hkv, nG, nKB)
    nkb = sel.shape[-1]
    size = (torch.clamp(torch.arange(1, nkb + 1) * bs, max=t) - torch.arange(nkb) * bs).to(torch.float64)
    computed = 0.0
    for r0 in range(0, sel.shape[2], rows):
        r1 = min(sel.shape[2], r0 + rows)
        first = (int(g0.min()) + torch.arange(r0, r1)) * g  # (R,) first position of each group
        n_q = (torch.clamp(first + g, max=t) - first).clamp(min=0).to(torch.float64)  # (R,) queries in it
        own = first // bs  # (R,)
        before = torch.arange(nkb)[None, :] < own[:, None]  # (R, nKB)
        part = sel[:, :, r0:r1].to(torch.float64) * before  # (B, Hkv, R, nKB)
        computed += float((part @ size * n_q).sum())  # whole earlier blocks
        # own block: query p sees p + 1 - own * bs keys of it
        own_pairs = n_q * (first - own * bs + 1) + n_q * (n_q - 1) / 2  # (R,)
        own_sel = sel[:, :, r0:r1].gather(-1, own[None, None, :, None].expand(b, sel.shape[1], -1, 1))[..., 0]
        computed += float((own_sel.to(torch.float64) * own_pairs).sum())
    dense = b * sel.shape[1] * t * (t + 1) / 2
    return 1.0 - computed / dense


@torch.no_grad()
def block_union_skipped_fraction(q: Tensor, k: Tensor, options: sparse.Options) -> float:
    """1 - (whole blocks gathered) / (causal dense pairs): the work of a kernel that computes every query of
    a query block against the union of its queries' selected key blocks, bs x bs pairs per block (the CPU
    gather path of modelcore.attention.sparse, which masks per query inside). Equals the per-query figure
    when query_group == block_size, save the causal half of the own block."""
    t = q.shape[2]
    union = sparse.select_blocks(q, k, options)  # (B, Hkv, nQB, nKB): union over each block's groups
    b, hkv = union.shape[:2]
    gathered = float(union.sum()) * options.block_size**2
    return 1.0 - gathered / (b * hkv * t * (t + 1) / 2)


def sample_chunks(length: int, n_queries: int, chunk: int = 128) -> Tensor:
    """(N,) long positions: whole `chunk`-aligned chunks of queries, evenly spaced over 0 .. length-1
    (first and last chunk included), about n_queries in all; every position when n_queries >= length."""
    n_chunks = -(-length // chunk)
    want = min(n_chunks, max(1, -(-n_queries // chunk)))
    picks = torch.linspace(0, n_chunks - 1, want).round().long().unique()  # (want,)
    pos = (picks[:, None] * chunk + torch.arange(chunk)[None, :]).reshape(-1)
    return pos[pos < length]


@torch.no_grad()
def long_stats(q: Tensor, k: Tensor, v: Tensor, options: sparse.Options, *, n_queries: int,
               chunk: int = 128, kernel_work: bool = True) -> dict[str, float]:
    """Exact skipped fraction over the whole causal prefill, and attention_stats (cosine, mass) on about
    n_queries sampled queries (all of them when n_queries >= T); with kernel_work also the fraction the
    block-gather kernel skips (`block_union_skipped_fraction`)."""
    t = q.shape[2]
    if k.shape[2] != t:
        raise ValueError(f"long_stats: a causal prefill needs S == T, got T={t}, S={k.shape[2]}")
    if chunk % options.block_size:
        raise ValueError(f"long_stats: chunk={chunk} must be a multiple of block_size={options.block_size}")
    if t <= options.dense_threshold:  # LayerKernel attends densely at this length
        return {"skipped_fraction": 0.0, "cosine": 1.0, "mass": 1.0, "dense_at_this_length": True}
    skipped = exact_skipped_fraction(q, k, options)
    union_skipped = block_union_skipped_fraction(q, k, options) if kernel_work else None
    pos = sample_chunks(t, n_queries, chunk)
    if pos.numel() == t:
        stats = sparse.attention_stats(q, k, v, options, chunk=chunk)
    else:
        qs = q[:, :, pos].contiguous()
        stats = sparse.attention_stats(qs, k, v, options, q_positions=pos[None, :].expand(q.shape[0], -1),
                                       chunk=chunk)
    extra = {} if union_skipped is None else {"kernel_skipped_fraction": union_skipped}
    return {
        **extra,
        "skipped_fraction": skipped,
        "cosine": float(stats["cosine"]),
        "mass": float(stats["mass"]),
        "skipped_fraction_sampled": float(stats["skipped_fraction"]),
        "sampled_queries": int(pos.numel()),
    }
