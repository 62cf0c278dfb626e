"""Dynamic sparse attention (kind "sparse"): fast path, decode and FlexAttention against the eager reference,
block selection rules, causality, stats, options, and a tiny model with sparse layers (caches, engine)."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch

from modelcore.attention.dense import eager_attention
from modelcore.attention.kinds import parse_options
from modelcore.attention.sparse import (
    LayerKernel,
    Options,
    attention_stats,
    select_blocks,
    sparse_attention,
    sparse_attention_reference,
    sparse_decode_attention,
)
from modelcore.batch_cache import BatchKVCache
from modelcore.config import ModelConfig
from modelcore.engine import Engine, SamplingParams
from modelcore.kv_cache import DenseKVCache
from modelcore.model import Transformer

SMALL = dict(block_size=16, top_k=3, local_blocks=2, sink_blocks=1)


def qkv(seed: int, b: int, h: int, hkv: int, t: int, s: int, d: int = 32, peaky: float = 2.0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(b, h, t, d, generator=g) * peaky  # peaky: softmax far from uniform, selection matters
    k = torch.randn(b, hkv, s, d, generator=g)
    v = torch.randn(b, hkv, s, d, generator=g)
    return q, k, v


def causal_mask(t: int, s: int, positions: torch.Tensor | None = None) -> torch.Tensor:
    """(1|B, 1, T, S) 'slot <= position' mask of the caches; positions default S-T .. S-1."""
    if positions is None:
        positions = (s - t + torch.arange(t))[None]
    return (torch.arange(s)[None, None, :] <= positions[:, :, None])[:, None]


# ------------------------------------------------------------------------------------ fast == reference
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("t, s", [(256, 256), (250, 250), (100, 300), (37, 300)])
@pytest.mark.parametrize("extra", [{}, {"score": "quest"}, {"query_group": 16}, {"query_group": 4}])
def test_fast_prefill_equals_reference_gqa(seed, t, s, extra):
    opts = Options(**SMALL, **extra)
    q, k, v = qkv(seed, 2, 6, 2, t, s)
    mask = None if t == s else causal_mask(t, s)
    ref = sparse_attention_reference(q, k, v, opts, mask)
    torch.testing.assert_close(sparse_attention(q, k, v, opts, mask), ref, rtol=1e-5, atol=1e-5)


def test_fast_prefill_with_a_mask_beyond_causal_and_rows_at_different_offsets():
    opts = Options(**SMALL)
    q, k, v = qkv(3, 2, 6, 2, 40, 200)
    positions = torch.stack([160 + torch.arange(40), 100 + torch.arange(40)])  # row 1 right-padded in slots
    mask = causal_mask(40, 200, positions)
    mask = mask & (torch.rand(2, 1, 1, 200, generator=torch.Generator().manual_seed(0)) > 0.2)  # holes
    mask[..., 0] = True
    ref = sparse_attention_reference(q, k, v, opts, mask, q_positions=positions)
    fast = sparse_attention(q, k, v, opts, mask, q_positions=positions)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)


def test_flex_attention_path_equals_reference_on_cpu_uncompiled():
    # FlexAttention without torch.compile (its unfused CPU implementation) checks the block mask / mask_mod
    # logic; the compiled kernel runs on CUDA only (no GPU here).
    opts = Options(**SMALL)
    for t, s in [(128, 128), (50, 160)]:
        q, k, v = qkv(4, 1, 6, 2, t, s)
        mask = None if t == s else causal_mask(t, s)
        ref = sparse_attention_reference(q, k, v, opts, mask)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "called without torch.compile()" (intended here)
            flex = sparse_attention(q, k, v, opts, mask, backend="flex_eager")
        torch.testing.assert_close(flex, ref, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------------------ decode
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("score", ["mean", "quest"])
def test_decode_equals_reference_row_for_row(seed, score):
    opts = Options(**SMALL, score=score)
    s = 300
    q, k, v = qkv(seed, 4, 6, 2, 1, s)
    lengths = torch.tensor([299, 150, 40, 16])  # query slot of each row; rows of different lengths
    mask = (torch.arange(s)[None, :] <= lengths[:, None])[:, None, None, :]  # (R, 1, 1, S)
    out = sparse_decode_attention(q, k, v, opts, mask)
    for r in range(4):
        n = int(lengths[r]) + 1
        ref = sparse_attention_reference(q[r : r + 1], k[r : r + 1, :, :n], v[r : r + 1, :, :n], opts,
                                         q_positions=torch.tensor([[n - 1]]))
        torch.testing.assert_close(out[r : r + 1], ref, rtol=1e-5, atol=1e-5)
    ref_all = sparse_attention_reference(q, k, v, opts, mask)  # the batched oracle agrees as well
    torch.testing.assert_close(out, ref_all, rtol=1e-5, atol=1e-5)


def test_decode_equals_prefill_at_the_same_position_with_per_query_selection():
    opts = Options(**SMALL)  # query_group 1: a token's blocks depend on its own query only
    q, k, v = qkv(5, 1, 6, 2, 200, 200)
    full = sparse_attention(q, k, v, opts)
    for p in (60, 131, 199):
        one = sparse_decode_attention(q[:, :, p : p + 1], k[:, :, : p + 1], v[:, :, : p + 1], opts)
        torch.testing.assert_close(one[:, :, 0], full[:, :, p], rtol=1e-5, atol=1e-5)


def test_decode_with_cached_summaries_equals_without():
    from modelcore.attention.sparse_select import block_summaries

    opts = Options(**SMALL)
    q, k, v = qkv(6, 1, 6, 2, 1, 250)
    summ = block_summaries(k, opts)[:, :, : 249 // 16]  # only the complete blocks before the query
    torch.testing.assert_close(
        sparse_decode_attention(q, k, v, opts, summaries=summ), sparse_decode_attention(q, k, v, opts)
    )


# ------------------------------------------------------------------------------- selection and causality
@pytest.mark.parametrize("query_group", [1, 16])
def test_sink_and_local_always_selected_never_a_future_block(query_group):
    opts = Options(**SMALL, query_group=query_group)
    q, k, v = qkv(7, 2, 6, 2, 256, 256)
    sel = select_blocks(q, k, opts)  # (B, Hkv, nQB, nKB)
    n = 256 // 16
    assert sel.shape == (2, 2, n, n)
    i = torch.arange(n)
    future = i[None, :] > i[:, None]
    assert not sel[:, :, future].any()
    assert sel[..., 0].all()  # sink
    assert sel[:, :, i, i].all() and sel[:, :, i[1:], i[1:] - 1].all()  # own block and the one before
    if query_group == 16:  # one selection per block: exactly min(own+1, sink + local + top_k) blocks
        assert (sel.sum(-1) == torch.clamp(i + 1, max=opts.max_blocks)).all()
    else:  # union of 16 per-query selections
        assert (sel.sum(-1) >= torch.clamp(i + 1, max=opts.max_blocks)).all()


def test_top_k_zero_keeps_exactly_sink_and_local():
    opts = Options(block_size=16, top_k=0, local_blocks=2, sink_blocks=1)
    q, k, _ = qkv(8, 1, 6, 2, 160, 160)
    sel = select_blocks(q, k, opts)[0, 0]
    i = torch.arange(10)
    expected = (i[None, :] == 0) | ((i[None, :] <= i[:, None]) & (i[None, :] >= i[:, None] - 1))
    assert torch.equal(sel, expected)


@pytest.mark.parametrize("seed", [0, 1])
def test_changing_future_keys_and_values_leaves_earlier_outputs(seed):
    opts = Options(**SMALL)
    q, k, v = qkv(seed, 1, 6, 2, 256, 256)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, 150:] = torch.randn_like(k2[:, :, 150:]) * 5
    v2[:, :, 150:] = torch.randn_like(v2[:, :, 150:]) * 5
    for fn in (sparse_attention, sparse_attention_reference):
        a, b = fn(q, k, v, opts), fn(q, k2, v2, opts)
        torch.testing.assert_close(a[:, :, :150], b[:, :, :150], rtol=1e-5, atol=1e-5)
        assert not torch.allclose(a[:, :, 150:], b[:, :, 150:])
    # per-query selection: a later query does not change an earlier token's output either
    q2 = q.clone()
    q2[:, :, 150:] = torch.randn_like(q2[:, :, 150:]) * 5
    torch.testing.assert_close(sparse_attention(q2, k, v, opts)[:, :, :150],
                               sparse_attention(q, k, v, opts)[:, :, :150], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t, s", [(256, 256), (100, 300)])
def test_top_k_covering_every_block_is_dense_attention(t, s):
    opts = Options(block_size=16, top_k=64, local_blocks=1, sink_blocks=1)
    q, k, v = qkv(9, 2, 6, 2, t, s)
    mask = None if t == s else causal_mask(t, s)
    dense = eager_attention(q, k, v, mask if mask is not None else causal_mask(t, s))
    torch.testing.assert_close(sparse_attention(q, k, v, opts, mask), dense, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_attention_reference(q, k, v, opts, mask), dense, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------------------------- stats
def test_stats_when_nothing_is_skipped():
    opts = Options(block_size=16, top_k=64, local_blocks=1, sink_blocks=1)
    q, k, v = qkv(10, 1, 6, 2, 200, 200)
    st = attention_stats(q, k, v, opts, chunk=64)
    assert st["skipped_fraction"] == pytest.approx(0.0, abs=1e-12)
    assert st["mass"] == pytest.approx(1.0, abs=1e-5)
    assert st["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert st["dense_pairs"] == 6 * 200 * 201 / 2


@pytest.mark.parametrize("query_group", [1, 16])
def test_stats_skipped_fraction_and_quality_by_independent_count(query_group):
    opts = Options(**SMALL, query_group=query_group)
    b, h, hkv, t = 1, 6, 2, 256
    q, k, v = qkv(11, b, h, hkv, t, t)
    st = attention_stats(q, k, v, opts, chunk=48)
    # independent count: per query, tokens of its selected blocks at or before it, per query head
    from modelcore.attention.sparse_select import block_summaries, select_local

    sel, g0 = select_local(q, block_summaries(k, opts), torch.arange(t)[None], t, opts)
    computed = 0
    for pos in range(t):
        blocks = sel[0, :, pos // query_group - int(g0[0])]  # (Hkv, nKB)
        for kv in range(hkv):
            for j in torch.nonzero(blocks[kv]).flatten().tolist():
                computed += (h // hkv) * max(0, min(pos, j * 16 + 15) - j * 16 + 1)
    dense = h * t * (t + 1) // 2
    assert st["computed_pairs"] == computed and st["dense_pairs"] == dense
    assert st["skipped_fraction"] == pytest.approx(1 - computed / dense)
    assert 0.2 < st["skipped_fraction"] < 0.8
    # the CPU path's tile work: every query against the whole union of its block's selections
    union = select_blocks(q, k, opts)[0]  # (Hkv, nQB, nKB)
    tile = sum(int(union[kv, pos // 16].sum()) * 16 * (h // hkv) for pos in range(t) for kv in range(hkv))
    assert st["tile_skipped_fraction"] == pytest.approx(1 - tile / dense)
    if query_group == 16:  # one selection per block: the tile work only adds the own block's upper triangle
        assert tile - computed == (h // hkv) * hkv * (t // 16) * (16 * 15 // 2)
    # mass and cosine against a direct dense computation
    ref = sparse_attention_reference(q, k, v, opts)
    dense_out = eager_attention(q, k, v, None)
    cos = torch.nn.functional.cosine_similarity(ref, dense_out, dim=-1).mean()
    assert st["cosine"] == pytest.approx(float(cos), abs=1e-5)
    assert 0.0 < st["mass"] < 1.0


# --------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"block_size": 0}, "block_size"),
        ({"top_k": -1}, "top_k"),
        ({"local_blocks": 0}, "local_blocks"),
        ({"sink_blocks": -1}, "sink_blocks"),
        ({"dense_below": -5}, "dense_below"),
        ({"score": "median"}, "score"),
        ({"query_group": 3}, "query_group"),
        ({"query_chunk": 0}, "query_chunk"),
        ({"block_size": True}, "block_size"),
    ],
)
def test_bad_options_name_the_option(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Options(**kwargs)


def test_options_through_the_kind_registry():
    opts = parse_options("sparse", {"block_size": 32, "top_k": 4})
    assert opts == Options(block_size=32, top_k=4)
    assert Options().dense_threshold == 64 * (16 + 2 + 1)
    with pytest.raises(ValueError, match="top_kk"):
        parse_options("sparse", {"top_kk": 4})
    with pytest.raises(ValueError, match="kind 'sparse'"):
        ModelConfig.from_name("tiny-gqa").with_layer_attention({"kind": "sparse", "options": {"bogus": 1}})


# ---------------------------------------------------------------------------------------- tiny model
MODEL_OPTS = {"block_size": 8, "top_k": 2, "local_blocks": 1, "sink_blocks": 1, "dense_below": 24}


@pytest.fixture(scope="module")
def sparse_model():
    cfg = dataclasses.replace(ModelConfig.from_name("tiny-gqa"), max_position_embeddings=512)
    cfg = cfg.with_layer_attention({"kind": "sparse", "options": MODEL_OPTS}, layers=[1, 2])
    model = Transformer(cfg)
    model.init_weights(std=0.15, generator=torch.Generator().manual_seed(0))  # peaky attention
    return model.eval()


def ids(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(3, 320, (1, n), generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def test_model_has_sparse_kernels_and_eager_equals_sdpa(sparse_model):
    layers = sparse_model.model.layers
    assert layers[0].self_attn.kernel is None
    assert isinstance(layers[1].self_attn.kernel, LayerKernel) and isinstance(layers[2].self_attn.kernel, LayerKernel)
    x = ids(150)
    fast = sparse_model(x)
    sparse_model.set_attn_impl("eager")
    try:
        ref = sparse_model(x)
    finally:
        sparse_model.set_attn_impl("sdpa")
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-4)
    dense = Transformer(dataclasses.replace(sparse_model.config, layer_attention=()))
    dense.load_state_dict(sparse_model.state_dict())
    assert not torch.allclose(dense(x), fast, atol=1e-3)  # the sparse layers really skip something


@torch.inference_mode()
def test_model_dense_cache_decode_equals_full_forward(sparse_model):
    x = ids(140, seed=1)
    full = sparse_model(x)  # (1, 140, V)
    cache = DenseKVCache(sparse_model.config, batch_size=1, max_len=200)
    cache.begin(torch.arange(30)[None])
    out = [sparse_model(x[:, :30], torch.arange(30)[None], cache)]
    cache.advance(30)
    for p in range(30, 140):
        pos = cache.next_positions(1)
        cache.begin(pos)
        out.append(sparse_model(x[:, p : p + 1], pos, cache))
        cache.advance(1)
    torch.testing.assert_close(torch.cat(out, dim=1), full, rtol=1e-4, atol=1e-4)
    assert cache.aux  # block summaries were cached
    # rewind without truncate: rewrite from position 100 with other tokens, summaries must follow
    y = torch.cat([x[:, :100], ids(40, seed=2)], dim=1)
    for p in range(100, 140):
        pos = torch.tensor([[p]])
        cache.begin(pos)
        last = sparse_model(y[:, p : p + 1], pos, cache)
    torch.testing.assert_close(last[0, -1], sparse_model(y)[0, -1], rtol=1e-4, atol=1e-4)


@torch.inference_mode()
def test_model_batch_cache_rows_of_different_lengths_equal_full_forward(sparse_model):
    cache = BatchKVCache(sparse_model.config, max_rows=4, max_len=256, chunk=16)
    seqs = [ids(n, seed=10 + n)[0].tolist() for n in (70, 33, 120)]
    for p in seqs:
        r = cache.add_row()
        for c0 in range(0, len(p), 32):  # chunked prefill like the engine (continuation chunks: mask)
            chunk = p[c0 : c0 + 32]
            pos = cache.begin_prefill(r, len(chunk))
            sparse_model.model(torch.tensor([chunk]), pos, cache)
            cache.commit()
    for step in range(12):
        nxt = [int(3 + (step * 7 + r) % 300) for r in range(len(seqs))]
        pos = cache.begin_decode()
        logits = sparse_model.lm_head(sparse_model.model(torch.tensor(nxt)[:, None], pos, cache)[:, -1])
        cache.commit()
        for r, t in enumerate(nxt):
            seqs[r].append(t)
            ref = sparse_model(torch.tensor([seqs[r]]))[0, -1]
            torch.testing.assert_close(logits[r], ref, rtol=1e-4, atol=1e-4)
        if step == 5:  # a row leaves: aux is cleared, summaries are rebuilt
            moved = cache.remove_row(0)
            assert moved == 2
            seqs = [seqs[2], seqs[1]]


@torch.inference_mode()
def test_engine_generates_with_sparse_layers(sparse_model):
    engine = Engine(sparse_model, None, max_batch_size=2, prefill_chunk=32, kv_chunk=16)
    prompt = ids(60, seed=3)[0].tolist()
    done = engine.generate(prompt, SamplingParams(temperature=0, max_tokens=8, ignore_eos=True))
    assert len(done.token_ids) == 8
    # greedy tokens equal uncached greedy decoding with full forwards
    seq = list(prompt)
    for _ in range(8):
        seq.append(int(sparse_model(torch.tensor([seq]))[0, -1].argmax()))
    assert done.token_ids == seq[len(prompt):]


def test_layer_kernel_small_sequences_are_dense():
    from modelcore.attention.context import AttentionContext

    kernel = LayerKernel(None, 0, Options(**SMALL))
    assert not list(kernel.parameters())
    q, k, v = qkv(12, 1, 6, 2, 64, 64)
    ctx = AttentionContext(positions=torch.arange(64)[None], key_positions=torch.arange(64)[None])
    torch.testing.assert_close(kernel(q, k, v, None, ctx), eager_attention(q, k, v, None), rtol=1e-5, atol=1e-5)
    assert math.isfinite(float(kernel(q, k, v, None, ctx).sum()))


def test_key_valid_blocks_without_valid_keys_are_never_scored_in():
    opts = Options(**SMALL)
    q, k, _ = qkv(13, 1, 6, 2, 256, 256)
    k[:, :, 48:112] = k[:, :, 48:112] * 50  # blocks 3..6 would win every score
    valid = torch.ones(1, 256, dtype=torch.bool)
    valid[:, 48:112] = False
    sel = select_blocks(q, k, opts, key_valid=valid)[0]  # (Hkv, nQB, nKB)
    i = torch.arange(16)
    scored = sel & (i[None, None, :] >= 1) & (i[None, None, :] < i[None, :, None] - 1)  # not sink, not local
    assert not scored[:, :, 3:7].any()
    assert select_blocks(q, k, opts)[0][:, 10:, 3:7].any()  # without key_valid they are picked
