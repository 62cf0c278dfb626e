"""Weight-only quantization for serving: a transform applied after load, never an `if` in `model.py`.

`quantize_model(model, mode="int8" | "int4", group_size=...)` swaps every plain `nn.Linear` of a loaded
`Transformer` for a quantized twin; activations, norms, embeddings and the KV cache stay in the model's float
dtype. Decode at batch 1 streams every weight byte once per token, so fewer bytes per weight is the speed-up.

- int8 (`Int8Linear`): symmetric, one float32 scale per output row: w[o, i] ~= q[o, i] * scale[o], q in
  [-127, 127]. Kernel: `torch.ops.aten._weight_int8pack_mm(x (M, K), q (N, K) int8, scales (N,))`.
- int4 (`Int4Linear`): asymmetric, one (scale, zero) per group of `group_size` input features:
  w ~= (q - 8) * scale + zero, q in [0, 15] (torch's tinygemm convention). Kernel:
  `torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, group_size, scales_and_zeros (K/g, N, 2))` on
  weights packed by `_convert_weight_to_int4pack_for_cpu` (needs N % 16 == 0). When `group_size` does not
  divide in_features, the weight is zero-padded to the next multiple and the input padded with zeros (the
  padded products are exactly 0).

Kernel activations: torch's CPU weight-only kernels vectorise bfloat16 / float16 activations only; float32
activations take a scalar loop (measured on this AVX2 CPU, 1536x576, one row: float32 6.6 ms through the
kernel vs 0.86 ms plain float32 `F.linear`; bfloat16 0.81 ms). So on CPU a float32 input is cast to
`compute_dtype` (default bfloat16) for the kernel and the output cast back: the result has the input's dtype,
with bfloat16 rounding of the activations (its cost is measured by bench/quant.py). `compute_dtype=None`
keeps the input's dtype end to end (exact kernel == reference checks, slower on CPU).

Every module keeps an eager reference, `reference(x)` = dequantize then `F.linear`: it is the test oracle and
the path on devices or dtypes the kernel does not cover (CUDA here: torch's CUDA int4 kernel wants another
packing and bf16; not wired yet). Every path computes in the input's device and dtype.

The checkpoint on disk stays float (quantize at load: `load_model(..., quantize="int8")`); a quantized model's
state dict holds the quantized tensors (`qweight`, `scales`, ...) under the original module names.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

QUANT_MODES = ("int8", "int4")
GROUP_SIZES = (32, 64, 128)
# 32: the embedded model's layers ship as GGUF Q4_1, blocks of 32 weights with their own scale and minimum, so
# int4 groups of 32 line up with the source blocks (+0.4 % perplexity with the int8 head) while groups of 64 straddle
# two blocks (+37 %; v_proj and down_proj alone +12 % each; bench/quant.py). A checkpoint stored in bf16 (DeepSeek)
# has no such blocks: 64 or 128 may serve it well; set the group size per model.
DEFAULT_GROUP_SIZE = 32
KERNEL_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
DEFAULT_COMPUTE_DTYPE = torch.bfloat16  # CPU kernel activations for float32 inputs (see module docstring)
INT4_N_MULTIPLE = 16  # _convert_weight_to_int4pack_for_cpu: "expect N to be dividable by 16"

QuantMode = Literal["int8", "int4"]


def _flat(x: Tensor) -> Tensor:
    return x.reshape(-1, x.shape[-1])  # (M, K)


class _KernelLinear(nn.Module):
    """What both quantized linears share: the kernel's activation dtype, float tensors cast once per dtype."""

    compute_dtype: torch.dtype | None = DEFAULT_COMPUTE_DTYPE

    def kernel_dtype(self, x: Tensor) -> torch.dtype:
        return self.compute_dtype if (self.compute_dtype is not None and x.dtype == torch.float32) else x.dtype

    def cast_once(self, name: str, dtype: torch.dtype) -> Tensor:
        """Buffer `name` in `dtype`, converted on first use and kept (non-persistent) for the next calls."""
        t = getattr(self, name)
        if t.dtype == dtype:
            return t
        key = f"_{name}_{str(dtype).removeprefix('torch.')}"
        cached = self._buffers.get(key)
        if cached is None or cached.device != t.device:
            cached = t.to(dtype)
            self.register_buffer(key, cached, persistent=False)
        return cached

    def finish(self, y: Tensor, x: Tensor) -> Tensor:
        """(M, N) kernel output -> x's dtype and leading shape, plus the bias."""
        y = y.to(x.dtype)
        if self.bias is not None:
            y = y + self.bias.to(x.dtype)
        return y.view(*x.shape[:-1], self.out_features)


# ------------------------------------------------------------------------------------------------- int8
def quantize_int8(weight: Tensor) -> tuple[Tensor, Tensor]:
    """weight (N, K) float -> (q (N, K) int8 in [-127, 127], scales (N,) float32), symmetric per row."""
    w = weight.detach().float()
    scales = (w.abs().amax(dim=1) / 127.0).clamp(min=torch.finfo(torch.float32).tiny)  # (N,); all-zero rows -> q 0
    q = torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)  # (N, K)
    return q, scales


class Int8Linear(_KernelLinear):
    """Weight-only int8 linear: `qweight` (N, K) int8, `scales` (N,) float32, optional float `bias`."""

    def __init__(self, qweight: Tensor, scales: Tensor, bias: Tensor | None = None) -> None:
        super().__init__()
        self.out_features, self.in_features = qweight.shape
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales", scales)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        q, s = quantize_int8(linear.weight)
        return cls(q, s, linear.bias)

    def dequantize(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """(N, K) float weight this module multiplies by."""
        return (self.qweight.float() * self.scales[:, None]).to(dtype)

    def reference(self, x: Tensor) -> Tensor:
        return F.linear(x, self.dequantize(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    def kernel_ok(self, x: Tensor) -> bool:
        return x.device.type == "cpu" and x.dtype in KERNEL_DTYPES and self.qweight.device == x.device

    def forward(self, x: Tensor) -> Tensor:
        if not self.kernel_ok(x):
            return self.reference(x)
        dtype = self.kernel_dtype(x)
        y = torch.ops.aten._weight_int8pack_mm(_flat(x).to(dtype), self.qweight, self.cast_once("scales", dtype))
        return self.finish(y, x)  # (M, N) -> (..., N)

    def weight_bytes(self) -> int:
        """Bytes a forward reads for its weights (quantized values + scales)."""
        return self.qweight.numel() + self.scales.numel() * self.scales.element_size()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-channel"


# ------------------------------------------------------------------------------------------------- int4
def quantize_int4(weight: Tensor, group_size: int) -> tuple[Tensor, Tensor]:
    """weight (N, K) float -> (q (N, Kp) uint8 in [0, 15], scales_and_zeros (Kp/g, N, 2) float32), Kp = K
    rounded up to a multiple of `group_size` (zero columns). Asymmetric per group: w ~= (q - 8) * s + z."""
    w = weight.detach().float()
    n, k = w.shape
    kp = -(-k // group_size) * group_size
    w = F.pad(w, (0, kp - k))  # (N, Kp)
    wg = w.view(n, kp // group_size, group_size)  # (N, G, g)
    lo, hi = wg.amin(dim=-1, keepdim=True), wg.amax(dim=-1, keepdim=True)  # (N, G, 1)
    scale = ((hi - lo) / 15.0).clamp(min=1e-8)  # constant groups: q = 0, w = lo exactly
    q = torch.round((wg - lo) / scale).clamp(0, 15).to(torch.uint8).view(n, kp)
    zero = lo + 8.0 * scale  # so that (q - 8) * scale + zero = q * scale + lo
    scales_and_zeros = torch.stack([scale[..., 0].t(), zero[..., 0].t()], dim=-1).contiguous()  # (G, N, 2)
    return q, scales_and_zeros


def pack_nibbles(q: Tensor) -> Tensor:
    """(N, K) uint8 in [0, 15], K even -> (N, K/2) uint8: column 2j in the low nibble, 2j+1 in the high."""
    return q[:, 0::2] | (q[:, 1::2] << 4)


def unpack_nibbles(packed: Tensor) -> Tensor:
    """Inverse of `pack_nibbles`: (N, K/2) uint8 -> (N, K) uint8."""
    return torch.stack([packed & 0xF, packed >> 4], dim=-1).view(packed.shape[0], -1)  # (N, K/2, 2) -> (N, K)


class Int4Linear(_KernelLinear):
    """Weight-only int4 linear, group-wise asymmetric. State: `qweight` (N, Kp/2) uint8 (two 4-bit values a
    byte, a plain layout any device can unpack), `scales_and_zeros` (Kp/g, N, 2) float32, optional `bias`.
    The CPU kernel's own blocked layout (`_packed`, not saved) is built on first use on CPU."""

    def __init__(
        self, qweight: Tensor, scales_and_zeros: Tensor, group_size: int, in_features: int, bias: Tensor | None
    ) -> None:
        super().__init__()
        self.out_features = qweight.shape[0]
        self.in_features = in_features
        self.padded_in_features = qweight.shape[1] * 2
        self.group_size = group_size
        self.register_buffer("qweight", qweight)
        self.register_buffer("scales_and_zeros", scales_and_zeros)
        self.register_buffer("_packed", None, persistent=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear, group_size: int) -> Int4Linear:
        q, sz = quantize_int4(linear.weight, group_size)
        return cls(pack_nibbles(q), sz, group_size, linear.in_features, linear.bias)

    def dequantize(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """(N, K) float weight this module multiplies by (padding columns dropped)."""
        n, g = self.out_features, self.group_size
        q = unpack_nibbles(self.qweight).float().view(n, -1, g)  # (N, G, g)
        scale = self.scales_and_zeros[..., 0].t()[..., None]  # (N, G, 1)
        zero = self.scales_and_zeros[..., 1].t()[..., None]  # (N, G, 1)
        w = ((q - 8.0) * scale + zero).view(n, -1)  # (N, Kp)
        return w[:, : self.in_features].to(dtype)

    def reference(self, x: Tensor) -> Tensor:
        return F.linear(x, self.dequantize(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    def kernel_ok(self, x: Tensor) -> bool:
        return (
            x.device.type == "cpu"
            and x.dtype in KERNEL_DTYPES
            and self.qweight.device == x.device
            and self.out_features % INT4_N_MULTIPLE == 0
        )

    def packed(self) -> Tensor:
        """The weight in `_weight_int4pack_mm_for_cpu`'s layout (built once; its layout is the CPU build's)."""
        if self._packed is None:
            q = unpack_nibbles(self.qweight).to(torch.int32)  # (N, Kp)
            self._packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 1)
        return self._packed

    def forward(self, x: Tensor) -> Tensor:
        if not self.kernel_ok(x):
            return self.reference(x)
        dtype = self.kernel_dtype(x)
        x2 = _flat(x).to(dtype)  # (M, K)
        if self.padded_in_features != self.in_features:
            x2 = F.pad(x2, (0, self.padded_in_features - self.in_features))  # (M, Kp): zeros meet padding
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(
            x2.contiguous(), self.packed(), self.group_size, self.cast_once("scales_and_zeros", dtype)
        )  # (M, N)
        return self.finish(y, x)  # (M, N) -> (..., N)

    def weight_bytes(self) -> int:
        """Bytes a forward reads for its weights (4-bit values + scales and zeros)."""
        return self.qweight.numel() + self.scales_and_zeros.numel() * self.scales_and_zeros.element_size()

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, int4 group_size={self.group_size}"
        )


QUANTIZED_LINEARS = (Int8Linear, Int4Linear)


# -------------------------------------------------------------------------------------------- transform
def check_quantize_args(mode: str | None, group_size: int) -> None:
    """ValueError naming the bad value; `mode` None means no quantization."""
    if mode is not None and mode not in QUANT_MODES:
        raise ValueError(f"quantize={mode!r}: expected one of {', '.join(QUANT_MODES)} (or None)")
    if mode == "int4" and group_size not in GROUP_SIZES:
        raise ValueError(f"group_size={group_size!r}: expected one of {', '.join(map(str, GROUP_SIZES))}")


@torch.no_grad()
def quantize_model(
    model: nn.Module,
    mode: QuantMode,
    group_size: int = DEFAULT_GROUP_SIZE,
    *,
    include_lm_head: bool = True,
    lm_head_int8: bool = True,
    compute_dtype: torch.dtype | None = DEFAULT_COMPUTE_DTYPE,
) -> nn.Module:
    """Replace every plain `nn.Linear` of `model` with an `Int8Linear` / `Int4Linear`, in place; returns
    `model`. The embedding stays float (a tied `lm_head` gets its own quantized copy of the matrix). Under int4
    the `lm_head` is quantized to int8 unless `lm_head_int8=False` (llama.cpp's Q4 types likewise keep the
    output matrix at 6-8 bits; the embedded model's tied embedding ships as Q8_0): on SmolLM2-135M, int4 g32 with
    an int4 head costs +4.5 % perplexity, with an int8 head +0.4 % (bench/quant.py). `include_lm_head=False`
    leaves the head float.
    Quantize before attaching a LoRA bank (the bank then wraps the quantized modules; deltas stay float).
    compute_dtype: the CPU kernels' activation dtype for float32 inputs (None: the input's own)."""
    check_quantize_args(mode, group_size)
    from .adapters import MultiLoraLinear  # lazy: adapters imports model code

    if any(isinstance(m, MultiLoraLinear | Int8Linear | Int4Linear) for m in model.modules()):
        raise ValueError("quantize_model: quantize a float model before attaching a LoRA bank, and only once")
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if type(module) is nn.Linear and (include_lm_head or name != "lm_head")
    ]
    for name, linear in targets:
        if mode == "int8" or (name == "lm_head" and lm_head_int8):
            q: Int8Linear | Int4Linear = Int8Linear.from_linear(linear)
        else:
            q = Int4Linear.from_linear(linear, group_size)
        q.compute_dtype = compute_dtype
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, q.to(linear.weight.device))
    return model


def weight_bytes(model: nn.Module) -> dict[str, int]:
    """{"linear": bytes the linear layers read per token, "embedding": the embedding matrix (one row is read
    per token, but it is resident), "total": resident parameters + buffers}."""
    linear = 0
    for module in model.modules():
        if isinstance(module, QUANTIZED_LINEARS):
            linear += module.weight_bytes()
        elif type(module) is nn.Linear:
            linear += module.weight.numel() * module.weight.element_size()
    seen: set[int] = set()
    total = 0
    for t in [*model.parameters(), *model.buffers()]:
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    emb = model.get_submodule("model.embed_tokens").weight
    return {"linear": linear, "embedding": emb.numel() * emb.element_size(), "total": total}
