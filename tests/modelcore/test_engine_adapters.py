"""The Engine serving LoRA adapters: requests with different adapters (and none) share batches, and each
request's tokens equal the base model merged with its own adapter alone."""
from __future__ import annotations

import pytest
import torch

from modelcore.adapters import (
    AdapterConfig,
    LoraWeights,
    merge_adapter,
    module_features,
    module_path,
    save_adapter_weights,
)
from modelcore.checkpoint import load_model
from modelcore.engine import Engine, SamplingParams

GREEDY = SamplingParams(temperature=0, max_tokens=8, ignore_eos=True)


def random_adapter(out, cfg, *, targets, r, seed) -> str:
    config = AdapterConfig(r=r, lora_alpha=2.0 * r, target_modules=tuple(targets), base_model_name_or_path=cfg.name)
    g = torch.Generator().manual_seed(seed)
    factors = {}
    for layer in range(cfg.num_hidden_layers):
        for name in config.target_modules:
            n_in, n_out = module_features(cfg, name)
            factors[module_path(layer, name)] = (0.3 * torch.randn(r, n_in, generator=g), 0.3 * torch.randn(n_out, r, generator=g))
    save_adapter_weights(out, LoraWeights(config, factors))
    return str(out)


@pytest.fixture(scope="module")
def adapters(tmp_path_factory):
    cfg = load_model("tiny-gqa").config
    root = tmp_path_factory.mktemp("adapters")
    return {
        "a": random_adapter(root / "a", cfg, targets=("q_proj", "v_proj"), r=4, seed=1),
        "b": random_adapter(root / "b", cfg, targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), r=8, seed=2),
    }


def prompts(*lengths: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(7)
    return [torch.randint(3, 320, (n,), generator=g).tolist() for n in lengths]


@torch.inference_mode()
def merged_greedy(adapter_dir: str | None, prompt: list[int], n: int) -> list[int]:
    """Reference: a fresh base model, merged with the adapter alone, decoded without a cache."""
    model = load_model("tiny-gqa")
    if adapter_dir is not None:
        merge_adapter(model, adapter_dir)
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids[len(prompt):]


def test_mixed_adapters_in_one_batch_equal_each_merged_model_alone(adapters):
    engine = Engine(load_model("tiny-gqa"), None, max_batch_size=4, max_adapters=2)
    plan = [("a", 5), (None, 9), ("b", 3), ("a", 12)]
    ps = prompts(*(n for _, n in plan))
    handles = [
        engine.submit(p, GREEDY, adapter=None if name is None else (name, adapters[name]))
        for (name, _), p in zip(plan, ps, strict=True)
    ]
    engine.step()  # all four run together from here on
    assert engine.num_running == 4
    engine.run_until_idle()
    base = merged_greedy(None, ps[1], 8)
    for (name, _), p, h in zip(plan, ps, handles, strict=True):
        got = h.wait(timeout=0).token_ids
        assert got == merged_greedy(None if name is None else adapters[name], p, 8), name
    # The adapters change the output, so the test can tell them apart.
    assert merged_greedy(adapters["a"], ps[1], 8) != base or merged_greedy(adapters["b"], ps[1], 8) != base


def test_a_request_waits_for_an_adapter_slot_and_lru_evicts_unused_adapters(adapters):
    engine = Engine(load_model("tiny-gqa"), None, max_batch_size=4, max_adapters=1)
    pa, pb = prompts(6, 4)
    ha = engine.submit(pa, GREEDY, adapter=("a", adapters["a"]))
    hb = engine.submit(pb, GREEDY, adapter=("b", adapters["b"]))
    engine.step()
    assert engine.num_running == 1 and engine.num_waiting == 1  # b waits: the one slot serves a
    engine.run_until_idle()
    assert engine.lora.names() == ["b"]  # a was evicted once nothing used it
    assert ha.wait(timeout=0).token_ids == merged_greedy(adapters["a"], pa, 8)
    assert hb.wait(timeout=0).token_ids == merged_greedy(adapters["b"], pb, 8)


def test_requests_behind_one_waiting_for_an_adapter_slot_are_not_blocked(adapters):
    engine = Engine(load_model("tiny-gqa"), None, max_batch_size=4, max_adapters=1)
    pa, pb, pc, pd, pe = prompts(6, 4, 5, 7, 3)
    long = SamplingParams(temperature=0, max_tokens=12, ignore_eos=True)
    ha = engine.submit(pa, long, adapter=("a", adapters["a"]))
    hb = engine.submit(pb, GREEDY, adapter=("b", adapters["b"]))  # needs the one slot, which serves a
    hc = engine.submit(pc, GREEDY)  # the base model: no slot needed
    hd = engine.submit(pd, GREEDY, adapter=("b", adapters["b"]))  # also needs a new adapter: stays behind b
    he = engine.submit(pe, GREEDY, adapter=("a", adapters["a"]))  # a is resident: admitted
    engine.step()
    running = {id(r.handle) for r in engine._rows}
    assert running == {id(ha), id(hc), id(he)}
    assert [r.handle for r in engine._waiting] == [hb, hd]  # arrival order kept
    engine.run_until_idle()
    assert hb.wait(0).token_ids == merged_greedy(adapters["b"], pb, 8)
    assert hd.wait(0).token_ids == merged_greedy(adapters["b"], pd, 8)
    assert hc.wait(0).token_ids == merged_greedy(None, pc, 8)
    assert he.wait(0).token_ids == merged_greedy(adapters["a"], pe, 8)


def test_an_adapter_that_fails_to_load_fails_only_its_request(adapters, tmp_path):
    (tmp_path / "adapter_model.bin").write_bytes(b"not safetensors")
    engine = Engine(load_model("tiny-gqa"), None, max_batch_size=2, max_adapters=2)
    bad = engine.submit(prompts(4)[0], GREEDY, adapter=("broken", str(tmp_path)))
    good = engine.submit(prompts(5)[0], GREEDY, adapter=("a", adapters["a"]))
    engine.run_until_idle()
    failed = bad.wait(timeout=0)
    assert failed.finish_reason == "error" and "broken" in failed.error
    assert good.wait(timeout=0).finish_reason == "length"


def test_adapter_argument_is_checked():
    engine = Engine(load_model("tiny-gqa"), None, max_adapters=1)
    with pytest.raises(ValueError, match="pair"):
        engine.submit([1, 2], GREEDY, adapter="just-a-name")


def test_stats_report_the_batch_the_kv_cache_and_adapter_loads(adapters, tmp_path):
    engine = Engine(load_model("tiny-gqa"), None, max_batch_size=2, max_seq_len=64, max_adapters=1)
    idle = engine.stats()
    assert (idle.running, idle.waiting, idle.kv_tokens, idle.kv_bytes, idle.adapter_loads) == (0, 0, 0, 0, 0)
    assert (idle.max_batch_size, idle.kv_capacity_tokens, idle.max_adapters) == (2, 128, 1)
    pa, pb, pc = prompts(6, 4, 5)
    engine.submit(pa, GREEDY, adapter=("a", adapters["a"]))
    engine.submit(pc, GREEDY)
    engine.submit(pb, GREEDY, adapter=("b", adapters["b"]))
    assert engine.stats().waiting == 3
    engine.step()  # a and the base request run; b waits for the one adapter slot
    busy = engine.stats()
    assert (busy.running, busy.waiting, busy.adapters_resident, busy.adapter_loads) == (2, 1, 1, 1)
    assert len(pa) + len(pc) <= busy.kv_tokens <= len(pa) + len(pc) + 2 and busy.kv_bytes > 0
    engine.run_until_idle()
    (tmp_path / "adapter_model.bin").write_bytes(b"not safetensors")
    engine.submit(pc, GREEDY, adapter=("broken", str(tmp_path)))
    engine.run_until_idle()
    done = engine.stats()
    assert (done.running, done.kv_tokens, done.kv_bytes) == (0, 0, 0)
    # b was evicted to make room for the broken adapter, which then failed to load
    assert (done.adapter_loads, done.adapter_load_failures, done.adapters_resident) == (2, 1, 0)
