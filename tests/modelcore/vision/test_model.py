"""VisionLanguageModel: a text-only model is unchanged at zero gates, masks, gradients, generation."""

from __future__ import annotations

import pytest
import torch

from modelcore import DenseKVCache, ModelConfig, Transformer
from modelcore.vision import CrossModalConfig, ImageState, VisionConfig, VisionLanguageModel, greedy_generate

VISION = VisionConfig(image_size=16, patch_size=4, channels=3, hidden_size=32, num_layers=2, num_heads=2)


def _vlm(
    name: str = "tiny",
    layers: tuple[int, ...] = (0, 1),
    gate: float = 0.0,
    attn_impl: str = "sdpa",
    cross_impl: str = "sdpa",
) -> VisionLanguageModel:
    torch.manual_seed(0)
    text = Transformer(ModelConfig.from_name(name), attn_impl=attn_impl).eval()
    text.init_weights(std=0.15, generator=torch.Generator().manual_seed(0))
    vlm = VisionLanguageModel(
        text,
        VISION,
        CrossModalConfig(layers=layers, num_heads=2, attn_dim=32),
        attn_impl=attn_impl,
        cross_impl=cross_impl,
    ).eval()
    with torch.no_grad():
        for g in vlm.gates():
            g.fill_(gate)
    return vlm


def _inputs(b: int = 3, t: int = 9, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 320, (b, t), generator=g), torch.rand(b, 3, 16, 16, generator=g)


@pytest.mark.parametrize("attn_impl", ["sdpa", "eager"])
@pytest.mark.parametrize(("name", "layers"), [("tiny", (0, 1)), ("tiny-gqa", (1,)), ("tiny-tied", (0,))])
def test_zero_gates_leave_text_model_exactly_unchanged(name, layers, attn_impl):
    vlm = _vlm(name, layers, attn_impl=attn_impl)
    ids, images = _inputs()
    positions = torch.arange(3, 12)[None].expand(3, 9)
    with torch.no_grad():
        ref = vlm.text_model(ids)
        assert torch.equal(vlm(ids), ref)  # images=None
        assert torch.equal(vlm(ids, images), ref)  # fresh init: every gate at 0
        assert torch.equal(vlm(ids, images, torch.tensor([True, False, True])), ref)
        assert torch.equal(vlm(ids, images, positions=positions), vlm.text_model(ids, positions))
    with torch.enable_grad():  # the training path (plain F.linear) too
        assert torch.equal(vlm(ids, images), vlm.text_model(ids))


@pytest.mark.parametrize("attn_impl", ["sdpa", "eager"])
def test_zero_gates_exact_with_per_layer_attention_kinds(attn_impl):
    """Decoder layers with a non-dense attention kind get the same positions and time stamps as in
    `Transformer.forward` (a temporal-decay layer reads both)."""
    spec = {"kind": "temporal_decay", "options": {"rates": "learned", "use_time": True}}
    cfg = ModelConfig.from_name("tiny-gqa").with_layer_attention(spec, layers=[1])
    torch.manual_seed(0)
    text = Transformer(cfg, attn_impl=attn_impl).eval()
    text.init_weights(std=0.2, generator=torch.Generator().manual_seed(0))
    vlm = VisionLanguageModel(text, VISION, CrossModalConfig(layers=(0, 2), num_heads=2, attn_dim=32)).eval()
    ids, images = _inputs()
    positions = torch.arange(5, 14)[None].expand(3, 9)
    times = torch.rand(3, 9, generator=torch.Generator().manual_seed(2)).mul(3).round().cumsum(-1)
    with torch.no_grad():
        ref = text(ids, positions, times=times)
        assert not torch.allclose(ref, text(ids, positions, times=times * 3))  # the stamps matter here
        assert torch.equal(vlm(ids, images, positions=positions, times=times), ref)
        assert torch.equal(vlm(ids, positions=positions, times=times), ref)
    with pytest.raises(ValueError, match="times"):
        vlm(ids, times=times[:, :3])


def test_logits_shape_and_open_gates_change_only_rows_with_images():
    vlm = _vlm(gate=0.5)
    ids, images = _inputs()
    with torch.no_grad():
        ref = vlm.text_model(ids)
        out = vlm(ids, images, torch.tensor([True, False, True]))
    assert out.shape == (3, 9, 320)
    assert torch.equal(out[1], ref[1])  # no image: exactly the text model
    assert not torch.allclose(out[0], ref[0]) and not torch.allclose(out[2], ref[2])


def test_eager_and_sdpa_paths_agree():
    fast = _vlm(gate=0.5)
    ref = _vlm(gate=0.5, attn_impl="eager", cross_impl="eager")
    ref.load_state_dict(fast.state_dict())
    ids, images = _inputs()
    key_mask = torch.ones(3, 9, dtype=torch.bool)
    key_mask[0, :4] = False
    with torch.no_grad():
        a = fast(ids, images, torch.tensor([True, True, False]), text_key_mask=key_mask)
        b = ref(ids, images, torch.tensor([True, True, False]), text_key_mask=key_mask)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_gradients_reach_every_parameter_once_gates_open():
    vlm = _vlm(gate=0.3).train()
    ids, images = _inputs()
    logits = vlm(ids, images)
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids.roll(-1, 1).flatten()).backward()
    for name, p in vlm.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        if name.startswith(("vision.", "cross_blocks.")):
            assert float(p.grad.abs().max()) > 0, name


def test_at_zero_gates_only_the_gates_receive_image_side_gradient():
    vlm = _vlm(gate=0.0).train()
    ids, images = _inputs()
    logits = vlm(ids, images)
    torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids.roll(-1, 1).flatten()).backward()
    for name, p in vlm.named_parameters():
        if name.startswith(("vision.", "cross_blocks.")):
            g = 0.0 if p.grad is None else float(p.grad.abs().max())
            if name.endswith(".gate"):
                # the image->text gate of block 0 moves only text that later blocks read through their own
                # (zero) gates, so at exactly zero only the text->image gates see the loss
                if "text_from_image" in name:
                    assert g > 0, name
            else:
                assert g == 0.0, name


def test_last_block_has_no_image_update():
    vlm = _vlm(layers=(0, 1))
    assert vlm.cross_blocks["0"].image_from_text is not None
    assert vlm.cross_blocks["1"].image_from_text is None


@pytest.mark.parametrize("cross_impl", ["sdpa", "eager"])
def test_prefill_then_decode_equals_full_forward(cross_impl):
    """Prefix-LM contract: image tokens read the prompt; a full forward over prompt + continuation with
    text_key_mask on the prompt equals prefill (filling an ImageState) + cached decode steps."""
    vlm = _vlm(gate=0.6, cross_impl=cross_impl, attn_impl=cross_impl)
    ids, images = _inputs(b=2, t=10)
    prompt = 6
    image_mask = torch.tensor([True, False])
    key_mask = torch.zeros(2, 10, dtype=torch.bool)
    key_mask[:, :prompt] = True
    key_mask[0, 0] = False  # e.g. a padding token in the prompt
    with torch.no_grad():
        full = vlm(ids, images, image_mask, text_key_mask=key_mask)
        cache = DenseKVCache(vlm.text_model.config, batch_size=2, max_len=16)
        state = ImageState()
        positions = cache.next_positions(prompt)
        cache.begin(positions)
        steps = [
            vlm(
                ids[:, :prompt],
                images,
                image_mask,
                positions,
                text_key_mask=key_mask[:, :prompt],
                kv_cache=cache,
                image_state=state,
            )
        ]
        cache.advance(prompt)
        assert state.filled and len(state.streams) == 2
        for t in range(prompt, 10):
            positions = cache.next_positions(1)
            cache.begin(positions)
            steps.append(vlm(ids[:, t : t + 1], positions=positions, kv_cache=cache, image_state=state))
            cache.advance(1)
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-4, atol=1e-5)
    # the row without an image decodes exactly like the text model alone
    with torch.no_grad():
        assert torch.allclose(full[1], vlm.text_model(ids)[1], rtol=1e-5, atol=1e-6)


def test_greedy_generate_equals_argmax_of_full_forwards():
    vlm = _vlm(gate=0.8)
    ids, images = _inputs(b=3, t=5)
    image_mask = torch.tensor([True, False, True])
    prompt_mask = torch.ones(3, 5, dtype=torch.bool)
    prompt_mask[0, :2] = False  # left padding the image does not read
    new = greedy_generate(vlm, ids, images, image_mask, max_new_tokens=4, text_key_mask=prompt_mask)
    assert new.shape == (3, 4)
    seq = ids
    with torch.no_grad():
        for _ in range(4):
            key_mask = torch.cat([prompt_mask, torch.zeros(3, seq.shape[1] - 5, dtype=torch.bool)], dim=1)
            nxt = vlm(seq, images, image_mask, text_key_mask=key_mask)[:, -1].argmax(-1)
            seq = torch.cat([seq, nxt[:, None]], dim=1)
    assert torch.equal(new, seq[:, 5:])


def test_forward_errors():
    vlm = _vlm()
    ids, images = _inputs()
    with pytest.raises(ValueError, match="input_ids must be"):
        vlm(ids[0], images)
    with pytest.raises(ValueError, match="images has 2 rows"):
        vlm(ids, images[:2])
    with pytest.raises(ValueError, match="images must be"):
        vlm(ids, images[:, :1])
    with pytest.raises(ValueError, match="image_mask given without images"):
        vlm(ids, image_mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="text_key_mask must be bool"):
        vlm(ids, images, text_key_mask=torch.ones(3, 9))
    state = ImageState()
    with torch.no_grad():
        vlm(ids, images, image_state=state)
    with pytest.raises(ValueError, match="either images or a filled image_state"):
        vlm(ids, images, image_state=state)
