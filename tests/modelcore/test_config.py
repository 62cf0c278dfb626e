"""ModelConfig: presets, validation, Hugging Face config.json round trips."""

import dataclasses
import json

import pytest

from modelcore import ModelConfig, RopeScaling

# deepseek-ai/deepseek-llm-7b-base config.json as published
DEEPSEEK_7B_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "bos_token_id": 100000,
    "eos_token_id": 100001,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "initializer_range": 0.02,
    "intermediate_size": 11008,
    "max_position_embeddings": 4096,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 30,
    "num_key_value_heads": 32,
    "pretraining_tp": 1,
    "rms_norm_eps": 1e-06,
    "rope_scaling": None,
    "rope_theta": 10000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "transformers_version": "4.33.1",
    "use_cache": True,
    "vocab_size": 102400,
}


def test_from_hf_deepseek_7b_is_the_preset():
    cfg = ModelConfig.from_hf(DEEPSEEK_7B_CONFIG, name="deepseek-llm-7b-base")
    assert cfg == ModelConfig.from_name("deepseek-llm-7b-base")
    assert cfg.head_dim == 128 and cfg.n_rep == 1
    assert 6.8e9 < cfg.num_parameters() < 7.0e9  # "7B": 6.91e9


def test_presets():
    big = ModelConfig.from_name("deepseek-llm-67b-base")
    assert (big.hidden_size, big.num_hidden_layers, big.num_attention_heads, big.num_key_value_heads) == (
        8192,
        95,
        64,
        8,
    )
    assert big.n_rep == 8 and 6.6e10 < big.num_parameters() < 6.8e10
    smol = ModelConfig.from_name("smollm2-135m-instruct")
    assert smol.tie_word_embeddings and smol.head_dim == 64 and smol.n_rep == 3
    assert 1.3e8 < smol.num_parameters() < 1.4e8
    for name in ("tiny", "tiny-gqa", "tiny-mqa", "tiny-tied"):
        cfg = ModelConfig.from_name(name)
        assert cfg.name == name and cfg.hidden_size == 64
    with pytest.raises(ValueError, match="no-such"):
        ModelConfig.from_name("no-such")


def test_num_parameters_matches_module():
    from modelcore import Transformer

    for name in ("tiny", "tiny-gqa", "tiny-tied"):
        cfg = ModelConfig.from_name(name)
        assert sum(p.numel() for p in Transformer(cfg).parameters()) == cfg.num_parameters()


@pytest.mark.parametrize("name", ["deepseek-llm-67b-base", "smollm2-135m-instruct", "tiny-gqa"])
def test_hf_round_trip(name):
    cfg = ModelConfig.from_name(name)
    d = json.loads(json.dumps(cfg.to_hf()))
    assert ModelConfig.from_hf(d, name=name) == cfg


def test_rope_scaling_round_trip_and_serialisable():
    cfg = dataclasses.replace(ModelConfig.from_name("tiny"), rope_scaling=RopeScaling("dynamic", 2))
    assert cfg.rope_scaling.factor == 2.0
    assert ModelConfig.from_hf(cfg.to_hf(), name="tiny") == cfg
    assert ModelConfig(**json.loads(json.dumps(cfg.to_dict()))) == cfg
    # new-style (transformers >= 5) rope_parameters
    d = dict(DEEPSEEK_7B_CONFIG, rope_scaling=None)
    del d["rope_theta"]
    d["rope_parameters"] = {"rope_type": "linear", "factor": 4.0, "rope_theta": 50000.0}
    cfg = ModelConfig.from_hf(d)
    assert cfg.rope_theta == 50000.0 and cfg.rope_scaling == RopeScaling("linear", 4.0)


def test_from_hf_ignores_unrelated_keys_and_rejects_other_models():
    ModelConfig.from_hf(dict(DEEPSEEK_7B_CONFIG, some_future_key=[1, 2]))
    with pytest.raises(ValueError, match="model_type='mistral'"):
        ModelConfig.from_hf(dict(DEEPSEEK_7B_CONFIG, model_type="mistral"))
    with pytest.raises(ValueError, match="hidden_act"):
        ModelConfig.from_hf(dict(DEEPSEEK_7B_CONFIG, hidden_act="gelu"))
    with pytest.raises(ValueError, match="attention_bias"):
        ModelConfig.from_hf(dict(DEEPSEEK_7B_CONFIG, attention_bias=True))
    with pytest.raises(ValueError, match="yarn"):
        ModelConfig.from_hf(dict(DEEPSEEK_7B_CONFIG, rope_scaling={"type": "yarn", "factor": 4.0}))
    with pytest.raises(ValueError, match="vocab_size"):
        ModelConfig.from_hf({k: v for k, v in DEEPSEEK_7B_CONFIG.items() if k != "vocab_size"})


@pytest.mark.parametrize(
    "change, field",
    [
        ({"num_key_value_heads": 6}, "num_key_value_heads"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"num_hidden_layers": -1}, "num_hidden_layers"),
        ({"vocab_size": 1.5}, "vocab_size"),
        ({"rms_norm_eps": 0.0}, "rms_norm_eps"),
        ({"rope_theta": -1.0}, "rope_theta"),
        ({"head_dim": 127}, "head_dim"),
        ({"eos_token_id": 200000}, "eos_token_id"),
        ({"rope_scaling": {"type": "linear", "factor": 0.5}}, "factor"),
        ({"tie_word_embeddings": "yes"}, "tie_word_embeddings"),
    ],
)
def test_bad_values_raise_naming_the_field(change, field):
    with pytest.raises(ValueError, match=field):
        ModelConfig.from_hf(dict(DEEPSEEK_7B_CONFIG, **change))


def test_frozen():
    cfg = ModelConfig.from_name("tiny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.hidden_size = 128
