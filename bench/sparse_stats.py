"""Sparse-attention statistics at long lengths within a CPU budget (helpers of bench/attention.py).

`modelcore.attention.sparse.attention_stats` compares every query's sparse output with dense attention; at
32k tokens that is a dense pass per call (tens of seconds per layer and setting on 2 cores). Here:
- the skipped fraction is exact over the whole window, counted from the block selection
  (`select_blocks`, cheap: one score per query and key block);
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


def exact_skipped_fraction(sel: Tensor, length: int, block_size: int) -> float:
    """1 - (query-key pairs computed) / (causal dense pairs) of a causal prefill of `length` tokens.

    sel (B, Hkv, nQB, nKB) bool from `select_blocks` (query block i attends key block j where True; the
    own block i is always selected and causal inside). Pairs are counted per query head; the query heads
    of a kv group share their selection, so the fraction over kv heads is the fraction over query heads."""
    b, hkv, nqb, nkb = sel.shape
    n = min(nqb, nkb)
    size = (torch.clamp(torch.arange(1, n + 1) * block_size, max=length)
            - torch.arange(n) * block_size).clamp(min=0).to(torch.float64)  # (n,) tokens per block
    pairs = size[:, None] * size[None, :]  # (n, n): query block i x key block j, fully visible when j < i
    pairs = pairs.tril(-1) + torch.diag(size * (size + 1) / 2)  # own block: causal inside; later: none
    computed = (sel[:, :, :n, :n].to(torch.float64) * pairs).sum()
    dense = b * hkv * length * (length + 1) / 2
    return 1.0 - float(computed) / dense


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
               chunk: int = 128) -> dict[str, float]:
    """Exact skipped fraction over the whole causal prefill, and attention_stats (cosine, mass) on about
    n_queries sampled queries (all of them when n_queries >= T)."""
    t = q.shape[2]
    if k.shape[2] != t:
        raise ValueError(f"long_stats: a causal prefill needs S == T, got T={t}, S={k.shape[2]}")
    if chunk % options.block_size:
        raise ValueError(f"long_stats: chunk={chunk} must be a multiple of block_size={options.block_size}")
    if t <= options.dense_threshold:  # LayerKernel attends densely at this length
        return {"skipped_fraction": 0.0, "cosine": 1.0, "mass": 1.0, "dense_at_this_length": True}
    skipped = exact_skipped_fraction(sparse.select_blocks(q, k, options), t, options.block_size)
    pos = sample_chunks(t, n_queries, chunk)
    if pos.numel() == t:
        stats = sparse.attention_stats(q, k, v, options, chunk=chunk)
    else:
        qs = q[:, :, pos].contiguous()
        stats = sparse.attention_stats(qs, k, v, options, q_positions=pos[None, :].expand(q.shape[0], -1),
                                       chunk=chunk)
    return {
        "skipped_fraction": skipped,
        "cosine": float(stats["cosine"]),
        "mass": float(stats["mass"]),
        "skipped_fraction_sampled": float(stats["skipped_fraction"]),
        "sampled_queries": int(pos.numel()),
    }
