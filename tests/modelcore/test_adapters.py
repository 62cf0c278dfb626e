"""LoRA adapters: PEFT-format parity against `peft` on transformers' LlamaForCausalLM, the multi-adapter bank
(mixed batches, LRU), merging, and the strict reader's refusals. Tiny configs, float32, CPU."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from modelcore import DenseKVCache, ModelConfig, Transformer
from modelcore.adapters import (
    AdapterConfig,
    LoraWeights,
    MultiLoraLinear,
    attach_lora_bank,
    load_adapter_weights,
    lora_delta_gather,
    lora_delta_grouped,
    lora_delta_reference,
    merge_adapter,
    module_features,
    module_path,
    read_json_strict,
    save_adapter_weights,
    unmerge_adapter,
)

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

# Merged weights (W + s*B@A) and the unmerged sum (x@W + s*(x@A)@B) round differently in float32.
TOL = dict(atol=1e-4, rtol=1e-4)
ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# ------------------------------------------------------------------------------------------------ helpers
def make_pair(cfg: ModelConfig, seed: int = 0):
    """transformers' LlamaForCausalLM and our Transformer with the same random weights."""
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(**cfg.to_hf())).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.15 * torch.randn(p.shape, generator=g))
    ours = Transformer(cfg).eval()
    ours.load_state_dict(hf.state_dict(), strict=True)
    return hf, ours


def peft_adapter(hf, out: Path, *, targets, r, alpha, seed, use_rslora=False) -> Path:
    """An adapter made and saved by peft itself, with random non-zero A and B (not a no-op)."""
    config = peft.LoraConfig(
        r=r,
        lora_alpha=alpha,
        target_modules=targets,
        lora_dropout=0.0,
        use_rslora=use_rslora,
        task_type="CAUSAL_LM",
    )
    model = peft.get_peft_model(copy.deepcopy(hf), config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_" in name:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    model.save_pretrained(str(out))
    return out


def peft_merged_logits(hf, adapter_dir: Path, ids: torch.Tensor) -> torch.Tensor:
    """Reference: peft loads the adapter onto transformers' model and merges it (`merge_and_unload`)."""
    model = peft.PeftModel.from_pretrained(copy.deepcopy(hf), str(adapter_dir)).merge_and_unload()
    with torch.no_grad():
        return model(input_ids=ids).logits


def random_weights(cfg: ModelConfig, *, targets=("q_proj", "v_proj"), r=4, alpha=8.0, seed=0) -> LoraWeights:
    config = AdapterConfig(
        r=r, lora_alpha=alpha, target_modules=tuple(targets), base_model_name_or_path=cfg.name
    )
    g = torch.Generator().manual_seed(seed)
    factors = {}
    for layer in range(cfg.num_hidden_layers):
        for name in config.target_modules:
            n_in, n_out = module_features(cfg, name)
            factors[module_path(layer, name)] = (
                0.2 * torch.randn(r, n_in, generator=g),
                0.2 * torch.randn(n_out, r, generator=g),
            )
    return LoraWeights(config, factors)


@pytest.fixture(scope="module")
def tiny_pair():
    return make_pair(ModelConfig.from_name("tiny"))


@pytest.fixture(scope="module")
def tiny_adapter_dir(tmp_path_factory, tiny_pair):
    hf, _ = tiny_pair
    return peft_adapter(
        hf, tmp_path_factory.mktemp("ad") / "a", targets=["q_proj", "v_proj"], r=4, alpha=8, seed=1
    )


# ------------------------------------------------------------------------------------------------- parity
@pytest.mark.parametrize("impl", ["grouped", "gather", "reference"])
@pytest.mark.parametrize("name", ["tiny", "tiny-gqa"])
def test_mixed_batch_matches_peft_merged(tmp_path, name, impl):
    cfg = ModelConfig.from_name(name)
    hf, ours = make_pair(cfg)
    dir_a = peft_adapter(hf, tmp_path / "a", targets=["q_proj", "v_proj"], r=4, alpha=8, seed=1)
    dir_b = peft_adapter(hf, tmp_path / "b", targets=ALL, r=8, alpha=4, seed=2, use_rslora=True)
    ids = torch.randint(0, cfg.vocab_size, (4, 12), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        base = hf(input_ids=ids).logits
    ref_a, ref_b = peft_merged_logits(hf, dir_a, ids), peft_merged_logits(hf, dir_b, ids)
    assert not torch.allclose(ref_a, base, atol=1e-3) and not torch.allclose(ref_b, base, atol=1e-3)

    bank = attach_lora_bank(ours, max_adapters=4, impl=impl)
    slot_a, slot_b = bank.load("a", dir_a), bank.load("b", dir_b)
    rows = torch.tensor([slot_a, slot_b, -1, slot_a])
    with torch.no_grad(), bank.use_rows(rows):
        got = ours(ids)
    torch.testing.assert_close(got[0], ref_a[0], **TOL)
    torch.testing.assert_close(got[1], ref_b[1], **TOL)
    torch.testing.assert_close(got[2], base[2], **TOL)
    torch.testing.assert_close(got[3], ref_a[3], **TOL)
    assert bank.rows_for(["a", "b", None, "a"]).tolist() == rows.tolist()

    # our merge equals peft's merge too (on a plain copy of the model)
    plain = bank.detach()
    assert all(type(m) is not MultiLoraLinear for m in plain.modules())
    for adapter_dir, ref in ((dir_a, ref_a), (dir_b, ref_b)):
        merged = merge_adapter(copy.deepcopy(plain), adapter_dir)
        with torch.no_grad():
            torch.testing.assert_close(merged(ids), ref, **TOL)


def test_unmerged_peft_forward_matches_bank(tiny_pair, tiny_adapter_dir):
    """Also against peft's own (unmerged) LoRA forward."""
    hf, ours = tiny_pair
    ids = torch.randint(0, 320, (2, 9), generator=torch.Generator().manual_seed(4))
    model = peft.PeftModel.from_pretrained(copy.deepcopy(hf), str(tiny_adapter_dir))
    ours = copy.deepcopy(ours)
    bank = attach_lora_bank(ours)
    slot = bank.load("a", tiny_adapter_dir)
    with torch.no_grad(), bank.use_rows(torch.tensor([slot, slot])):
        got = ours(ids)
        expected = model(input_ids=ids).logits
    torch.testing.assert_close(got, expected, **TOL)


def test_our_adapter_loads_in_peft(tmp_path, tiny_pair):
    hf, ours = tiny_pair
    weights = random_weights(ours.config, targets=("k_proj", "o_proj", "down_proj"), r=3, alpha=5.0, seed=7)
    out = save_adapter_weights(tmp_path / "ours", weights)
    ids = torch.randint(0, 320, (2, 9), generator=torch.Generator().manual_seed(5))
    expected = peft_merged_logits(hf, out, ids)
    model = peft.PeftModel.from_pretrained(copy.deepcopy(hf), str(out))
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, expected, **TOL)
        got = merge_adapter(copy.deepcopy(ours), out)(ids)
    torch.testing.assert_close(got, expected, **TOL)
    # and it round-trips through our reader unchanged
    again = load_adapter_weights(out, ours.config)
    assert again.config == weights.config
    for path, (a, b) in weights.factors.items():
        assert torch.equal(again.factors[path][0], a) and torch.equal(again.factors[path][1], b)


def test_bank_without_rows_is_the_base_model(tiny_pair, tiny_adapter_dir):
    _, ours = tiny_pair
    ids = torch.randint(0, 320, (3, 7), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        base = ours(ids)
        model = copy.deepcopy(ours)
        bank = attach_lora_bank(model)
        assert list(model.state_dict()) == list(ours.state_dict())  # same keys: save_model still works
        bank.load("a", tiny_adapter_dir)
        assert torch.equal(model(ids), base)
        with bank.use_rows(torch.tensor([-1, -1, -1])):
            assert torch.equal(model(ids), base)
        with pytest.raises(ValueError, match="row slots"):
            with bank.use_rows(torch.tensor([0, -1])):
                model(ids)


def test_rows_with_kv_cache_match_full_forward(tiny_pair, tiny_adapter_dir):
    _, ours = tiny_pair
    model = copy.deepcopy(ours)
    bank = attach_lora_bank(model)
    slot = bank.load("a", tiny_adapter_dir)
    rows = torch.tensor([slot, -1])
    ids = torch.randint(0, 320, (2, 10), generator=torch.Generator().manual_seed(8))
    with torch.no_grad(), bank.use_rows(rows):
        full = model(ids)
        cache = DenseKVCache(model.config, batch_size=2, max_len=16)
        positions = cache.next_positions(6)
        cache.begin(positions)
        steps = [model(ids[:, :6], positions, kv_cache=cache)]
        cache.advance(6)
        for t in range(6, 10):
            positions = cache.next_positions(1)
            cache.begin(positions)
            steps.append(model(ids[:, t : t + 1], positions, kv_cache=cache))
            cache.advance(1)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, **TOL)


def test_delta_impls_match_reference():
    g = torch.Generator().manual_seed(9)
    x = torch.randn(5, 3, 16, generator=g)
    lora_a = torch.randn(3, 6, 16, generator=g)
    lora_b = torch.randn(3, 24, 6, generator=g)
    slots = torch.tensor([2, -1, 0, 2, 1])
    ref = lora_delta_reference(x, slots, lora_a, lora_b)
    assert torch.equal(ref[1], torch.zeros(3, 24))
    groups = [(s, torch.nonzero(slots == s).flatten()) for s in (0, 1, 2)]
    torch.testing.assert_close(lora_delta_grouped(x, groups, lora_a, lora_b), ref, **TOL)
    torch.testing.assert_close(lora_delta_gather(x, slots, lora_a, lora_b), ref, **TOL)


def test_merge_then_unmerge_restores_weights(tiny_pair, tiny_adapter_dir):
    _, ours = tiny_pair
    model = copy.deepcopy(ours)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    unmerge_adapter(merge_adapter(model, tiny_adapter_dir), tiny_adapter_dir)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], **TOL)


def test_mixed_ranks_in_one_bank(tmp_path, tiny_pair):
    """Slots of different ranks share padded buffers; a later, larger rank grows them without changing others."""
    _, ours = tiny_pair
    small = random_weights(ours.config, r=2, seed=10)
    large = random_weights(ours.config, targets=ALL, r=6, seed=11)
    ids = torch.randint(0, 320, (2, 6), generator=torch.Generator().manual_seed(12))
    expected = []
    for w in (small, large):
        with torch.no_grad():
            expected.append(merge_adapter(copy.deepcopy(ours), w)(ids))
    model = copy.deepcopy(ours)
    bank = attach_lora_bank(model)
    s_small, s_large = bank.load("small", small), bank.load("large", large)
    with torch.no_grad(), bank.use_rows(torch.tensor([s_small, s_large])):
        got = model(ids)
    torch.testing.assert_close(got[0], expected[0][0], **TOL)
    torch.testing.assert_close(got[1], expected[1][1], **TOL)


# ------------------------------------------------------------------------------------------- LRU / unload
def test_lru_eviction_and_unload(tiny_pair):
    _, ours = tiny_pair
    model = copy.deepcopy(ours)
    bank = attach_lora_bank(model, max_adapters=2)
    w = {n: random_weights(ours.config, seed=i) for i, n in enumerate("abcd")}
    assert bank.load("a", w["a"]) == 0 and bank.load("b", w["b"]) == 1
    assert bank.load("a", w["a"]) == 0  # already resident: marks "a" used, "b" is now the LRU
    assert bank.names() == ["b", "a"]
    assert bank.load("c", w["c"]) == 1  # evicts "b"
    assert bank.names() == ["a", "c"]
    with pytest.raises(KeyError):
        bank.slot_of("b")
    # the adapter in "c"'s slot really is "c"
    ids = torch.randint(0, 320, (1, 5), generator=torch.Generator().manual_seed(13))
    with torch.no_grad():
        expected = merge_adapter(copy.deepcopy(ours), w["c"])(ids)
        with bank.use_rows(bank.rows_for(["c"])):
            torch.testing.assert_close(model(ids), expected, **TOL)
    # slots used by the current rows are never evicted or unloaded
    with bank.use_rows(torch.tensor([0, 1])):
        with pytest.raises(RuntimeError, match="slots"):
            bank.load("d", w["d"])
        with pytest.raises(RuntimeError, match="current rows"):
            bank.unload("a")
    with bank.use_rows(torch.tensor([1])):  # "a" (slot 0) is free to go although it is the most recent
        assert bank.load("d", w["d"]) == 0
    assert bank.names() == ["c", "d"]
    bank.unload("c")
    assert bank.names() == ["d"]
    with pytest.raises(ValueError, match="hold no adapter"):
        bank.set_rows(torch.tensor([1]))
    with pytest.raises(KeyError):
        bank.unload("c")
    assert all(1 not in m.active and not m.lora_b[1].any() for m in bank.wrappers.values())
    assert bank.load("e", w["a"]) == 1


# ------------------------------------------------------------------------------------------ safe loading
def test_loading_never_unpickles(monkeypatch, tiny_pair, tiny_adapter_dir):
    def boom(*args, **kwargs):
        raise AssertionError("pickle / torch.load called while loading an adapter")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    monkeypatch.setattr(torch, "load", boom)
    _, ours = tiny_pair
    model = copy.deepcopy(ours)
    load_adapter_weights(tiny_adapter_dir, model.config)
    attach_lora_bank(model).load("a", tiny_adapter_dir)
    merge_adapter(model, tiny_adapter_dir)


@pytest.fixture
def adapter_copy(tmp_path, tiny_adapter_dir):
    """A writable copy of the peft-made adapter: (dir, config dict, tensors)."""
    out = tmp_path / "adapter"
    out.mkdir()
    config = json.loads((tiny_adapter_dir / "adapter_config.json").read_text())
    tensors = load_file(str(tiny_adapter_dir / "adapter_model.safetensors"))
    return out, config, tensors


def _write(out: Path, config: dict | str | None, tensors: dict | None) -> Path:
    if config is not None:
        text = config if isinstance(config, str) else json.dumps(config)
        (out / "adapter_config.json").write_text(text)
    if tensors is not None:
        save_file(tensors, str(out / "adapter_model.safetensors"))
    return out


QP = "base_model.model.model.layers.0.self_attn.q_proj"


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("bin_only", "pickle"),
        ("nan", "q_proj.lora_A.weight.*NaN"),
        ("inf", "NaN or infinite"),
        ("wrong_shape", "q_proj.lora_B.weight.*shape"),
        ("unknown_module_tensor", "lm_head"),
        ("layer_out_of_range", "layer 7"),
        ("missing_tensor", "missing tensors.*q_proj.lora_A"),
        ("int_tensor", "dtype"),
        ("unknown_target_in_config", "target_modules"),
        ("regex_targets", "target_modules"),
        ("use_dora", "use_dora"),
        ("modules_to_save", "modules_to_save"),
        ("layers_to_transform", "layers_to_transform"),
        ("rank_pattern", "rank_pattern"),
        ("bias", "bias"),
        ("fan_in_fan_out", "fan_in_fan_out"),
        ("peft_type", "peft_type"),
        ("duplicate_key", "duplicate key 'r'"),
        ("too_deep", "deeper"),
        ("too_big", "limit"),
        ("nan_constant", "NaN"),
        ("r_mismatch", "shape"),
        ("corrupt_safetensors", "not a valid safetensors"),
    ],
)
def test_rejections(adapter_copy, tiny_pair, change, match):
    out, config, tensors = adapter_copy
    cfg = tiny_pair[1].config
    if change == "bin_only":
        _write(out, config, None)
        (out / "adapter_model.bin").write_bytes(pickle.dumps({"x": 1}))
    elif change in ("nan", "inf"):
        tensors[QP + ".lora_A.weight"][0, 0] = float("nan") if change == "nan" else float("inf")
        _write(out, config, tensors)
    elif change == "wrong_shape":
        tensors[QP + ".lora_B.weight"] = torch.zeros(63, 4)
        _write(out, config, tensors)
    elif change == "unknown_module_tensor":
        tensors["base_model.model.lm_head.lora_A.weight"] = torch.zeros(4, 64)
        _write(out, config, tensors)
    elif change == "layer_out_of_range":
        tensors["base_model.model.model.layers.7.self_attn.q_proj.lora_A.weight"] = torch.zeros(4, 64)
        _write(out, config, tensors)
    elif change == "missing_tensor":
        del tensors[QP + ".lora_A.weight"]
        _write(out, config, tensors)
    elif change == "int_tensor":
        tensors[QP + ".lora_A.weight"] = torch.zeros(4, 64, dtype=torch.int32)
        _write(out, config, tensors)
    elif change == "unknown_target_in_config":
        _write(out, dict(config, target_modules=["q_proj", "embed_tokens"]), tensors)
    elif change == "regex_targets":
        _write(out, dict(config, target_modules=r".*\.(q|v)_proj"), tensors)
    elif change == "use_dora":
        _write(out, dict(config, use_dora=True), tensors)
    elif change == "modules_to_save":
        _write(out, dict(config, modules_to_save=["lm_head"]), tensors)
    elif change == "layers_to_transform":
        _write(out, dict(config, layers_to_transform=[0]), tensors)
    elif change == "rank_pattern":
        _write(out, dict(config, rank_pattern={"q_proj": 2}), tensors)
    elif change == "bias":
        _write(out, dict(config, bias="all"), tensors)
    elif change == "fan_in_fan_out":
        _write(out, dict(config, fan_in_fan_out=True), tensors)
    elif change == "peft_type":
        _write(out, dict(config, peft_type="IA3"), tensors)
    elif change == "duplicate_key":
        text = json.dumps(config)
        _write(out, text[:-1] + ', "r": 64}', tensors)
    elif change == "too_deep":
        _write(out, json.dumps(config)[:-1] + ', "x": ' + "[" * 50 + "]" * 50 + "}", tensors)
    elif change == "too_big":
        _write(out, json.dumps(dict(config, padding="x" * (2 << 20))), tensors)
    elif change == "nan_constant":
        _write(out, json.dumps(config)[:-1] + ', "lora_dropout": NaN}', tensors)
    elif change == "corrupt_safetensors":
        _write(out, config, None)
        (out / "adapter_model.safetensors").write_bytes(b"\xff" * 64)
    elif change == "r_mismatch":
        _write(out, dict(config, r=8), tensors)
    with pytest.raises(ValueError, match=match):
        load_adapter_weights(out, cfg)


def test_accepted_config_variants(adapter_copy, tiny_pair):
    """What peft writes (all its extra keys at their defaults) is accepted; init options are ignored;
    use_rslora changes the scale; "all-linear" means every projection."""
    out, config, tensors = adapter_copy
    cfg = tiny_pair[1].config
    _write(out, dict(config, init_lora_weights="gaussian", future_option=None, use_rslora=True), tensors)
    weights = load_adapter_weights(out, cfg)
    assert weights.config.target_modules == ("q_proj", "v_proj")
    assert weights.scale == pytest.approx(8 / 2)  # alpha / sqrt(r)
    parsed = AdapterConfig.from_dict(dict(config, target_modules="all-linear"))
    assert parsed.target_modules == tuple(sorted(ALL))
    with pytest.raises(ValueError, match="future_option"):
        AdapterConfig.from_dict(dict(config, future_option=True))


def test_read_json_strict_nesting_in_strings_is_fine(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"s": "[" * 100 + '\\"{'}))
    assert read_json_strict(path)["s"].startswith("[[")
