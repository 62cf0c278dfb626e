"""Per-layer attention selection in ModelConfig and its plumbing through the model."""

from __future__ import annotations

import pytest
import torch

from modelcore.config import LayerAttention, ModelConfig
from modelcore.kv_cache import DenseKVCache
from modelcore.model import Transformer


def test_default_is_dense_everywhere():
    cfg = ModelConfig.from_name("tiny")
    assert cfg.layer_attention == ()
    assert all(cfg.attention_for(i).kind == "dense" for i in range(cfg.num_hidden_layers))


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"kind": "banana"}, "kind='banana'"),
        ({"kind": "dense", "options": {"x": 1}}, "takes no options"),
        ({"kind": "dense", "options": {"x": [1]}}, "option x"),
        ({"kind": "dense", "extra": 1}, "must be a kind name"),
    ],
)
def test_bad_layer_attention_names_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        LayerAttention.from_dict(spec)


def test_layer_count_must_match():
    cfg = ModelConfig.from_name("tiny")
    with pytest.raises(ValueError, match="one per layer"):
        ModelConfig(**{**cfg.to_dict(), "layer_attention": ["dense"]})


def test_with_layer_attention_all_dense_collapses_to_empty():
    cfg = ModelConfig.from_name("tiny").with_layer_attention("dense", layers=[1])
    assert cfg.layer_attention == ()
    with pytest.raises(ValueError, match="outside"):
        cfg.with_layer_attention("dense", layers=[7])


def test_times_must_match_input_shape():
    model = Transformer(ModelConfig.from_name("tiny")).eval()
    ids = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="times"):
        model(ids, times=torch.zeros(1, 3))


def test_dense_cache_keeps_time_stamps_per_slot():
    cfg = ModelConfig.from_name("tiny")
    cache = DenseKVCache(cfg, batch_size=1, max_len=8)
    cache.begin(torch.arange(3)[None], times=torch.tensor([[0.0, 2.5, 7.0]]))
    cache.advance(3)
    cache.begin(cache.next_positions(1), times=torch.tensor([[9.0]]))
    assert cache.key_times(4).tolist() == [[0.0, 2.5, 7.0, 9.0]]
    with pytest.raises(ValueError, match="must match positions"):
        cache.begin(cache.next_positions(1), times=torch.zeros(1, 2))


def test_load_model_with_layer_attention(smollm2_dir):
    """A real checkpoint loads with other attention in chosen layers; sparse layers below their dense
    threshold compute exactly what dense layers do, temporal-decay layers change the logits."""
    from modelcore.checkpoint import load_model

    dense = load_model(smollm2_dir)
    n = dense.config.num_hidden_layers
    sparse_specs = ["dense", "dense"] + [{"kind": "sparse", "options": {"score": "quest"}}] * (n - 2)
    sparse = load_model(smollm2_dir, layer_attention=sparse_specs)
    assert [sparse.config.attention_for(i).kind for i in (0, 1, 2, n - 1)] == ["dense", "dense", "sparse", "sparse"]
    decay = load_model(smollm2_dir, layer_attention=[{"kind": "temporal_decay", "options": {"rates": "learned"}}] * n)
    ids = torch.tensor([[1, 504, 3458, 314, 260, 1420, 30, 2]])
    with torch.no_grad():
        base = dense(ids)
        torch.testing.assert_close(sparse(ids), base, rtol=0, atol=0)
        assert not torch.allclose(decay(ids), base, atol=1e-3)
    with pytest.raises(ValueError, match="one per layer"):
        load_model(smollm2_dir, layer_attention=["sparse"])
