"""Block selection of dynamic sparse attention (kind "sparse"): options, pooled key summaries per block, and
which key blocks each query attends.

Keys are cut into blocks of `block_size` slots by absolute position (block j = slots j*bs .. j*bs+bs-1); a
query at position p lies in query block p // bs. Every query attends to
- the first `sink_blocks` blocks (the attention sink),
- its own block and the `local_blocks - 1` before it (the local window; token-level causal inside),
- the `top_k` most important of the remaining earlier blocks (the candidates: complete blocks strictly
  before the local window), ranked by a cheap score against one summary per key block,
and never a block after its own (causal). Queries of one query group (positions with equal
p // query_group) share one selection; the default group of 1 scores each query by itself (NSA's per-query
selection: the layer stays causal, and decoding one token gives the same blocks as the full forward), a
group of block_size gives one selection per query block (NSA/Quest-style tiles; cheaper prefill, but a
token's blocks then depend on the later queries of its block). Selection is per key/value head: the score of
a kv head aggregates its n_rep query heads, so the query heads of one GQA group share blocks and K/V are
gathered once per group.

Scores (`Options.score`):
- "mean" (default; NSA-like): summary = mean of the block's keys. For every query and query head, a softmax
  over the candidates' logits q . mean_k / sqrt(D) estimates which share of the softmax mass each block
  holds (exp of the mean logit is a Jensen lower bound of a block's mean exp, the same for every block of
  equal size); the importance of a (query block, key block) is the sum of those shares over the block's
  queries and the group's heads, i.e. the expected mass the group would lose by skipping it.
- "quest" (Quest): summary = per-channel max and min of the block's keys; sum_d max(q_d max_d, q_d min_d)
  is an upper bound of q . k over the block; importance = max of the bound over queries and heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

SCORES = ("mean", "quest")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class Options:
    """Options of a sparse attention layer (plain JSON values, validated here).

    block_size 64: the tile of the block gather / FlexAttention; big enough that a gathered block is a
        dense matmul, small enough that 16 blocks are a small share of 16k tokens (256 blocks).
    top_k 16: scored blocks per query block; with sink 1 + local 2 a query sees at most 19 * 64 = 1216
        keys: ~41% of causal dense compute skipped at 4k, ~85% at 16k, ~93% at 32k.
    local_blocks 2: own block + the previous one, so every query sees at least its last block_size keys.
    sink_blocks 1: the first block always (attention sinks carry much of the softmax mass).
    dense_below None: sequences with S <= this use dense attention; None = block_size * (top_k +
        local_blocks + sink_blocks), below which sparse would keep (almost) every block anyway.
    score "mean": see the module docstring ("mean" or "quest").
    query_group 1: queries at positions p with equal p // query_group share one selection (a divisor of
        block_size). 1 = every query picks its own blocks from its own q, so a token's output depends on no
        later token (causal LM; KV-cached decode gives exactly the full forward's logits). block_size = one
        selection per query block from all its queries (NSA-style, cheaper prefill, but a token's blocks
        then depend on later queries of its block, so decode, which sees one query, differs from prefill).
    query_chunk 32: query blocks per step of the CPU fast path (bounds its gathered K/V memory at 32k).
    """

    block_size: int = 64
    top_k: int = 16
    local_blocks: int = 2
    sink_blocks: int = 1
    dense_below: int | None = None
    score: str = "mean"
    query_group: int = 1
    query_chunk: int = 32

    def __post_init__(self) -> None:
        for name, low in (("block_size", 1), ("top_k", 0), ("local_blocks", 1), ("sink_blocks", 0),
                          ("query_group", 1), ("query_chunk", 1)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ValueError(f"sparse attention: {name}={value!r} must be an int >= {low}")
        if self.dense_below is not None and (not _is_int(self.dense_below) or self.dense_below < 0):
            raise ValueError(f"sparse attention: dense_below={self.dense_below!r} must be an int >= 0 or None")
        if self.block_size % self.query_group:
            raise ValueError(
                f"sparse attention: query_group={self.query_group} must divide block_size={self.block_size}"
            )
        if self.score not in SCORES:
            raise ValueError(f"sparse attention: score={self.score!r} must be one of {SCORES}")

    @property
    def dense_threshold(self) -> int:
        """S at or below which a layer attends densely."""
        if self.dense_below is not None:
            return self.dense_below
        return self.block_size * (self.top_k + self.local_blocks + self.sink_blocks)

    @property
    def max_blocks(self) -> int:
        """Most key blocks one query block attends."""
        return self.top_k + self.local_blocks + self.sink_blocks


def num_blocks(n: int, block_size: int) -> int:
    return -(-n // block_size)


def query_positions(
    q: Tensor, s: int, mask: Tensor | None, q_positions: Tensor | None
) -> Tensor:
    """(B, T) long absolute positions of the queries: as given; else the last slot each query may attend in
    `mask` (the caches' masks are "slot <= position"); else S - T + arange(T) (queries are the last T keys)."""
    b, _, t, _ = q.shape
    if q_positions is not None:
        if q_positions.shape != (b, t):
            raise ValueError(f"sparse attention: q_positions {tuple(q_positions.shape)} must be ({b}, {t})")
        return q_positions.to(device=q.device, dtype=torch.long)
    if mask is not None:
        m = mask[:, 0].expand(b, t, s)  # (B, T, S)
        last = s - 1 - m.flip(-1).to(torch.uint8).argmax(-1)  # (B, T) last True slot
        return last.to(torch.long)
    return (s - t + torch.arange(t, device=q.device))[None, :].expand(b, t)


def pool_blocks(blocks: Tensor, score: str) -> Tensor:
    """blocks (..., n, bs, D) of complete blocks -> summaries (..., n, C, D) float32 (C = 1 mean, 2 max/min)."""
    blocks = blocks.float()
    if score == "mean":
        return blocks.mean(dim=-2, keepdim=True)
    return torch.stack((blocks.amax(dim=-2), blocks.amin(dim=-2)), dim=-2)


def block_summaries(k: Tensor, options: Options, key_valid: Tensor | None = None) -> Tensor:
    """k (B, Hkv, S, D) -> (B, Hkv, nKB, C, D) float32 summaries of every block (the last one over the keys
    it has). key_valid (B, S) bool: only valid keys are pooled (a block without any gets zeros)."""
    b, hkv, s, d = k.shape
    bs = options.block_size
    nkb = num_blocks(s, bs)
    full = s // bs
    parts = []
    if key_valid is None:
        if full:
            parts.append(pool_blocks(k[:, :, : full * bs].reshape(b, hkv, full, bs, d), options.score))
        if full < nkb:  # partial last block
            parts.append(pool_blocks(k[:, :, full * bs :][:, :, None], options.score))
        return torch.cat(parts, dim=2)
    pad = nkb * bs - s
    kf = torch.nn.functional.pad(k.float(), (0, 0, 0, pad)).reshape(b, hkv, nkb, bs, d)
    valid = torch.nn.functional.pad(key_valid, (0, pad)).reshape(b, 1, nkb, bs, 1)  # (B, 1, nKB, bs, 1)
    count = valid.sum(dim=-2, keepdim=True)  # (B, 1, nKB, 1, 1)
    if options.score == "mean":
        out = (kf * valid).sum(dim=-2, keepdim=True) / count.clamp(min=1)
    else:
        hi = kf.masked_fill(~valid, float("-inf")).amax(dim=-2)
        lo = kf.masked_fill(~valid, float("inf")).amin(dim=-2)
        out = torch.stack((hi, lo), dim=-2)
    return out.masked_fill(count == 0, 0.0)


def select_local(
    q: Tensor,
    summaries: Tensor,
    q_pos: Tensor,
    n_keys: int,
    options: Options,
    *,
    block_ok: Tensor | None = None,
    chunk: int = 2048,
) -> tuple[Tensor, Tensor]:
    """Selection for the query groups the queries fall in (group of a query at p: p // query_group).

    q (B, H, T, D); summaries (B, Hkv, n, C, D) of key blocks 0 .. n-1 (n may be fewer than the S keys'
    blocks as long as every candidate block is summarised, e.g. the complete blocks of a decode cache);
    q_pos (B, T) long; n_keys S; block_ok (B, nKB) bool or None: blocks that hold a valid key.
    Returns (sel (B, Hkv, nG, nKB) bool, g0 (B,) long): row i of sel is absolute query group g0 + i."""
    b, h, t, d = q.shape
    hkv = summaries.shape[1]
    n_rep = h // hkv
    bs = options.block_size
    g = options.query_group
    nkb = num_blocks(n_keys, bs)
    n_sum = min(summaries.shape[2], nkb)
    dev = q.device
    qb = q_pos // bs  # (B, T) absolute query block
    qg = q_pos // g  # (B, T) absolute query group
    qg0 = qg.min(dim=1).values  # (B,)
    ql = qg - qg0[:, None]  # (B, T) local query group
    nql = int(ql.max()) + 1
    blocks = torch.arange(nkb, device=dev)  # (nKB,)
    qb_abs = (qg0[:, None] + torch.arange(nql, device=dev)[None, :]) * g // bs  # (B, nG) block of each group
    cand = (blocks >= options.sink_blocks) & (blocks[None, None, :] <= (qb_abs - options.local_blocks)[..., None])
    cand &= blocks < n_sum  # (B, nG, nKB)
    if block_ok is not None:
        cand &= block_ok[:, None, :nkb]
    forced = (blocks[None, None, :] <= qb_abs[..., None]) & (
        (blocks < options.sink_blocks) | (blocks[None, None, :] > (qb_abs - options.local_blocks)[..., None])
    )  # (B, nG, nKB)
    k_eff = min(options.top_k, nkb)
    if k_eff == 0 or not bool(cand.any()):
        return forced[:, None].expand(b, hkv, nql, nkb).clone(), qg0
    summ = summaries[:, :, :n_sum].transpose(-1, -2)  # (B, Hkv, n, D, C) -> per channel c: (B, Hkv, D, n)
    summ = summ.permute(0, 1, 4, 3, 2)  # (B, Hkv, C, D, n)
    scale = 1.0 / math.sqrt(d)
    mean_score = options.score == "mean"
    imp = torch.full((b, hkv, nql, n_sum), 0.0 if mean_score else float("-inf"), dtype=torch.float32, device=dev)
    j = torch.arange(n_sum, device=dev)
    for t0 in range(0, t, chunk):
        t1 = min(t, t0 + chunk)
        tc = t1 - t0
        qc = q[:, :, t0:t1].float().reshape(b, hkv, n_rep * tc, d)  # (B, Hkv, r*tc, D), heads of a group
        # candidates of each query: blocks sink .. own block - local (same for all queries of a block)
        c = (j >= options.sink_blocks) & (j[None, None, :] <= (qb[:, t0:t1] - options.local_blocks)[..., None])
        if block_ok is not None:
            c = c & block_ok[:, None, :n_sum]
        bias = torch.zeros(c.shape, device=dev).masked_fill_(~c, -1e30)[:, None, None]  # (B, 1, 1, tc, n)
        if mean_score:  # share of each candidate in a softmax over the candidates, summed over the r heads
            logits = torch.matmul(qc, summ[:, :, 0]).mul_(scale).view(b, hkv, n_rep, tc, n_sum).add_(bias)
            agg = torch.softmax(logits, dim=-1).sum(dim=2)  # (B, Hkv, tc, n)
        else:  # Quest bound, max over the r heads
            bound = torch.matmul(qc.clamp(min=0), summ[:, :, 0]).add_(torch.matmul(qc.clamp(max=0), summ[:, :, 1]))
            agg = bound.view(b, hkv, n_rep, tc, n_sum).add_(bias).amax(dim=2)  # (B, Hkv, tc, n)
        for i in range(b):
            if mean_score:
                imp[i].index_add_(1, ql[i, t0:t1], agg[i])
            else:
                index = ql[i, None, t0:t1, None].expand(hkv, tc, n_sum)
                imp[i].scatter_reduce_(1, index, agg[i], reduce="amax")
    if n_sum < nkb:
        imp = torch.nn.functional.pad(imp, (0, nkb - n_sum), value=float("-inf"))
    imp = imp.masked_fill(~cand[:, None], float("-inf"))  # (B, Hkv, nQL, nKB)
    top = imp.topk(k_eff, dim=-1).indices  # (B, Hkv, nQL, k)
    chosen = torch.zeros(b, hkv, nql, nkb, dtype=torch.bool, device=dev).scatter_(-1, top, True)
    return (chosen & cand[:, None]) | forced[:, None], qg0


def select_blocks(
    q: Tensor,
    k: Tensor,
    options: Options,
    *,
    q_positions: Tensor | None = None,
    key_valid: Tensor | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Which key blocks each query block attends, per kv head.

    q (B, H, T, D), k (B, Hkv, S, D); q_positions (B, T) long (default: from `mask`, else the last T slots);
    key_valid (B, S) bool: keys that may be attended at all (pooled summaries skip the others).
    Returns bool (B, Hkv, nQB, nKB) with nQB = nKB = ceil(S / block_size) (indexed by absolute block): the
    union over the block's query groups (with query_group < block_size each query uses its own group's
    subset of its block's row); rows of query blocks holding none of the T queries are False."""
    s = k.shape[2]
    q_pos = query_positions(q, s, mask, q_positions)
    summ = block_summaries(k, options, key_valid)
    block_ok = None
    if key_valid is not None:
        nkb = num_blocks(s, options.block_size)
        pad = nkb * options.block_size - s
        block_ok = torch.nn.functional.pad(key_valid, (0, pad)).reshape(key_valid.shape[0], nkb, -1).any(-1)
    sel, g0 = select_local(q, summ, q_pos, s, options, block_ok=block_ok)
    return block_union(sel, g0, q_pos, options)


def block_union(sel: Tensor, g0: Tensor, q_pos: Tensor, options: Options) -> Tensor:
    """Per query block, the union of its query groups' selections: (B, Hkv, nQB, nKB) bool indexed by
    absolute query block (nQB >= nKB); only groups holding one of the queries q_pos (B, T) count.
    sel (B, Hkv, nG, nKB), g0 (B,) as from `select_local`."""
    b, hkv, ng, nkb = sel.shape
    dev = sel.device
    blk = (g0[:, None] + torch.arange(ng, device=dev)[None, :]) * options.query_group // options.block_size
    nqb = max(nkb, int(blk.max()) + 1)
    count = torch.zeros(b, hkv, nqb, nkb, dtype=torch.int32, device=dev)
    present = torch.zeros(b, ng, dtype=torch.bool, device=dev)  # groups holding one of the T queries
    present.scatter_(1, q_pos // options.query_group - g0[:, None], True)
    for i in range(b):
        count[i].index_add_(1, blk[i][present[i]], sel[i][:, present[i]].to(torch.int32))
    return count > 0


def token_mask(sel: Tensor, g0: Tensor, q_pos: Tensor, n_keys: int, n_rep: int, options: Options) -> Tensor:
    """Selected blocks as a (B, H, T, S) bool token mask, ANDed with causal (slot <= query position).
    sel (B, Hkv, nG, nKB), g0 (B,) as from `select_local`."""
    b, hkv, ng, nkb = sel.shape
    t = q_pos.shape[1]
    ql = q_pos // options.query_group - g0[:, None]  # (B, T)
    rows = sel.gather(2, ql[:, None, :, None].expand(b, hkv, t, nkb))  # (B, Hkv, T, nKB)
    tok = rows.repeat_interleave(options.block_size, dim=-1)[..., :n_keys]  # (B, Hkv, T, S)
    causal = torch.arange(n_keys, device=sel.device)[None, None, :] <= q_pos[:, :, None]  # (B, T, S)
    tok = tok & causal[:, None]
    return tok.repeat_interleave(n_rep, dim=1)  # (B, H, T, S)
