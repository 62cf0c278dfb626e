"""Our Transformer against transformers' LlamaForCausalLM on the same random weights (float32, CPU)."""

import dataclasses

import pytest
import torch

from modelcore import ModelConfig, RopeScaling, Transformer
from modelcore.attention import attention

transformers = pytest.importorskip("transformers")


def _configs() -> dict[str, ModelConfig]:
    tiny = ModelConfig.from_name("tiny")
    return {
        "mha": tiny,
        "gqa": ModelConfig.from_name("tiny-gqa"),
        "mqa": ModelConfig.from_name("tiny-mqa"),
        "tied": ModelConfig.from_name("tiny-tied"),
        "theta-500k": dataclasses.replace(ModelConfig.from_name("tiny-gqa"), rope_theta=500000.0),
        "head-dim-32": dataclasses.replace(tiny, head_dim=32, num_key_value_heads=2),
        "linear": dataclasses.replace(tiny, rope_scaling=RopeScaling("linear", 2.0)),
        # max_position_embeddings 16 so the 24-token inputs below grow past it and dynamic NTK kicks in
        "dynamic": dataclasses.replace(
            ModelConfig.from_name("tiny-gqa"),
            rope_scaling=RopeScaling("dynamic", 4.0),
            max_position_embeddings=16,
        ),
    }


CONFIGS = _configs()


def randomize_(model: torch.nn.Module, seed: int = 0) -> None:
    """Weights large enough that attention patterns and logits are far from uniform."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))


def make_pair(cfg: ModelConfig, attn_impl: str = "sdpa"):
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**cfg.to_hf())).eval()
    randomize_(hf)
    ours = Transformer(cfg, attn_impl=attn_impl).eval()
    ours.load_state_dict(hf.state_dict(), strict=True)
    return hf, ours


@pytest.mark.parametrize("attn_impl", ["sdpa", "eager"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_logits_match_hf(name, attn_impl):
    cfg = CONFIGS[name]
    hf, ours = make_pair(cfg, attn_impl)
    if cfg.tie_word_embeddings:
        assert ours.lm_head.weight is ours.model.embed_tokens.weight
    ids = torch.randint(0, cfg.vocab_size, (2, 24), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(input_ids=ids).logits
        got = ours(ids)
    assert got.shape == (2, 24, cfg.vocab_size)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("name", ["gqa", "linear", "dynamic"])
@pytest.mark.parametrize("start", [5, 40])
def test_logits_match_hf_with_start_positions(name, start):
    cfg = CONFIGS[name]
    hf, ours = make_pair(cfg)
    ids = torch.randint(0, cfg.vocab_size, (2, 10), generator=torch.Generator().manual_seed(2))
    positions = (start + torch.arange(10))[None, :].expand(2, 10)
    with torch.no_grad():
        expected = hf(input_ids=ids, position_ids=positions).logits
        got = ours(ids, positions)
    torch.testing.assert_close(got, expected)


def test_rows_are_independent_with_different_positions():
    cfg = CONFIGS["dynamic"]  # per-row dynamic scaling is the case that could couple rows
    _, ours = make_pair(cfg)
    ids = torch.randint(0, cfg.vocab_size, (2, 8), generator=torch.Generator().manual_seed(3))
    positions = torch.stack([torch.arange(8), 30 + torch.arange(8)])
    with torch.no_grad():
        batched = ours(ids, positions)
        for b in range(2):
            torch.testing.assert_close(batched[b : b + 1], ours(ids[b : b + 1], positions[b : b + 1]))


@pytest.mark.parametrize("mask_kind", ["causal", "explicit"])
@pytest.mark.parametrize("heads", [(4, 4), (4, 2), (6, 1)])
def test_eager_and_sdpa_agree(heads, mask_kind):
    h, hkv = heads
    g = torch.Generator().manual_seed(0)
    b, t, d = 2, 7, 16
    s = t if mask_kind == "causal" else 11
    q = torch.randn(b, h, t, d, generator=g)
    k = torch.randn(b, hkv, s, d, generator=g)
    v = torch.randn(b, hkv, s, d, generator=g)
    mask = None
    if mask_kind == "explicit":  # per-row lengths, like a cache holding rows of different lengths
        pos = torch.stack([torch.arange(t) + 4, torch.arange(t) + 1])  # (B, T)
        mask = (torch.arange(s)[None, None, :] <= pos[:, :, None])[:, None]  # (B, 1, T, S)
    out_eager = attention(q, k, v, mask, impl="eager")
    out_sdpa = attention(q, k, v, mask, impl="sdpa")
    assert out_eager.shape == (b, h, t, d)
    torch.testing.assert_close(out_sdpa, out_eager)
    out_scaled = attention(q, k, v, mask, impl="eager", scale=0.3)
    torch.testing.assert_close(attention(q, k, v, mask, impl="sdpa", scale=0.3), out_scaled)


def test_unknown_attention_impl_is_rejected():
    with pytest.raises(ValueError, match="flash9"):
        Transformer(ModelConfig.from_name("tiny"), attn_impl="flash9")
