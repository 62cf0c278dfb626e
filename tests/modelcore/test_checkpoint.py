"""save_model / load_model: safetensors only, strict names and shapes, presets."""

import dataclasses
import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from modelcore import CheckpointError, ModelConfig, Transformer, load_model, save_model
from modelcore.checkpoint import INDEX_FILE, model_dir


@pytest.fixture(autouse=True)
def no_pickle(monkeypatch):
    """Loading must never unpickle anything."""

    def refuse(*args, **kwargs):
        raise AssertionError("pickle / torch.load must not be called")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def _random_model(name: str) -> Transformer:
    model = Transformer(ModelConfig.from_name(name)).eval()
    model.init_weights(std=0.1, generator=torch.Generator().manual_seed(5))
    return model


def _assert_same_model(a: Transformer, b: Transformer) -> None:
    assert dataclasses.replace(a.config, name="") == dataclasses.replace(b.config, name="")
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)
    ids = torch.randint(0, a.config.vocab_size, (1, 7), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(a(ids), b(ids))


@pytest.mark.parametrize("name", ["tiny-gqa", "tiny-tied"])
def test_round_trip_single_file(tmp_path, name):
    model = _random_model(name)
    save_model(model, tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "model.safetensors").is_file()
    assert not (tmp_path / "ckpt" / INDEX_FILE).exists()
    loaded = load_model(tmp_path / "ckpt")
    _assert_same_model(model, loaded)
    assert isinstance(loaded.model.layers[0].mlp.up_proj.weight, torch.nn.Parameter)
    if model.config.tie_word_embeddings:
        assert "lm_head.weight" not in load_file(tmp_path / "ckpt" / "model.safetensors")
        assert loaded.lm_head.weight is loaded.model.embed_tokens.weight
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["model_type"] == "llama" and config["torch_dtype"] == "float32"


@pytest.mark.parametrize("name", ["tiny", "tiny-tied"])
def test_round_trip_sharded(tmp_path, name):
    model = _random_model(name)
    save_model(model, tmp_path, max_shard_bytes=60_000)
    shards = sorted(p.name for p in tmp_path.glob("model-*-of-*.safetensors"))
    assert len(shards) > 2 and not (tmp_path / "model.safetensors").exists()
    index = json.loads((tmp_path / INDEX_FILE).read_text())
    assert set(index["weight_map"].values()) == set(shards)
    _assert_same_model(model, load_model(tmp_path))

    # Saving again unsharded leaves no stale shard behind.
    save_model(model, tmp_path)
    assert not list(tmp_path.glob("model-*-of-*.safetensors")) and not (tmp_path / INDEX_FILE).exists()
    _assert_same_model(model, load_model(tmp_path))


def test_load_casts_dtype(tmp_path):
    save_model(_random_model("tiny"), tmp_path)
    model = load_model(tmp_path, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}


def test_loads_hf_saved_llama(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = ModelConfig.from_name("tiny-gqa")
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**cfg.to_hf())).eval()
    hf.save_pretrained(tmp_path)  # safetensors by default
    ours = load_model(tmp_path)
    ids = torch.randint(0, cfg.vocab_size, (1, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(input_ids=ids).logits)


def test_pickle_checkpoint_is_refused(tmp_path):
    save_model(_random_model("tiny"), tmp_path)
    (tmp_path / "model.safetensors").unlink()
    (tmp_path / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(CheckpointError, match="pytorch_model.bin.*pickle|pickle.*pytorch_model.bin"):
        load_model(tmp_path)
    with pytest.raises(CheckpointError, match="pickle"):
        load_model(tmp_path / "pytorch_model.bin")


def test_missing_tensor_is_named(tmp_path):
    save_model(_random_model("tiny"), tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    del tensors["model.layers.1.mlp.down_proj.weight"]
    tensors["model.layers.1.mlp.extra.weight"] = torch.zeros(2)
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path)
    assert "model.layers.1.mlp.down_proj.weight" in str(err.value)
    assert "model.layers.1.mlp.extra.weight" in str(err.value)


def test_misshaped_tensor_is_named(tmp_path):
    save_model(_random_model("tiny"), tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    tensors["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(3, 64)
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"model\.layers\.0\.self_attn\.k_proj\.weight \(3, 64\)"):
        load_model(tmp_path)


def test_tiny_preset_is_seeded():
    a, b = load_model("tiny-gqa"), load_model("tiny-gqa")
    _assert_same_model(a, b)
    assert a.config.name == "tiny-gqa" and not a.training


def test_deepseek_preset_needs_a_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "models" / "deepseek-llm-7b-base")):
        load_model("deepseek-llm-7b-base", cache_dir=tmp_path)


def test_deepseek_preset_resolves_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUMBLINE_DATA_DIR", str(tmp_path))
    model = _random_model("tiny")
    save_model(model, model_dir("deepseek-llm-7b-base"))  # a stand-in checkpoint under the preset's name
    loaded = load_model("deepseek-llm-7b-base")
    _assert_same_model(model, loaded)
    assert loaded.config.name == "deepseek-llm-7b-base"


def test_unknown_name():
    with pytest.raises(FileNotFoundError, match="no-such-model"):
        load_model("no-such-model")


def test_smollm2_name_goes_through_gguf_import(tmp_path, monkeypatch):
    """The name resolves via modelcore.gguf_import.ensure_smollm2(cache_dir); stubbed here so the test needs
    neither the GGUF conversion nor that module."""
    import sys
    import types

    model = _random_model("tiny-tied")
    converted = tmp_path / "models" / "smollm2-135m-instruct"
    save_model(model, converted)
    calls = []

    def ensure_smollm2(cache_dir):
        calls.append(cache_dir)
        return converted

    monkeypatch.setitem(
        sys.modules, "modelcore.gguf_import", types.SimpleNamespace(ensure_smollm2=ensure_smollm2)
    )
    loaded = load_model("smollm2-135m-instruct", cache_dir=tmp_path)
    assert calls == [tmp_path] and loaded.config.name == "smollm2-135m-instruct"
    _assert_same_model(model, loaded)
