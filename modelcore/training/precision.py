"""Training precision as a transform plus a step recipe: `Precision.resolve(name, device)` once, then
`prepare(model)` (fp8: swap Linear layers), `autocast()` around the forward, `backward(loss)` and
`step(optimizer)` (fp16: loss scaling), `restore()` to put the original Linear layers back.

- fp32: nothing.
- bf16: `torch.autocast(device_type, torch.bfloat16)`; parameters and optimizer state stay float32.
- fp16: autocast float16 + `torch.amp.GradScaler(device_type)` (loss scaling keeps small gradients from
  flushing to zero in float16; the scaler unscales before the step and skips steps with inf/nan gradients).
- fp8: torchao's float8 training (`torchao.float8.convert_to_float8_training`, tensorwise dynamic scaling)
  on CUDA devices with FP8 tensor cores (compute capability >= 8.9: L4, H100, H200), with bf16 autocast for
  the rest of the model. Refused elsewhere (A100 is 8.0, Jetson Orin 8.7: no FP8 tensor cores).
- fp8_emulated: the same recipe written out in plain PyTorch, for any device: each matmul of a converted
  Linear casts its operands to float8 with a per-tensor scale (inputs and weights e4m3 forward, output
  gradients e5m2 backward), casts them back and multiplies in float32. It reproduces FP8's rounding, not its
  speed; it is the CPU path and the test oracle of the fp8 numerics.

Which Linear layers are converted: those whose both dimensions are multiples of 16 (FP8 GEMMs need it), never
the output head `lm_head` (its logits feed the softmax directly; torchao's recipes leave it in high precision).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

PrecisionName = Literal["fp32", "bf16", "fp16", "fp8", "fp8_emulated"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16", "fp8", "fp8_emulated")
FP8_MIN_CAPABILITY = (8, 9)
FP8_FORWARD = torch.float8_e4m3fn  # activations and weights: more mantissa (3 bits), max 448
FP8_BACKWARD = torch.float8_e5m2  # gradients: more range (5 exponent bits), max 57344
SKIP_MODULES = ("lm_head",)


# ------------------------------------------------------------------------------------------ device checks
def fp8_refusal(device: torch.device | str) -> str | None:
    """Why FP8 training cannot run on `device` (None when it can): it needs a CUDA device of compute
    capability >= 8.9."""
    device = torch.device(device)
    if device.type != "cuda":
        return (
            f"--precision fp8 needs a CUDA GPU with FP8 tensor cores (compute capability >= 8.9: L4, H100, "
            f"H200); device {device} is not a CUDA device (use fp8_emulated to test the FP8 numerics there)"
        )
    if not torch.cuda.is_available():
        return "--precision fp8: CUDA is not available in this PyTorch build or on this machine"
    return capability_refusal(
        torch.cuda.get_device_name(device), device, torch.cuda.get_device_capability(device)
    )


def capability_refusal(name: str, device: torch.device | str, capability: tuple[int, int]) -> str | None:
    """The refusal for a CUDA device `name` of compute `capability` (None when it has FP8 tensor cores)."""
    if tuple(capability) >= FP8_MIN_CAPABILITY:
        return None
    major, minor = capability
    return (
        f"--precision fp8: {name} ({device}) has compute capability {major}.{minor}; FP8 tensor cores need "
        f">= 8.9 (L4, H100, H200). A100 (8.0) and Jetson Orin (8.7) have none: use bf16 or fp16"
    )


def _fp8_module_filter(module: nn.Module, fqn: str) -> bool:
    if fqn.rsplit(".", 1)[-1] in SKIP_MODULES:
        return False
    return isinstance(module, nn.Linear) and module.in_features % 16 == 0 and module.out_features % 16 == 0


# ---------------------------------------------------------------------------------------- fp8 emulation
def fp8_scale(x: Tensor, dtype: torch.dtype) -> Tensor:
    """Per-tensor scale = amax / fp8 max (float32 scalar), so that x / scale spans the fp8 range."""
    amax = x.detach().abs().amax().float()
    return torch.clamp(amax, min=1e-12) / torch.finfo(dtype).max


def fp8_roundtrip(x: Tensor, dtype: torch.dtype = FP8_FORWARD) -> Tensor:
    """x cast to float8 `dtype` with a per-tensor scale and back, in float32 (x's rounding to FP8)."""
    scale = fp8_scale(x, dtype)
    fp8_max = torch.finfo(dtype).max
    # clamp: x / scale can land a rounding error above fp8 max, and an out-of-range cast is not saturating
    # for every format and device (e5m2 overflows to inf)
    return (x.float() / scale).clamp(-fp8_max, fp8_max).to(dtype).float() * scale


class _Fp8Matmul(torch.autograd.Function):
    """y = x @ w.T with x, w rounded to e4m3 forward; grad_y rounded to e5m2 backward, and both gradient
    matmuls use the rounded forward operands (as a real FP8 GEMM reuses its fp8 copies)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:  # x (..., in), weight (out, in)
        x_q = fp8_roundtrip(x, FP8_FORWARD)
        w_q = fp8_roundtrip(weight, FP8_FORWARD)
        ctx.save_for_backward(x_q, w_q)
        ctx.dtypes = (x.dtype, weight.dtype)
        return x_q @ w_q.t()  # (..., out), float32

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x_q, w_q = ctx.saved_tensors
        g_q = fp8_roundtrip(grad_out, FP8_BACKWARD)  # (..., out)
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = (g_q @ w_q).to(ctx.dtypes[0])  # (..., in)
        if ctx.needs_input_grad[1]:  # (out, in); skipped for frozen weights (LoRA's base layers)
            grad_w = (g_q.reshape(-1, g_q.shape[-1]).t() @ x_q.reshape(-1, x_q.shape[-1])).to(ctx.dtypes[1])
        return grad_x, grad_w


class Fp8EmulatedLinear(nn.Linear):
    """An `nn.Linear` (sharing the original's parameters) whose matmul goes through `_Fp8Matmul`."""

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Fp8EmulatedLinear:
        with torch.device("meta"):
            new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None)
        new.weight = linear.weight
        new.bias = linear.bias
        return new

    def forward(self, x: Tensor) -> Tensor:
        y = _Fp8Matmul.apply(x, self.weight).to(x.dtype)
        return y if self.bias is None else y + self.bias


def _swap_linears(
    model: nn.Module, convert: Callable[[nn.Linear], nn.Module]
) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace every Linear passing the filter by convert(linear); returns (parent, name, original) to undo."""
    swapped = []
    for fqn, module in list(model.named_modules()):
        if type(module) is not nn.Linear or not _fp8_module_filter(module, fqn):
            continue
        parent_name, _, name = fqn.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, name, convert(module))
        swapped.append((parent, name, module))
    return swapped


# --------------------------------------------------------------------------------------------- recipe
@dataclass
class Precision:
    """One training precision on one device. Use `Precision.resolve`."""

    name: str
    device_type: str
    autocast_dtype: torch.dtype | None
    scaler: torch.amp.GradScaler | None
    converted_count: int = 0  # Linear layers `prepare` converted to fp8 (kept after `restore`)
    _swapped: list[tuple[nn.Module, str, nn.Module]] = field(default_factory=list, repr=False)

    @classmethod
    def resolve(cls, name: str, device: torch.device | str) -> Precision:
        """The recipe for `name` on `device`; ValueError naming the problem when it cannot run there."""
        if name not in PRECISIONS:
            raise ValueError(f"unknown precision {name!r}; known: {', '.join(PRECISIONS)}")
        device = torch.device(device)
        if name == "fp8":
            refusal = fp8_refusal(device)
            if refusal:
                raise ValueError(refusal)
            try:
                import torchao.float8  # noqa: F401
            except ImportError:
                raise ValueError(
                    "--precision fp8 needs torchao (pip install torchao matching your torch version)"
                ) from None
        autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp8": torch.bfloat16}.get(name)
        scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None
        return cls(name, device.type, autocast_dtype, scaler)

    def prepare(self, model: nn.Module) -> nn.Module:
        """Apply the precision's transform to `model` in place (fp8: Linear layers swapped); returns it."""
        if self.name == "fp8_emulated":
            self._swapped += _swap_linears(model, Fp8EmulatedLinear.from_linear)
        elif self.name == "fp8":
            from torchao.float8 import Float8LinearConfig, convert_to_float8_training

            before = {fqn: m for fqn, m in model.named_modules() if type(m) is nn.Linear}
            # emulate: torchao's own CPU emulation of the scaled matmuls; reachable only by building a
            # Precision("fp8", "cpu", ...) directly, which the tests do to check torchao against fp8_emulated
            config = Float8LinearConfig(emulate=self.device_type != "cuda")
            convert_to_float8_training(model, module_filter_fn=_fp8_module_filter, config=config)
            after = dict(model.named_modules())
            for fqn, original in before.items():
                if after.get(fqn) is not original:
                    parent_name, _, name = fqn.rpartition(".")
                    self._swapped.append((model.get_submodule(parent_name), name, original))
        self.converted_count = len(self._swapped)
        return model

    def restore(self) -> None:
        """Undo `prepare`: the original Linear modules (which share their parameters with the converted
        ones, so they hold the trained values) go back in place."""
        for parent, name, original in reversed(self._swapped):
            setattr(parent, name, original)
        self._swapped.clear()

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        if self.autocast_dtype is None:
            yield
        else:
            with torch.autocast(self.device_type, dtype=self.autocast_dtype):
                yield

    def backward(self, loss: Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def clip_grad_norm_(
        self, optimizer: torch.optim.Optimizer, parameters: Iterable[Tensor], max_norm: float
    ) -> Tensor:
        """Clip the true (unscaled) gradient norm; call between `backward` and `step`."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)  # `step` then knows not to unscale again
        return torch.nn.utils.clip_grad_norm_(parameters, max_norm)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """optimizer.step() (through the scaler for fp16: unscale, skip on inf/nan, update the scale)."""
        if self.scaler is not None:
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            optimizer.step()
