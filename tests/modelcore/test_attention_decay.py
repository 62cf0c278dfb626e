"""Temporal-decay attention (modelcore.attention.decay): reference vs an independent explicit computation,
fast paths (SDPA, FlexAttention) vs the reference, shift invariance, masking, per-head rates, time gaps, the
layer inside a tiny model (KV-cached decode, eager vs sdpa, gradients, config round trip) and loading a base
checkpoint into a config with learned decay layers."""

from __future__ import annotations

import json
import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from modelcore.attention.context import AttentionContext
from modelcore.attention.decay import (
    LayerKernel,
    Options,
    alibi_slopes,
    decay_attention_flex,
    decay_attention_reference,
    decay_attention_sdpa,
    decay_bias,
    decay_rates,
    fast_path_for,
)
from modelcore.attention.dense import eager_attention
from modelcore.checkpoint import CheckpointError, load_model, save_model
from modelcore.config import LayerAttention, ModelConfig
from modelcore.kv_cache import DenseKVCache
from modelcore.model import Transformer

SEEDS = (0, 1, 2)


def _flex(*args, **kwargs):
    with warnings.catch_warnings():  # eager flex warns that it is unfused; that is the point here
        warnings.simplefilter("ignore", UserWarning)
        return decay_attention_flex(*args, **kwargs)


def _sdpa(*args, **kwargs):
    return decay_attention_sdpa(*args, **kwargs)


FAST_PATHS = {"sdpa": _sdpa, "flex": _flex}
ALL_PATHS = {"reference": decay_attention_reference, **FAST_PATHS}


def _qkv(seed, b=2, h=4, hkv=2, t=7, s=None, d=8):
    g = torch.Generator().manual_seed(seed)
    s = t if s is None else s
    q = torch.randn(b, h, t, d, generator=g)
    k = torch.randn(b, hkv, s, d, generator=g)
    v = torch.randn(b, hkv, s, d, generator=g)
    return q, k, v


def _cache_like_mask(seed, b, t, s):
    """(B, 1, T, S): query t sits at position s - t + t' and sees slots up to it, some slots padded out."""
    g = torch.Generator().manual_seed(seed + 100)
    q_pos = (s - t + torch.arange(t))[None, :].expand(b, t)  # (B, T)
    k_pos = torch.arange(s)[None, :].expand(b, s)  # (B, S)
    mask = k_pos[:, None, :] <= q_pos[:, :, None]  # (B, T, S)
    padded = torch.rand(b, 1, s, generator=g) < 0.3  # (B, 1, S)
    padded[:, :, -t:] = False  # the queries' own slots stay visible
    return (mask & ~padded)[:, None], q_pos, k_pos


def _explicit(q, k, v, mask, rates, q_pos, k_pos):
    """Independent oracle: python loops over (b, h, i, j) building bias, masked softmax and weighted sum."""
    b, h, t, d = q.shape
    hkv, s = k.shape[1], k.shape[2]
    out = torch.zeros(b, h, t, d, dtype=torch.float64)
    for bi in range(b):
        for hi in range(h):
            kh = hi // (h // hkv)
            for i in range(t):
                logits = []
                for j in range(s):
                    allowed = bool(mask[min(bi, mask.shape[0] - 1), 0, i, j]) if mask is not None else j <= i
                    if not allowed:
                        logits.append(-math.inf)
                        continue
                    dot = float((q[bi, hi, i].double() * k[bi, kh, j].double()).sum()) / math.sqrt(d)
                    gap = max(float(q_pos[bi, i]) - float(k_pos[bi, j]), 0.0)
                    logits.append(dot - float(rates[hi]) * gap)
                top = max(logits)
                weights = [math.exp(x - top) for x in logits]
                total = sum(weights)
                for j, w in enumerate(weights):
                    out[bi, hi, i] += (w / total) * v[bi, kh, j].double()
    return out.to(q.dtype)


# ----------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "options, name",
    [
        ({"rates": "geometric"}, "rates"),
        ({"scale": 0}, "scale"),
        ({"scale": -1.0}, "scale"),
        ({"scale": float("inf")}, "scale"),
        ({"scale": True}, "scale"),
        ({"use_time": 1}, "use_time"),
        ({"time_unit": 0.0}, "time_unit"),
        ({"time_unit": "day"}, "time_unit"),
        ({"decay": 0.5}, "decay"),
    ],
)
def test_bad_options_name_the_option(options, name):
    with pytest.raises(ValueError, match=name):
        LayerAttention.from_dict({"kind": "temporal_decay", "options": options})


def test_options_defaults_and_numbers():
    o = Options(scale=2, time_unit=7)
    assert (o.rates, o.scale, o.use_time, o.time_unit) == ("alibi", 2.0, False, 7.0)
    assert isinstance(o.scale, float)


def test_alibi_slopes_powers_of_two_and_nine_heads():
    assert alibi_slopes(8) == pytest.approx([2.0**-h for h in range(1, 9)])
    assert alibi_slopes(4) == pytest.approx([2.0 ** (-2 * h) for h in range(1, 5)])
    # 9 heads (SmolLM2): the 8-head slopes, then the first odd slope of 16 heads, 2^-0.5
    assert alibi_slopes(9) == pytest.approx([2.0**-h for h in range(1, 9)] + [2.0**-0.5])
    assert len(alibi_slopes(12)) == 12 and len(set(alibi_slopes(12))) == 12
    torch.testing.assert_close(decay_rates(4, scale=3.0), 3.0 * torch.tensor(alibi_slopes(4)))


def test_fast_path_choice_per_device():
    assert fast_path_for("cpu") == "sdpa"
    assert fast_path_for(torch.device("cuda", 0)) == "flex"


# ---------------------------------------------------------------------------------------------- functions
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("masked", [False, True])
def test_reference_equals_explicit_loop(seed, masked):
    b, t, s = 2, 5, 8 if masked else 5
    q, k, v = _qkv(seed, b=b, t=t, s=s)
    rates = torch.rand(4, generator=torch.Generator().manual_seed(seed)) * 2
    if masked:
        mask, q_pos, k_pos = _cache_like_mask(seed, b, t, s)
    else:
        mask, q_pos, k_pos = None, torch.arange(t)[None].expand(b, t), torch.arange(t)[None].expand(b, t)
    got = decay_attention_reference(q, k, v, mask, rates=rates, q_pos=q_pos, k_pos=k_pos)
    torch.testing.assert_close(got, _explicit(q, k, v, mask, rates, q_pos, k_pos))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("path", sorted(FAST_PATHS))
@pytest.mark.parametrize("heads", [(4, 2), (4, 4), (4, 1)])
@pytest.mark.parametrize("masked", [False, True])
def test_fast_paths_equal_reference(seed, path, heads, masked):
    h, hkv = heads
    b, t, s = 2, 6, 11 if masked else 6
    q, k, v = _qkv(seed, b=b, h=h, hkv=hkv, t=t, s=s)
    rates = decay_rates(h, scale=2.0)
    if masked:
        mask, q_pos, k_pos = _cache_like_mask(seed, b, t, s)
    else:
        mask, q_pos, k_pos = None, torch.arange(t)[None].expand(b, t), torch.arange(t)[None].expand(b, t)
    ref = decay_attention_reference(q, k, v, mask, rates=rates, q_pos=q_pos, k_pos=k_pos)
    got = FAST_PATHS[path](q, k, v, mask, rates=rates, q_pos=q_pos, k_pos=k_pos)
    torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("path", sorted(ALL_PATHS))
@pytest.mark.parametrize("seed", SEEDS)
def test_shift_invariance_positions_and_times(path, seed):
    fn = ALL_PATHS[path]
    b, t, s = 2, 4, 9
    q, k, v = _qkv(seed, b=b, t=t, s=s)
    mask, q_pos, k_pos = _cache_like_mask(seed, b, t, s)
    rates = decay_rates(4)
    base = fn(q, k, v, mask, rates=rates, q_pos=q_pos, k_pos=k_pos)
    shifted = fn(q, k, v, mask, rates=rates, q_pos=q_pos + 1000, k_pos=k_pos + 1000)
    torch.testing.assert_close(shifted, base)
    times_k = torch.rand(b, s, generator=torch.Generator().manual_seed(seed)).cumsum(-1) * 5  # (B, S)
    times_q = times_k[:, -t:]
    base_t = fn(q, k, v, mask, rates=rates, q_pos=times_q, k_pos=times_k)
    shifted_t = fn(q, k, v, mask, rates=rates, q_pos=times_q + 250.0, k_pos=times_k + 250.0)
    torch.testing.assert_close(shifted_t, base_t, atol=1e-5, rtol=1e-5)
    # and the decay matters: different (non-constant) shifts of keys change the result
    moved = fn(q, k, v, mask, rates=rates, q_pos=q_pos, k_pos=k_pos - torch.arange(s) % 3)
    assert not torch.allclose(moved, base, atol=1e-4)


@pytest.mark.parametrize("path", sorted(ALL_PATHS))
@pytest.mark.parametrize("seed", SEEDS)
def test_no_weight_on_future_or_padded_keys(path, seed):
    fn = ALL_PATHS[path]
    b, t, s = 2, 4, 10
    q, k, v = _qkv(seed, b=b, t=t, s=s)
    mask, q_pos, k_pos = _cache_like_mask(seed, b, t, s)
    rates = decay_rates(4, scale=0.5)
    base = fn(q, k, v, mask, rates=rates, q_pos=q_pos, k_pos=k_pos)
    hidden = ~mask.any(dim=2)[:, 0]  # (B, S) keys no query may see: padded slots
    assert hidden.any()
    g = torch.Generator().manual_seed(seed + 7)
    k2, v2 = k.clone(), v.clone()
    k2[hidden[:, None, :].expand_as(k[..., 0])] = 1e3 * torch.randn(
        int(hidden.sum()) * k.shape[1], k.shape[-1], generator=g
    )
    v2[hidden[:, None, :].expand_as(v[..., 0])] = 1e3
    torch.testing.assert_close(fn(q, k2, v2, mask, rates=rates, q_pos=q_pos, k_pos=k_pos), base)
    # causal (mask None): garbage in the last key changes only the last query's output
    q, k, v = _qkv(seed, b=b, t=t)
    pos = torch.arange(t)[None].expand(b, t)
    base = fn(q, k, v, None, rates=rates, q_pos=pos, k_pos=pos)
    v2 = v.clone()
    v2[:, :, -1] = 1e3
    out = fn(q, k, v2, None, rates=rates, q_pos=pos, k_pos=pos)
    torch.testing.assert_close(out[:, :, :-1], base[:, :, :-1])
    assert not torch.allclose(out[:, :, -1], base[:, :, -1])


@pytest.mark.parametrize("path", sorted(ALL_PATHS))
@pytest.mark.parametrize("seed", SEEDS)
def test_per_head_rates_honoured(path, seed):
    fn = ALL_PATHS[path]
    b, t = 2, 6
    q, k, v = _qkv(seed, b=b, h=4, hkv=2, t=t)
    pos = torch.arange(t)[None].expand(b, t)
    rates = torch.tensor([0.0, 1e4, 0.3, 0.0])
    out = fn(q, k, v, None, rates=rates, q_pos=pos, k_pos=pos)
    dense = eager_attention(q, k, v, None)
    torch.testing.assert_close(out[:, [0, 3]], dense[:, [0, 3]])  # rate 0: plain dense attention
    torch.testing.assert_close(out[:, 1], v[:, 0])  # huge rate: only the newest key (its own), kv head 0
    assert not torch.allclose(out[:, 2], dense[:, 2], atol=1e-4)  # a moderate rate changes the head
    # the probabilities themselves: weights of head 2 decay as gamma^distance relative to dot products
    bias = decay_bias(pos, pos, rates)
    assert bias[0, 2, 5, 2].item() == pytest.approx(-0.3 * 3)
    assert bias[0, 0].abs().max().item() == 0.0


def test_learned_rates_start_at_configured_init():
    cfg = ModelConfig.from_name("tiny-gqa")
    kernel = LayerKernel(cfg, 1, Options(rates="learned", scale=3.0))
    torch.testing.assert_close(kernel.rates(), decay_rates(cfg.num_attention_heads, scale=3.0))
    assert kernel.raw_rates.shape == (cfg.num_attention_heads,)
    fixed = LayerKernel(cfg, 1, Options(scale=3.0))
    assert list(fixed.state_dict()) == []  # fixed rates: nothing to save or load
    torch.testing.assert_close(fixed.rates(), kernel.rates())


def test_time_gaps_not_positions():
    b, t = 1, 5
    q, k, v = _qkv(3, b=b, t=t)
    cfg = ModelConfig.from_name("tiny-gqa")
    pos = torch.arange(t)[None]
    # every token stamped at the same time: no decay at all, whatever the (large) rates and the positions
    same = torch.full((b, t), 4.0)
    kernel = LayerKernel(cfg, 0, Options(use_time=True, scale=50.0))
    for impl in ("eager", "sdpa"):
        ctx = AttentionContext(pos, pos, times=same, key_times=same, impl=impl)
        torch.testing.assert_close(kernel(q, k, v, None, ctx), eager_attention(q, k, v, None))
    # time_unit: stamps in hours with time_unit=24 equal stamps in days with time_unit=1
    days = torch.tensor([[0.0, 1.0, 1.0, 3.5, 10.0]])
    by_day = LayerKernel(cfg, 0, Options(use_time=True))
    by_hour = LayerKernel(cfg, 0, Options(use_time=True, time_unit=24.0))
    out_d = by_day(q, k, v, None, AttentionContext(pos, pos, times=days, key_times=days))
    out_h = by_hour(q, k, v, None, AttentionContext(pos, pos, times=days * 24, key_times=days * 24))
    torch.testing.assert_close(out_h, out_d)
    # equal stamps get equal bias; a key stamped after its query gets gap 0 (no boost)
    bias = decay_bias(days, days, torch.tensor([1.0]))
    assert bias[0, 0, 2, 1].item() == 0.0 and bias[0, 0, 3, 1].item() == bias[0, 0, 3, 2].item() == -2.5
    assert bias[0, 0, 0, 4].item() == 0.0
    with pytest.raises(ValueError, match="use_time"):
        by_day(q, k, v, None, AttentionContext(pos, pos))


def test_bad_shapes_are_refused():
    q, k, v = _qkv(0, b=1, t=3)
    pos = torch.arange(3)[None]
    with pytest.raises(ValueError, match="rates"):
        decay_attention_reference(q, k, v, None, rates=torch.ones(3), q_pos=pos, k_pos=pos)
    with pytest.raises(ValueError, match="q_pos"):
        decay_attention_sdpa(q, k, v, None, rates=torch.ones(4), q_pos=pos[:, :2], k_pos=pos)


# -------------------------------------------------------------------------------------------- in a model
def _decay_config(**options) -> ModelConfig:
    spec = {"kind": "temporal_decay", "options": options}
    return ModelConfig.from_name("tiny-gqa").with_layer_attention(spec, layers=[1])


def _model(cfg: ModelConfig, seed: int = 0, attn_impl: str = "sdpa") -> Transformer:
    model = Transformer(cfg, attn_impl=attn_impl)
    model.init_weights(std=0.2, generator=torch.Generator().manual_seed(seed))  # large: attention is not flat
    return model.eval()


def _ids_times(seed, b=2, t=9):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 320, (b, t), generator=g)
    times = torch.rand(b, t, generator=g).mul(3).round().cumsum(-1)  # days, some equal stamps
    return ids, times


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "options", [{}, {"rates": "learned", "scale": 4.0}, {"use_time": True, "scale": 2.0}]
)
def test_model_cached_decode_equals_full_forward(seed, options):
    cfg = _decay_config(**options)
    model = _model(cfg, seed)
    assert type(model.model.layers[1].self_attn.kernel) is LayerKernel
    assert model.model.layers[0].self_attn.kernel is None
    ids, times = _ids_times(seed)
    b, t = ids.shape
    use_times = times if options.get("use_time") else None
    with torch.no_grad():
        full = model(ids, times=use_times)  # (B, T, V)
        cache = DenseKVCache(cfg, batch_size=b, max_len=16)
        prefill = 4
        pos = torch.arange(prefill)[None].expand(b, prefill)
        cache.begin(pos, None if use_times is None else use_times[:, :prefill])
        steps = [
            model(ids[:, :prefill], pos, cache, times=None if use_times is None else use_times[:, :prefill])
        ]
        cache.advance(prefill)
        for i in range(prefill, t):
            pos = cache.next_positions(1)
            step_times = None if use_times is None else use_times[:, i : i + 1]
            cache.begin(pos, step_times)
            steps.append(model(ids[:, i : i + 1], pos, cache, times=step_times))
            cache.advance(1)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-4, rtol=1e-4)
    # and the decay layer matters: the same weights with a dense layer 1 give other logits
    dense = Transformer(ModelConfig.from_name("tiny-gqa")).eval()
    dense.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        assert not torch.allclose(dense(ids), full, atol=1e-3)


@pytest.mark.parametrize("options", [{"rates": "learned"}, {"use_time": True}])
def test_model_eager_equals_sdpa(options):
    cfg = _decay_config(**options)
    model = _model(cfg, 1)
    ids, times = _ids_times(1)
    use_times = times if options.get("use_time") else None
    with torch.no_grad():
        fast = model(ids, times=use_times)
        model.set_attn_impl("eager")
        ref = model(ids, times=use_times)
    torch.testing.assert_close(fast, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("impl", ["eager", "sdpa"])
def test_gradients_reach_learned_rates(impl):
    model = _model(_decay_config(rates="learned"), 2, attn_impl=impl).train()
    ids, _ = _ids_times(2)
    logits = model(ids)
    F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)).backward()
    grad = model.model.layers[1].self_attn.kernel.raw_rates.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_flex_gradients_equal_reference_gradients():
    q, k, v = _qkv(4, b=1, t=5)
    pos = torch.arange(5)[None]
    grads = []
    for fn in (decay_attention_reference, _flex, _sdpa):
        raw = torch.zeros(4, requires_grad=True)
        fn(q, k, v, None, rates=F.softplus(raw), q_pos=pos, k_pos=pos).square().sum().backward()
        grads.append(raw.grad)
    torch.testing.assert_close(grads[1], grads[0])
    torch.testing.assert_close(grads[2], grads[0])


def test_config_round_trips_with_layer_attention():
    cfg = _decay_config(rates="learned", scale=0.5, use_time=True, time_unit=7.0)
    assert ModelConfig(**cfg.to_dict()) == cfg
    hf = json.loads(json.dumps(cfg.to_hf()))
    back = ModelConfig.from_hf(hf, name=cfg.name)
    assert back == cfg
    spec = back.attention_for(1)
    assert spec.kind == "temporal_decay"
    assert spec.options_dict() == {"rates": "learned", "scale": 0.5, "use_time": True, "time_unit": 7.0}
    assert back.attention_for(0).kind == back.attention_for(2).kind == "dense"


# ---------------------------------------------------------------------------------------------- loading
def test_base_checkpoint_loads_into_learned_decay_config(tmp_path):
    base = _model(ModelConfig.from_name("tiny-gqa"), 5)
    base_dir = save_model(base, tmp_path / "base")
    cfg = _decay_config(rates="learned", scale=2.0)
    with pytest.raises(RuntimeError, match="raw_rates"):  # the plain strict load this change works around
        Transformer(cfg).load_state_dict(base.state_dict(), strict=True)
    hf = json.loads((base_dir / "config.json").read_text())
    hf["plumbline_layer_attention"] = cfg.to_hf()["plumbline_layer_attention"]
    (base_dir / "config.json").write_text(json.dumps(hf))

    model = load_model(base_dir)
    raw = model.model.layers[1].self_attn.kernel.raw_rates
    assert raw.device.type == "cpu" and not raw.is_meta
    torch.testing.assert_close(model.model.layers[1].self_attn.kernel.rates(), decay_rates(4, scale=2.0))
    for key, value in base.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)

    # a trained decay model saves and loads its rates
    with torch.no_grad():
        raw.add_(torch.tensor([0.1, -0.2, 0.3, 0.4]))
    again = load_model(save_model(model, tmp_path / "trained"))
    torch.testing.assert_close(again.model.layers[1].self_attn.kernel.raw_rates, raw)


def test_other_missing_or_unexpected_tensors_still_fail(tmp_path):
    learned = _model(_decay_config(rates="learned"), 6)
    out = save_model(learned, tmp_path / "learned")
    # unexpected: the rates of a learned-decay checkpoint in a config whose layer 1 is dense
    hf = json.loads((out / "config.json").read_text())
    del hf["plumbline_layer_attention"]
    (out / "config.json").write_text(json.dumps(hf))
    with pytest.raises(CheckpointError, match=r"unexpected: model\.layers\.1\.self_attn\.kernel\.raw_rates"):
        load_model(out)
    # missing: an ordinary weight is still an error, even in a config with kernels
    from safetensors.torch import load_file, save_file

    base = save_model(_model(ModelConfig.from_name("tiny-gqa"), 6), tmp_path / "base")
    tensors = load_file(str(base / "model.safetensors"))
    del tensors["model.layers.0.self_attn.k_proj.weight"]
    save_file(tensors, str(base / "model.safetensors"), metadata={"format": "pt"})
    hf = json.loads((base / "config.json").read_text())
    hf["plumbline_layer_attention"] = _decay_config(rates="learned").to_hf()["plumbline_layer_attention"]
    (base / "config.json").write_text(json.dumps(hf))
    with pytest.raises(CheckpointError, match=r"missing: model\.layers\.0\.self_attn\.k_proj\.weight;"):
        load_model(base)
