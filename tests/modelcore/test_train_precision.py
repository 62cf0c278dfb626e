"""Training precision (`modelcore.training.precision`): the FP8 emulation's rounding bounds and gradients, the
fp32 / fp8_emulated / bf16 / fp16 loss curves of LoRA training on the tiny preset, and the fp8 refusals."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from modelcore import load_model
from modelcore.train import main as train_main
from modelcore.training.adapter import TrainOptions, train_adapter
from modelcore.training.precision import (
    FP8_BACKWARD,
    FP8_FORWARD,
    Fp8EmulatedLinear,
    Precision,
    capability_refusal,
    fp8_roundtrip,
    fp8_scale,
)

from .test_train import base_dir, data_file, tokenizer  # noqa: F401  (module fixtures shared)

pytest.importorskip("peft")


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm())


# Rounding to nearest with m mantissa bits: relative error <= 2^-(m+1) for normal numbers (e4m3: 2^-4, e5m2:
# 2^-3); below the smallest normal (2^-6 for e4m3, 2^-14 for e5m2, in units of the scale) the spacing is
# fixed, so the absolute error is <= half a subnormal step: 2^-10 resp. 2^-17 times the scale.
@pytest.mark.parametrize("dtype,rel,sub", [(FP8_FORWARD, 2**-4, 2**-10), (FP8_BACKWARD, 2**-3, 2**-17)])
def test_fp8_roundtrip_error_is_within_the_format_bound(dtype, rel, sub):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4096, generator=g) * torch.exp(2 * torch.randn(4096, generator=g))  # wide dynamic range
    r = fp8_roundtrip(x, dtype)
    scale = fp8_scale(x, dtype)
    err = (x - r).abs()
    assert bool((err <= torch.maximum(rel * x.abs(), sub * scale) * (1 + 1e-6)).all())
    assert err.max() > 0  # it does round
    assert float(r.abs().max()) == pytest.approx(float(x.abs().max()), rel=1e-6)  # amax maps onto fp8 max
    assert torch.isfinite(fp8_roundtrip(torch.zeros(8), dtype)).all()


def test_fp8_emulated_linear_tracks_fp32_forward_and_gradients():
    torch.manual_seed(0)
    linear = nn.Linear(64, 160, bias=False)
    fp8 = Fp8EmulatedLinear.from_linear(linear)
    assert fp8.weight is linear.weight
    x = torch.randn(8, 64, requires_grad=True)
    g = torch.randn(8, 160)
    y0 = linear(x)
    gx0, gw0 = torch.autograd.grad(y0, (x, linear.weight), g)
    y1 = fp8(x)
    gx1, gw1 = torch.autograd.grad(y1, (x, fp8.weight), g)
    # each operand carries an independent rounding error of RMS ~2^-4/sqrt(3) ~ 3.6% (e4m3), ~7% for e5m2
    # gradients; the products' relative errors measured 3.6% (y) and 5.9% (both gradients) here
    assert 0.01 < _rel(y1, y0) < 0.06
    assert 0.01 < _rel(gx1, gx0) < 0.09
    assert 0.01 < _rel(gw1, gw0) < 0.09


FEW = TrainOptions(
    rank=4, alpha=8, target_modules=("q_proj", "v_proj"), lr=1e-2, max_steps=4, batch_size=4, val_fraction=0.2
)


@pytest.fixture(scope="module")
def curves(tmp_path_factory, base_dir, tokenizer, data_file):  # noqa: F811
    out = {}
    for precision in ("fp32", "fp8_emulated", "bf16", "fp16"):
        options = TrainOptions(**{**FEW.__dict__, "precision": precision})
        summary = train_adapter(
            load_model(base_dir),
            tokenizer,
            data_file,
            tmp_path_factory.mktemp(precision),
            options=options,
            progress=False,
        )
        out[precision] = summary
    return out


def test_fp8_emulated_loss_curve_follows_fp32(curves):
    fp32, fp8 = curves["fp32"]["train_losses"], curves["fp8_emulated"]["train_losses"]
    # 2 layers x 7 projections converted; lm_head and the rank-4 LoRA factors (not multiples of 16) are not
    assert curves["fp8_emulated"]["fp8_linear_layers"] == 14 and curves["fp32"]["fp8_linear_layers"] == 0
    diffs = [abs(a - b) / b for a, b in zip(fp8, fp32, strict=True)]
    # The loss is a mean over many tokens of log-softmax of logits whose per-element error is ~4% of a
    # logit that is small next to log(320) ~ 5.8 (random init): the loss moves by a fraction of a percent.
    # A real divergence (wrong scale, a missing cast back) moves it by whole units.
    assert max(diffs) < 0.01, diffs
    assert max(diffs) > 0  # the emulation really rounded
    assert fp8[-1] < fp8[0]  # and it still learns


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_precisions_follow_fp32(curves, precision):
    fp32, low = curves["fp32"]["train_losses"], curves[precision]["train_losses"]
    assert curves[precision]["precision"] == precision
    # bf16 keeps 8 mantissa bits (relative rounding 2^-9 ~ 0.2%), fp16 11; the loss is computed in float32
    # from the autocast logits
    diffs = [abs(a - b) / b for a, b in zip(low, fp32, strict=True)]
    assert max(diffs) < 0.02, diffs
    assert low[-1] < low[0]


def test_fp16_uses_a_loss_scaler():
    p = Precision.resolve("fp16", "cpu")
    assert p.scaler is not None and p.scaler.is_enabled() and p.autocast_dtype is torch.float16
    assert Precision.resolve("bf16", "cpu").scaler is None


def test_fp8_refused_without_fp8_tensor_cores():
    with pytest.raises(ValueError, match=r"device cpu is not a CUDA device.*fp8_emulated"):
        Precision.resolve("fp8", "cpu")
    a100 = capability_refusal("NVIDIA A100-SXM4-80GB", "cuda:0", (8, 0))
    assert "NVIDIA A100-SXM4-80GB (cuda:0) has compute capability 8.0" in a100 and ">= 8.9" in a100
    assert "8.7" in capability_refusal("Orin", "cuda:0", (8, 7))
    for ok in ((8, 9), (9, 0), (10, 0)):
        assert capability_refusal("GPU", "cuda:0", ok) is None
    with pytest.raises(ValueError, match="unknown precision 'fp4'"):
        Precision.resolve("fp4", "cpu")


def test_cli_refuses_fp8_on_the_cpu_and_writes_nothing(base_dir, data_file, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "adapter"
    code = train_main(
        ["adapter", "--base", str(base_dir), "--data", str(data_file), "--out", str(out)]
        + ["--precision", "fp8", "--no-progress"]
    )
    assert code == 2
    assert "compute capability >= 8.9" in capsys.readouterr().err
    assert not out.exists()


def test_fp8_emulation_matches_torchao_float8():
    """Where torchao is installed: its Float8Linear (CPU emulation of its scaled matmuls, the same
    tensorwise e4m3 / e5m2 recipe the GPU runs) and our `Fp8EmulatedLinear` agree to float32 rounding."""
    pytest.importorskip("torchao.float8")
    torch.manual_seed(0)
    linear = nn.Linear(64, 160, bias=False)
    x = 3 * torch.randn(8, 64)
    g = torch.randn(8, 160)
    results = {}
    # Precision("fp8", "cpu", ...) built directly: `resolve` refuses fp8 on the CPU, `prepare` then uses
    # torchao's emulate mode
    for precision in (Precision.resolve("fp8_emulated", "cpu"), Precision("fp8", "cpu", None, None)):
        model = nn.Sequential(nn.Linear(64, 160, bias=False))
        model[0].weight.data.copy_(linear.weight)
        precision.prepare(model)
        assert precision.converted_count == 1 and type(model[0]) is not nn.Linear
        xi = x.clone().requires_grad_(True)
        model(xi).backward(g)
        results[precision.name] = (model[0](x).detach(), xi.grad, model[0].weight.grad)
        precision.restore()
        assert type(model[0]) is nn.Linear
    for ours, theirs in zip(results["fp8_emulated"], results["fp8"], strict=True):
        assert _rel(ours, theirs) < 1e-5  # measured ~1.6e-7
    assert _rel(results["fp8"][0], linear(x)) > 1e-3  # and both differ from float32 by FP8 rounding
