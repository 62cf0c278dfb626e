"""bench/sparse_stats.py: exact skipped fraction from the selection, and sampled stats, against
modelcore.attention.sparse.attention_stats on small random tensors."""

from __future__ import annotations

import pytest
import torch

from bench.sparse_stats import block_union_skipped_fraction, exact_skipped_fraction, long_stats, sample_chunks
from modelcore.attention import sparse


def qkv(t: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 4, t, 16, generator=gen)
    k = torch.randn(1, 2, t, 16, generator=gen)
    v = torch.randn(1, 2, t, 16, generator=gen)
    return q, k, v


@pytest.mark.parametrize("t", [256, 250])  # whole blocks, and a partial last block
@pytest.mark.parametrize("group", [1, 4, 16])  # per query, groups of 4, one selection per block
def test_exact_skipped_fraction_matches_attention_stats(t, group):
    q, k, v = qkv(t)
    options = sparse.Options(block_size=16, top_k=3, local_blocks=1, sink_blocks=1, dense_below=0,
                             query_group=group)
    exact = exact_skipped_fraction(q, k, options, rows=5)
    full = sparse.attention_stats(q, k, v, options, chunk=32)
    assert 0.3 < exact < 0.9
    assert exact == pytest.approx(full["skipped_fraction"], abs=1e-12)


def test_sample_chunks_whole_aligned_chunks_spread_over_the_window():
    pos = sample_chunks(1024, 256, chunk=128)
    assert pos.numel() == 256
    assert pos[0] == 0 and pos[-1] == 1023  # first and last chunk
    assert bool((pos.view(-1, 128)[:, 0] % 128 == 0).all())
    assert torch.equal(sample_chunks(1000, 5000, chunk=128), torch.arange(1000))


def test_long_stats_sampled_equals_full_when_all_sampled_and_close_otherwise():
    t = 512
    q, k, v = qkv(t, seed=1)
    options = sparse.Options(block_size=16, top_k=4, local_blocks=1, sink_blocks=1, dense_below=0)
    full = sparse.attention_stats(q, k, v, options, chunk=32)
    every = long_stats(q, k, v, options, n_queries=t, chunk=32)
    assert every["sampled_queries"] == t
    assert every["cosine"] == pytest.approx(full["cosine"], abs=1e-9)
    assert every["mass"] == pytest.approx(full["mass"], abs=1e-9)
    part = long_stats(q, k, v, options, n_queries=128, chunk=32)
    assert part["sampled_queries"] == 128
    assert part["skipped_fraction"] == pytest.approx(full["skipped_fraction"], abs=1e-12)  # exact anyway
    assert abs(part["cosine"] - full["cosine"]) < 0.05
    # whole sampled query blocks get the selection the full computation gives them: same outputs
    pos = sample_chunks(t, 128, 32)
    whole = sparse.sparse_attention_reference(q, k, v, options)[:, :, pos]
    sampled = sparse.sparse_attention_reference(q[:, :, pos], k, v, options, q_positions=pos[None])
    torch.testing.assert_close(sampled, whole)


def test_long_stats_reports_dense_below_threshold():
    q, k, v = qkv(64)
    r = long_stats(q, k, v, sparse.Options(block_size=16, top_k=8), n_queries=64, chunk=32)
    assert r["skipped_fraction"] == 0.0 and r["dense_at_this_length"]


def test_block_union_fraction_counts_whole_union_blocks():
    t = 256
    q, k, _ = qkv(t, seed=2)
    per_query = sparse.Options(block_size=16, top_k=3, local_blocks=1, sink_blocks=1, dense_below=0)
    per_block = sparse.Options(block_size=16, top_k=3, local_blocks=1, sink_blocks=1, dense_below=0,
                               query_group=16)
    # one selection per block: the union is the selection; whole own blocks count bs*bs instead of bs(bs+1)/2
    nqb = t // 16
    own_half = nqb * (16 * 16 - 16 * 17 / 2) * 2 / (2 * t * (t + 1) / 2)  # 2 kv heads
    assert block_union_skipped_fraction(q, k, per_block) == pytest.approx(
        exact_skipped_fraction(q, k, per_block) - own_half, abs=1e-12)
    # per-query selections: the union of a block's queries covers at least what any one query sees
    assert block_union_skipped_fraction(q, k, per_query) < exact_skipped_fraction(q, k, per_query) - own_half
