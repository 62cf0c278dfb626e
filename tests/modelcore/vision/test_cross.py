"""Dual-stream cross-attention: shapes, masks, eager reference == SDPA fast path, gate gradients."""

from __future__ import annotations

import pytest
import torch

from modelcore.vision import (
    CrossModalConfig,
    DualCrossBlock,
    eager_cross_attention,
    normalize_image_mask,
    sdpa_cross_attention,
)

B, T, N, CT, CI = 3, 7, 5, 24, 16


def _block(gate: float = 0.0, *, kind: str = "scalar", impl: str = "sdpa", seed: int = 0) -> DualCrossBlock:
    torch.manual_seed(seed)
    block = DualCrossBlock(CT, CI, CrossModalConfig(num_heads=2, attn_dim=12, gate=kind), impl)
    with torch.no_grad():
        for p in (block.text_from_image.gate, block.image_from_text.gate):
            p.fill_(gate)
    return block


def _streams(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, CT, generator=g), torch.randn(B, N, CI, generator=g)


def test_shapes_and_zero_gate_identity():
    text, image = _streams()
    mask = torch.ones(B, N, dtype=torch.bool)
    t2, i2 = _block()(text, image, mask)
    assert t2.shape == (B, T, CT) and i2.shape == (B, N, CI)
    assert torch.equal(t2, text) and torch.equal(i2, image)  # tanh(0) = 0: bit for bit unchanged


@pytest.mark.parametrize("kind", ["scalar", "channel"])
def test_gate_shapes(kind):
    block = _block(kind=kind)
    assert block.text_from_image.gate.shape == ((1,) if kind == "scalar" else (CT,))
    assert block.image_from_text.gate.shape == ((1,) if kind == "scalar" else (CI,))
    assert all(
        float(g.detach().abs().max()) == 0.0 for g in (block.text_from_image.gate, block.image_from_text.gate)
    )


def _qkv(seed: int, b: int = B, h: int = 2, t: int = T, s: int = N, d: int = 8):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(b, h, t, d, generator=g),
        torch.randn(b, h, s, d, generator=g),
        torch.randn(b, h, s, d, generator=g),
    )


@pytest.mark.parametrize("with_mask", [False, True])
def test_eager_equals_sdpa_functions(with_mask):
    q, k, v = _qkv(2)
    mask = None
    if with_mask:
        mask = torch.rand(B, N, generator=torch.Generator().manual_seed(3)) > 0.4
        mask[0] = False  # a row with no key at all
        mask[1, 0] = True
    ref, fast = eager_cross_attention(q, k, v, mask), sdpa_cross_attention(q, k, v, mask)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-6)
    if with_mask:
        assert torch.equal(ref[0], torch.zeros_like(ref[0])) and torch.equal(
            fast[0], torch.zeros_like(fast[0])
        )


def test_eager_matches_explicit_softmax():
    q, k, v = _qkv(4)
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[:, -2:] = False
    w = torch.softmax(
        (q @ k.transpose(-1, -2)) / 8**0.5 + torch.where(mask, 0.0, float("-inf"))[:, None, None], -1
    )
    torch.testing.assert_close(eager_cross_attention(q, k, v, mask), w @ v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["scalar", "channel"])
def test_block_eager_equals_sdpa(kind):
    text, image = _streams()
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1] = False
    mask[2, -1] = False
    key_mask = torch.ones(B, T, dtype=torch.bool)
    key_mask[0, :2] = False
    fast = _block(0.7, kind=kind, impl="sdpa")
    ref = _block(0.7, kind=kind, impl="eager")
    ref.load_state_dict(fast.state_dict())
    for a, b in zip(fast(text, image, mask, key_mask), ref(text, image, mask, key_mask), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_row_without_image_gets_exactly_zero(impl):
    text, image = _streams()
    image[1] = float("nan")  # whatever sits in an image-less row must not leak (not even a NaN)
    image_mask = normalize_image_mask(torch.tensor([True, False, True]), B, N, image.device)
    block = _block(0.9, impl=impl)
    t2, i2 = block(text, image, image_mask)
    assert torch.equal(t2[1], text[1])
    assert not torch.isnan(t2).any()
    assert not torch.equal(t2[0], text[0])  # rows with an image do change
    # the image stream of the image-less row is left as it was
    assert torch.isnan(i2[1]).all() and not torch.isnan(i2[[0, 2]]).any()


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_masked_image_tokens_get_no_weight_and_no_update(impl):
    text, image = _streams()
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[:, -2:] = False
    block = _block(0.9, impl=impl)
    t_a, i_a = block(text, image, mask)
    image_b = image.clone()
    image_b[:, -2:] = torch.randn(B, 2, CI) * 100  # masked image tokens changed
    t_b, i_b = block(text, image_b, mask)
    torch.testing.assert_close(t_b, t_a, rtol=0, atol=1e-6)
    assert torch.equal(i_a[:, -2:], image[:, -2:])  # masked image tokens are not updated


@pytest.mark.parametrize("impl", ["sdpa", "eager"])
def test_padded_text_keys_get_zero_weight(impl):
    text, image = _streams()
    mask = torch.ones(B, N, dtype=torch.bool)
    key_mask = torch.ones(B, T, dtype=torch.bool)
    key_mask[:, :3] = False  # left padding
    key_mask[2] = False  # a row whose text has no readable token
    block = _block(0.9, impl=impl)
    _, i_a = block(text, image, mask, key_mask)
    text_b = text.clone()
    text_b[:, :3] = torch.randn(B, 3, CT) * 100
    text_b[2] = torch.randn(T, CT)
    _, i_b = block(text_b, image, mask, key_mask)
    torch.testing.assert_close(i_b, i_a, rtol=0, atol=1e-6)
    assert torch.equal(i_a[2], image[2])  # no readable text -> zero image->text contribution
    if impl == "eager":
        assert torch.equal(i_b, i_a)  # exp(-inf) = 0: exactly no weight


def test_gates_get_gradient_at_zero_init():
    text, image = _streams()
    text.requires_grad_(True)
    mask = torch.ones(B, N, dtype=torch.bool)
    block = _block(0.0)
    t2, i2 = block(text, image, mask)
    (t2 * torch.randn_like(t2)).sum().backward(retain_graph=True)
    (i2 * torch.randn_like(i2)).sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None, name
        if name.endswith(".gate"):
            assert float(p.grad.abs().max()) > 0, name  # d tanh(g)/dg = 1 at 0
        else:
            assert float(p.grad.abs().max()) == 0.0, name  # multiplied by tanh(0) = 0 until a gate opens


def test_all_parameters_get_gradient_once_gates_open():
    text, image = _streams()
    block = _block(0.5)
    t2, i2 = block(text, image, torch.ones(B, N, dtype=torch.bool))
    ((t2**2).sum() + (i2**2).sum()).backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and float(p.grad.abs().max()) > 0, name
        assert torch.isfinite(p.grad).all(), name


def test_no_nan_gradient_through_empty_rows():
    text, image = _streams()
    block = _block(0.5)
    mask = torch.zeros(B, N, dtype=torch.bool)  # no row has an image
    key_mask = torch.zeros(B, T, dtype=torch.bool)
    t2, i2 = block(text, image, mask, key_mask)
    ((t2**2).sum() + (i2**2).sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in block.parameters() if p.grad is not None)


def test_image_mask_normalisation_and_errors():
    assert normalize_image_mask(None, 2, 3, torch.device("cpu")).all()
    m = normalize_image_mask(torch.tensor([True, False]), 2, 3, torch.device("cpu"))
    assert m.shape == (2, 3) and m[0].all() and not m[1].any()
    with pytest.raises(ValueError, match="bool"):
        normalize_image_mask(torch.ones(2), 2, 3, torch.device("cpu"))
    with pytest.raises(ValueError, match=r"\(2,\) or \(2, 3\)"):
        normalize_image_mask(torch.ones(2, 4, dtype=torch.bool), 2, 3, torch.device("cpu"))
    with pytest.raises(ValueError, match="key_mask"):
        q, k, v = _qkv(0)
        eager_cross_attention(q, k, v, torch.ones(B, N))
