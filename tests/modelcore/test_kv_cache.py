"""Cached decoding through DenseKVCache equals a full forward pass."""

import pytest
import torch

from modelcore import DenseKVCache, KVCache, ModelConfig, Transformer


def _model(name: str, attn_impl: str) -> Transformer:
    model = Transformer(ModelConfig.from_name(name), attn_impl=attn_impl).eval()
    model.init_weights(std=0.15, generator=torch.Generator().manual_seed(0))
    return model


def test_dense_cache_satisfies_protocol():
    assert isinstance(DenseKVCache(ModelConfig.from_name("tiny"), 1, 8), KVCache)


@pytest.mark.parametrize("attn_impl", ["sdpa", "eager"])
@pytest.mark.parametrize("name", ["tiny", "tiny-gqa", "tiny-tied"])
def test_prefill_then_decode_matches_full_forward(name, attn_impl):
    model = _model(name, attn_impl)
    cfg = model.config
    ids = torch.randint(0, cfg.vocab_size, (2, 14), generator=torch.Generator().manual_seed(1))
    prompt_len = 6
    with torch.no_grad():
        full = model(ids)  # (B, T, V)
        cache = DenseKVCache(cfg, batch_size=2, max_len=32)
        positions = cache.next_positions(prompt_len)
        cache.begin(positions)
        got = [model(ids[:, :prompt_len], positions, kv_cache=cache)]
        cache.advance(prompt_len)
        for t in range(prompt_len, ids.shape[1]):
            positions = cache.next_positions(1)
            cache.begin(positions)
            got.append(model(ids[:, t : t + 1], positions, kv_cache=cache))
            cache.advance(1)
    torch.testing.assert_close(torch.cat(got, dim=1), full)
    assert cache.lengths.tolist() == [14, 14]


@pytest.mark.parametrize("attn_impl", ["sdpa", "eager"])
def test_rows_of_different_lengths(attn_impl):
    model = _model("tiny-gqa", attn_impl)
    cfg = model.config
    g = torch.Generator().manual_seed(2)
    prompts = [torch.randint(0, cfg.vocab_size, (n,), generator=g) for n in (5, 9, 2)]
    steps = 4
    continuations = torch.randint(0, cfg.vocab_size, (3, steps), generator=g)
    with torch.no_grad():
        # Each row alone, uncached: its own reference logits over prompt + continuation.
        refs = [model(torch.cat([p, c])[None])[0] for p, c in zip(prompts, continuations, strict=True)]

        cache = DenseKVCache(cfg, batch_size=3, max_len=24)
        t_max = max(len(p) for p in prompts)
        batch = torch.zeros(3, t_max, dtype=torch.long)  # right-padded with token 0
        for b, p in enumerate(prompts):
            batch[b, : len(p)] = p
        positions = cache.next_positions(t_max)  # padding sits at later positions than the real tokens
        cache.begin(positions)
        logits = model(batch, positions, kv_cache=cache)
        lengths = torch.tensor([len(p) for p in prompts])
        cache.advance(lengths)
        for b, p in enumerate(prompts):
            torch.testing.assert_close(logits[b, : len(p)], refs[b][: len(p)])

        for s in range(steps):
            positions = cache.next_positions(1)  # each row continues at its own length
            cache.begin(positions)
            logits = model(continuations[:, s : s + 1], positions, kv_cache=cache)
            cache.advance(1)
            for b, p in enumerate(prompts):
                torch.testing.assert_close(logits[b, 0], refs[b][len(p) + s])
    assert cache.lengths.tolist() == [5 + steps, 9 + steps, 2 + steps]


def test_begin_rejects_positions_beyond_max_len():
    cache = DenseKVCache(ModelConfig.from_name("tiny"), batch_size=1, max_len=4)
    with pytest.raises(ValueError, match="max_len|\\[0, 4\\)"):
        cache.begin(torch.tensor([[3, 4]]))


def test_update_without_begin_raises():
    cfg = ModelConfig.from_name("tiny")
    cache = DenseKVCache(cfg, batch_size=1, max_len=4)
    k = torch.zeros(1, cfg.num_key_value_heads, 1, cfg.head_dim)
    with pytest.raises(RuntimeError, match="begin"):
        cache.update(0, k, k)
