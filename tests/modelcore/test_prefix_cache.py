"""Prefix caching (modelcore.prefix_cache): a request whose prompt starts like an earlier one reuses that prefix's
KV, and its tokens are still the model's own (the uncached greedy reference); adapters never share KV."""
from __future__ import annotations

import pytest
import torch

from modelcore.batch_cache import BatchKVCache
from modelcore.checkpoint import load_model
from modelcore.engine import Engine, SamplingParams
from modelcore.prefix_cache import PrefixCache
from tests.modelcore.test_engine_adapters import adapters, merged_greedy  # noqa: F401  (fixture)

GREEDY = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)
BLOCK = 16


def ids(n: int, seed: int) -> list[int]:
    return torch.randint(3, 320, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


def fake_kv(start: int, end: int) -> torch.Tensor:
    """(L=2, 2, Hkv=1, T, D=3) whose values name their slot, so a match shows which slots it returned."""
    slots = torch.arange(start, end, dtype=torch.float32)
    return slots[None, None, None, :, None].expand(2, 2, 1, end - start, 3).clone()


# ------------------------------------------------------------------------------------------------ the store
def test_match_returns_whole_blocks_and_leaves_a_token_to_compute():
    cache = PrefixCache(1 << 20, block_size=4)
    prompt = ids(13, 1)
    assert cache.insert(None, prompt, 13, fake_kv) == 3  # 12 tokens in 3 blocks; the 13th is no whole block
    n, kv = cache.match(None, prompt)
    assert n == 12 and kv[0, 0, 0, :, 0].tolist() == list(range(12))
    n, _ = cache.match(None, prompt[:12])  # the whole prompt cached: its last block is computed again
    assert n == 8
    n, _ = cache.match(None, prompt[:6] + [999] + prompt[7:])  # differs in block 1: block 0 only
    assert n == 4
    assert cache.match(None, [999] + prompt[1:]) == (0, None)
    assert cache.match(("a", "/adapters/a"), prompt) == (0, None)  # another adapter: other K and V
    stats = cache.stats()
    assert (stats.blocks, stats.hit_tokens, stats.lookups) == (3, 12 + 8 + 4, 5)


def test_least_recently_used_blocks_go_first_within_the_budget():
    block_bytes = fake_kv(0, 4).numel() * 4
    cache = PrefixCache(3 * block_bytes, block_size=4)
    a, b = ids(9, 1), ids(9, 2)
    cache.insert(None, a, 8, fake_kv)  # a0 a1
    cache.match(None, a)  # a0 a1 used again
    cache.insert(None, b, 8, fake_kv)  # b0 takes the 3rd place, b1 evicts a0 (the oldest)
    assert cache.stats().bytes == 3 * block_bytes
    assert cache.match(None, a)[0] == 0  # a's chain starts at a0: gone
    assert cache.match(None, b)[0] == 8


def test_bad_budgets_are_refused():
    with pytest.raises(ValueError):
        PrefixCache(0)
    with pytest.raises(ValueError):
        PrefixCache(1 << 20, block_size=0)


@torch.inference_mode()
def test_batch_cache_reads_and_writes_a_rows_slots():
    model = load_model("tiny-gqa")
    cache = BatchKVCache(model.config, max_rows=2, max_len=64, chunk=8)
    prompt = ids(20, 3)
    row = cache.add_row()
    model.model(torch.tensor([prompt]), cache.begin_prefill(row, 20), cache)
    cache.commit()
    kv = cache.read_slots(row, 0, 16)
    cfg = model.config
    assert kv.shape == (cfg.num_hidden_layers, 2, cfg.num_key_value_heads, 16, cfg.head_dim)
    other = cache.add_row()
    cache.write_prefix(other, kv)
    assert cache.lengths == [20, 16]
    torch.testing.assert_close(cache.read_slots(other, 0, 16), kv, rtol=0, atol=0)
    with pytest.raises(ValueError, match="already holds"):
        cache.write_prefix(row, kv)
    with pytest.raises(IndexError):
        cache.read_slots(other, 0, 17)


# ------------------------------------------------------------------------------------------------ the engine
def test_a_shared_prefix_is_computed_once_and_the_tokens_are_the_models():
    model = load_model("tiny-gqa")
    engine = Engine(model, None, max_batch_size=2, prefix_cache_bytes=1 << 24, prefix_block=BLOCK,
                    prefill_chunk=24)
    shared = ids(70, 4)  # 4 whole blocks of 16, and more
    first, second, third = shared + ids(9, 5), shared + ids(30, 6), shared[:40] + ids(12, 7)
    done = [engine.generate(p, GREEDY) for p in (first, second, third)]
    assert [c.cached_tokens for c in done] == [0, 64, 32]
    for prompt, completion in zip((first, second, third), done, strict=True):
        assert completion.token_ids == merged_greedy(None, prompt, 8)
    stats = engine.stats()
    assert stats.prefix_cache_hit_tokens == 96 and stats.prefix_cache_bytes > 0


def test_requests_in_one_batch_share_what_the_first_computed():
    engine = Engine(load_model("tiny-gqa"), None, max_batch_size=4, prefix_cache_bytes=1 << 24, prefix_block=BLOCK)
    shared = ids(50, 8)
    first = engine.submit(shared + ids(5, 9), GREEDY)
    engine.step()  # the first prompt prefilled (50 + 5 tokens < one prefill chunk): 3 blocks kept
    later = [engine.submit(shared + ids(5, s), GREEDY) for s in (10, 11)]
    engine.run_until_idle()
    assert first.wait().cached_tokens == 0
    assert [h.wait().cached_tokens for h in later] == [48, 48]


def test_adapters_never_share_a_prefix(adapters):  # noqa: F811
    engine = Engine(load_model("tiny-gqa"), None, max_batch_size=2, max_adapters=2, prefix_cache_bytes=1 << 24,
                    prefix_block=BLOCK)
    prompt = ids(40, 12)

    def generate(adapter):
        handle = engine.submit(prompt, GREEDY, adapter=adapter)
        engine.run_until_idle()
        return handle.wait()

    base = generate(None)
    with_a = generate(("a", adapters["a"]))
    again_a = generate(("a", adapters["a"]))
    with_b = generate(("b", adapters["b"]))
    assert [c.cached_tokens for c in (base, with_a, again_a, with_b)] == [0, 0, 32, 0]
    assert again_a.token_ids == with_a.token_ids == merged_greedy(adapters["a"], prompt, 8)
    assert with_b.token_ids == merged_greedy(adapters["b"], prompt, 8)
