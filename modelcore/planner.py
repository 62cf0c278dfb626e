"""Capacity planner: does a model fit on some hardware, and how fast would it serve? A roofline model.

Inputs: a model (a preset or a Hugging Face config.json), a precision (fp32 / bf16 / fp8 / int8 / int4), a device
from `HARDWARE` (datasheet numbers, each with its source) or this CPU as measured, a device count and
tensor-parallel degree, a scenario (chat, batch, edge), a context length. Output (`Plan`): memory per device and
whether it fits, decode tokens/s per stream and in aggregate, time to first token, and the assumptions.

Notation: h hidden size, i MLP size, L layers, q = n_heads * head_dim, kv = n_kv_heads * head_dim, V vocab,
B streams decoded together (per replica), T context (KV length), P prompt tokens, tp tensor-parallel degree,
dp = devices / tp replicas, BW memory bandwidth, F dense peak FLOP/s for the compute precision, e_bw / e_c the
bandwidth and compute efficiency factors.

    weights read per decode step  W = L * bytes(q*h + 2*kv*h + h*q + 3*h*i) + bytes(V*h)  (+ norms)
    KV cache per token            K = 2 * L * kv * kv_bytes
    decode step (one device)      t = max((W + B*T*K) / tp / (BW * e_bw),  FLOPs_dec / tp / (F * e_c))  + t_ar
    FLOPs_dec                     = 2 * B * N_mm + 4 * B * L * T * q       (N_mm: weights in matmuls, lm_head incl.)
    all-reduce cost               t_ar = 2 * L * (lat + 2 * (tp - 1) / tp * B*h*act_bytes / (link / 2))
    per stream tokens/s = 1 / t;  aggregate = dp * B / t
    time to first token (P)       = max(FLOPs_pre / tp / (F * e_c), W / tp / (BW * e_bw)) + t_ar(P tokens)
    FLOPs_pre                     = 2 * P * N_layers_mm + 2 * V * h + 2 * L * P^2 * q   (causal attention)

Two all-reduces per layer (after attention's output projection and after the MLP's down projection, as in
Megatron-style tensor parallelism); a ring all-reduce moves 2 (tp-1)/tp of the message over each link direction;
datasheets quote NVLink and PCIe bandwidth as both directions together, so one direction is half. Decode is
evaluated at the last token of the context (KV length T: the slowest step), memory at T for every stream.

Weight-only int8 / int4 (modelcore.quant) read 1 or 0.5 bytes per weight plus their scales, and multiply at the
activation precision (bf16), so their FLOPs use the bf16 rate; fp8 means FP8 weights and activations on FP8
tensor cores (refused where there are none: A100, Jetson Orin, this CPU). Dense (not 2:4 sparse) FLOPs are used.

GPU efficiency factors are assumptions until a GPU run calibrates them; this CPU's come from our own engine on
the embedded model (bench/plan_calibrate.py -> bench/results/plan_cpu.json). This module needs no torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .config import PRESETS, ModelConfig

PRECISIONS = ("fp32", "bf16", "fp8", "int8", "int4")
LINKS = ("nvlink", "pcie")
DEFAULT_GROUP_SIZE = 64  # int4 group size for DeepSeek-scale models (modelcore.quant defaults to 32, for SmolLM2)
PREFILL_CHUNK = 512  # modelcore.engine.Engine's default prompt tokens per step (activation estimate)
CPU_CALIBRATION = Path(__file__).resolve().parents[1] / "bench" / "results" / "plan_cpu.json"

# Assumptions until a GPU run measures them (there is no bench/gpu.py calibration yet).
GPU_BANDWIDTH_EFFICIENCY = 0.7  # decode kernels of tuned engines stream weights at roughly 60-80% of HBM peak
GPU_COMPUTE_EFFICIENCY = 0.5  # prefill matmuls at about half of the dense tensor-core peak
NVLINK_ALLREDUCE_LATENCY_S = 10e-6  # fixed cost of one small all-reduce over NVLink (order of NCCL's)
PCIE_ALLREDUCE_LATENCY_S = 30e-6  # the same over PCIe through the host bridge
GPU_USABLE = (0.9, "CUDA context, cuBLAS/NCCL workspaces and allocator fragmentation take the rest "
                   "(vLLM's default gpu_memory_utilization is 0.9)")


class PlanError(ValueError):
    """A plan that cannot be made: unknown input, or a precision the hardware cannot run (the reason says why)."""


# ------------------------------------------------------------------------------------------------ hardware
@dataclass(frozen=True)
class Hardware:
    """One device, as its datasheet states it. FLOPs are dense (the 2:4-sparsity figures halved); None = the
    device has no such arithmetic. NVLink / PCIe are the datasheets' bidirectional GB/s per device."""

    key: str
    name: str
    memory_gb: float
    bandwidth_gb_s: float
    tflops_fp32: float
    tflops_bf16: float | None
    tflops_fp8: float | None
    tops_int8: float | None  # shown for reference: weight-only int8 multiplies at bf16 (see module docstring)
    pcie_gb_s: float | None
    nvlink_gb_s: float | None
    nvlink_max_devices: int  # devices one NVLink domain joins (2 for a PCIe card's bridge, 8 for an HGX board)
    max_devices: int
    usable_fraction: float
    usable_reason: str
    bandwidth_efficiency: float
    compute_efficiency: float
    efficiency_source: str
    source: str

    def compute_tflops(self, precision: str) -> float:
        """Peak dense TFLOP/s of the matmuls at `precision` (weight-only int8/int4 multiply in bf16; a device
        without bf16 arithmetic, like this AVX2 CPU, upcasts to fp32)."""
        if precision == "fp32":
            return self.tflops_fp32
        if precision == "fp8":
            if self.tflops_fp8 is None:
                raise PlanError(fp8_refusal(self))
            return self.tflops_fp8
        return self.tflops_bf16 if self.tflops_bf16 is not None else self.tflops_fp32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fp8_refusal(hw: Hardware) -> str:
    return (f"fp8 refused on {hw.name}: it has no FP8 tensor cores (FP8 arrived with Hopper and Ada: H100, H200, "
            f"L4); choose bf16, int8 or int4")


def _gpu(key: str, name: str, memory_gb: float, bandwidth_gb_s: float, fp32: float, bf16: float,
         fp8: float | None, int8: float, pcie: float, nvlink: float | None, nvlink_max: int, max_devices: int,
         source: str, usable: tuple[float, str] = GPU_USABLE) -> Hardware:
    return Hardware(key=key, name=name, memory_gb=memory_gb, bandwidth_gb_s=bandwidth_gb_s, tflops_fp32=fp32,
                    tflops_bf16=bf16, tflops_fp8=fp8, tops_int8=int8, pcie_gb_s=pcie, nvlink_gb_s=nvlink,
                    nvlink_max_devices=nvlink_max, max_devices=max_devices, usable_fraction=usable[0],
                    usable_reason=usable[1], bandwidth_efficiency=GPU_BANDWIDTH_EFFICIENCY,
                    compute_efficiency=GPU_COMPUTE_EFFICIENCY,
                    efficiency_source="assumed (no GPU run yet): bandwidth 0.7, compute 0.5", source=source)


_A100 = ("NVIDIA A100 Tensor Core GPU datasheet (nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
         "nvidia-a100-datasheet-nvidia-us-2188504-web.pdf): FP32 19.5, BF16 tensor 312, INT8 624 dense "
         "(624 / 1248 with sparsity); no FP8; NVLink 600 GB/s (PCIe cards: a bridge joins 2), PCIe Gen4 64 GB/s")
_HOPPER = ("NVIDIA {0} datasheet (nvidia.com/en-us/data-center/{1}/): FP32 67, BF16 tensor 989, FP8 1,979, "
           "INT8 1,979 dense (the datasheet's 1,979 / 3,958 / 3,958 are with sparsity); NVLink 900 GB/s, "
           "PCIe Gen5 128 GB/s")

HARDWARE: dict[str, Hardware] = {h.key: h for h in (
    _gpu("a100-40gb-pcie", "NVIDIA A100 40GB PCIe", 40, 1555, 19.5, 312, None, 624, 64, 600, 2, 8,
         _A100 + "; 40GB PCIe: HBM2 1,555 GB/s"),
    _gpu("a100-80gb-pcie", "NVIDIA A100 80GB PCIe", 80, 1935, 19.5, 312, None, 624, 64, 600, 2, 8,
         _A100 + "; 80GB PCIe: HBM2e 1,935 GB/s"),
    _gpu("a100-40gb-sxm", "NVIDIA A100 40GB SXM", 40, 1555, 19.5, 312, None, 624, 64, 600, 8, 8,
         _A100 + "; 40GB SXM: HBM2 1,555 GB/s"),
    _gpu("a100-80gb-sxm", "NVIDIA A100 80GB SXM", 80, 2039, 19.5, 312, None, 624, 64, 600, 8, 8,
         _A100 + "; 80GB SXM: HBM2e 2,039 GB/s"),
    _gpu("h100-sxm", "NVIDIA H100 SXM 80GB", 80, 3350, 67, 989, 1979, 1979, 128, 900, 8, 8,
         _HOPPER.format("H100 Tensor Core GPU", "h100") + "; HBM3 3.35 TB/s"),
    _gpu("h200-sxm", "NVIDIA H200 SXM 141GB", 141, 4800, 67, 989, 1979, 1979, 128, 900, 8, 8,
         _HOPPER.format("H200 Tensor Core GPU", "h200") + "; HBM3e 4.8 TB/s"),
    _gpu("l4", "NVIDIA L4 24GB", 24, 300, 30.3, 121, 242.5, 242.5, 64, None, 1, 8,
         "NVIDIA L4 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/l4/): GDDR6 300 GB/s, FP32 30.3; "
         "BF16 242, FP8 485, INT8 485 are with sparsity, halved here; PCIe Gen4 x16 64 GB/s, no NVLink"),
    _gpu("jetson-agx-orin-32gb", "NVIDIA Jetson AGX Orin 32GB", 32, 204.8, 3.33, 26.7, None, 53.3, None, None, 1, 1,
         "NVIDIA Jetson AGX Orin Series datasheet and technical brief: 32 GB LPDDR5 at 204.8 GB/s, 1792-core "
         "Ampere GPU with 56 tensor cores at up to 930 MHz. Derived: FP32 = 1792 x 2 x 0.93 GHz = 3.33 TFLOPS; "
         "dense FP16/BF16 tensor = 56 x 512 FLOP/clk x 0.93 GHz = 26.7 (INT8 twice that; the module's "
         "200 TOPS is sparse INT8 of GPU + DLAs); no FP8",
         usable=(0.75, "unified memory: the OS, JetPack and the CPU side of the serving process share the "
                       "32 GB with the GPU (assumption: about 8 GB)")),
)}


def cpu_hardware(calibration: Path | str = CPU_CALIBRATION) -> Hardware:
    """This CPU as measured by bench/plan_calibrate.py: bandwidth and fp32 matmul rate from micro-benchmarks,
    efficiency factors from our own engine on SmolLM2-135M (float32):

        e_bw = t_mem(ideal) / t_step(measured)   at the calibration decode point (batch 1, 128-token prompt):
               every loss (per-op overhead, thread sync) is charged to an effective bandwidth;
        e_c  = FLOPs_pre(P) / (TTFT(measured) * matmul rate)   at the calibration prefill point."""
    path = Path(calibration)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        hw, cal = data["hardware"], data["calibration"]
        bandwidth, gflops = float(hw["read_bandwidth_gb_s"]), float(hw["matmul_fp32_gflops"])
        memory_gb = float(data["machine"]["memory_gb"])
        model = ModelConfig.from_name(data["model"])
        dec, pre = cal["decode"], cal["prefill"]
    except FileNotFoundError:
        raise PlanError(f"this CPU has not been measured: {path} is missing (run bench/plan_calibrate.py)") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PlanError(f"{path}: not a plan_cpu.json calibration ({exc!r})") from None
    raw = Hardware(
        key="cpu", name=f"this CPU ({data['machine'].get('cpu_count')} cores, {data['threads']} threads)",
        memory_gb=memory_gb, bandwidth_gb_s=bandwidth, tflops_fp32=gflops / 1e3, tflops_bf16=None, tflops_fp8=None,
        tops_int8=None, pcie_gb_s=None, nvlink_gb_s=None, nvlink_max_devices=1, max_devices=1, usable_fraction=0.8,
        usable_reason="the OS and the web and worker processes beside the engine (assumption)",
        bandwidth_efficiency=1.0, compute_efficiency=1.0, efficiency_source="", source="")
    context = dec["prompt_tokens"] + dec["new_tokens"] / 2  # mean KV length over the measured decode
    ideal = decode_step(model, raw, "fp32", batch=1, context=context)
    e_bw = ideal.memory_s * float(dec["tokens_per_s"])
    e_c = prefill_flops(model, int(pre["prompt_tokens"])) / (float(pre["ttft_s"]) * gflops * 1e9)
    return replace(
        raw, bandwidth_efficiency=round(e_bw, 4), compute_efficiency=round(e_c, 4),
        efficiency_source=(f"measured with our engine ({path.name}: batch-1 decode {dec['tokens_per_s']} tok/s, "
                           f"{pre['prompt_tokens']}-token TTFT {pre['ttft_s']} s; load average "
                           f"{data.get('load_avg_before')} -> {data.get('load_avg_after')})"),
        source=(f"measured by bench/plan_calibrate.py on {data['machine'].get('platform')}: "
                f"{hw['bandwidth_method']}; {hw['matmul_method']}; memory = MemTotal"),
    )


def hardware_table(calibration: Path | str = CPU_CALIBRATION) -> dict[str, Hardware]:
    """`HARDWARE` plus this CPU when its calibration file is there."""
    table = dict(HARDWARE)
    try:
        table["cpu"] = cpu_hardware(calibration)
    except PlanError:
        pass
    return table


def hardware_for(key: str, calibration: Path | str = CPU_CALIBRATION) -> Hardware:
    if key == "cpu":
        return cpu_hardware(calibration)
    if key not in HARDWARE:
        raise PlanError(f"unknown hardware {key!r}; choices: {', '.join([*HARDWARE, 'cpu'])}")
    return HARDWARE[key]


# ------------------------------------------------------------------------------------------------ models
PLANNER_MODELS = tuple(name for name in PRESETS if not name.startswith("tiny"))


def model_for(model: str | ModelConfig) -> ModelConfig:
    """A preset name, or a path to a Hugging Face config.json (or a directory holding one), read by
    `ModelConfig.from_hf` (strict: unsupported architectures are refused with the reason)."""
    if isinstance(model, ModelConfig):
        return model
    if model in PRESETS:
        return ModelConfig.from_name(model)
    path = Path(model).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise PlanError(f"model {model!r} is neither a preset ({', '.join(PLANNER_MODELS)}) nor a config.json")
    try:
        return ModelConfig.from_hf(json.loads(path.read_text(encoding="utf-8")), name=path.parent.name)
    except (OSError, ValueError) as exc:
        raise PlanError(f"model {model!r}: {exc}") from None


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise PlanError(f"unknown precision {precision!r}; choices: {', '.join(PRECISIONS)}")


def act_bytes(precision: str) -> int:
    """Bytes per activation and KV-cache element: float32 for fp32, else bfloat16 (quantization is weight-only;
    the KV cache stays in the activation dtype)."""
    return 4 if precision == "fp32" else 2


def matrix_bytes(rows: int, cols: int, precision: str, group_size: int = DEFAULT_GROUP_SIZE) -> float:
    """Bytes of one (rows, cols) weight matrix as a decode step reads it.

    fp32 4 / bf16 2 / fp8 1 bytes per weight (fp8's per-tensor scale is negligible); int8: 1 byte + one bf16
    scale per output row (r*c + 2r); int4: half a byte + a bf16 scale and zero per group of `group_size` inputs
    (r*c/2 + 4 r ceil(c/g)), the layout modelcore.quant's kernels read with bf16 activations."""
    _check_precision(precision)
    if precision == "int8":
        return rows * cols + 2 * rows
    if precision == "int4":
        return rows * cols / 2 + 4 * rows * math.ceil(cols / group_size)
    return rows * cols * {"fp32": 4, "bf16": 2, "fp8": 1}[precision]


def _layer_matrices(c: ModelConfig) -> list[tuple[int, int]]:
    h, i = c.hidden_size, c.intermediate_size
    return [(c.q_size, h), (c.kv_size, h), (c.kv_size, h), (h, c.q_size), (i, h), (i, h), (h, i)]


def matmul_weights(c: ModelConfig, *, lm_head: bool = True) -> int:
    """N_mm: weights multiplied once per token (every linear layer; the lm_head too unless excluded)."""
    per_layer = sum(r * k for r, k in _layer_matrices(c))
    return c.num_hidden_layers * per_layer + (c.vocab_size * c.hidden_size if lm_head else 0)


@dataclass(frozen=True)
class WeightBytes:
    read_per_step: float  # W: what one decode step streams (layers, lm_head, norms)
    resident: float  # held in memory (adds the embedding table where it is not the lm_head itself)


def weight_bytes(c: ModelConfig, precision: str, group_size: int = DEFAULT_GROUP_SIZE) -> WeightBytes:
    """Linear layers and the lm_head at `precision` (under int4 the lm_head is int8, as modelcore.quant serves it);
    norms and the embedding table at the activation dtype. A tied embedding is the lm_head in fp32/bf16;
    quantized, the lm_head is a quantized copy beside it."""
    layers = c.num_hidden_layers * sum(matrix_bytes(r, k, precision, group_size) for r, k in _layer_matrices(c))
    lm_head = matrix_bytes(c.vocab_size, c.hidden_size, "int8" if precision == "int4" else precision, group_size)
    norms = (2 * c.num_hidden_layers + 1) * c.hidden_size * act_bytes(precision)
    embedding = c.vocab_size * c.hidden_size * act_bytes(precision)
    shared = c.tie_word_embeddings and precision in ("fp32", "bf16")
    read = layers + lm_head + norms
    return WeightBytes(read_per_step=read, resident=read + (0 if shared else embedding))


def kv_bytes_per_token(c: ModelConfig, precision: str) -> int:
    """K = 2 (K and V) * L * n_kv_heads * head_dim * bytes: grouped-query attention stores n_kv_heads only."""
    return c.kv_cache_bytes_per_token(act_bytes(precision))


def activation_bytes(c: ModelConfig, precision: str, batch: int, tp: int = 1) -> float:
    """Working set of one layer while a prefill chunk and the decode rows run (layers run one after another, so
    one layer's is live): tokens * (2h + (q + 2kv + 3i) / tp) * act_bytes, tokens = PREFILL_CHUNK + batch, plus
    float32 logits of each row (batch * V / tp * 4). A fused attention kernel is assumed (no P x P matrix)."""
    tokens = PREFILL_CHUNK + batch
    per_token = 2 * c.hidden_size + (c.q_size + 2 * c.kv_size + 3 * c.intermediate_size) / tp
    return tokens * per_token * act_bytes(precision) + batch * c.vocab_size / tp * 4


# ------------------------------------------------------------------------------------------------ roofline
def allreduce_s(message_bytes: float, tp: int, link_gb_s: float, latency_s: float) -> float:
    """Ring all-reduce: latency + 2 (tp - 1) / tp * S / (link / 2); the link's quoted GB/s is both directions."""
    if tp == 1:
        return 0.0
    return latency_s + 2 * (tp - 1) / tp * message_bytes / (link_gb_s / 2 * 1e9)


@dataclass(frozen=True)
class Step:
    memory_s: float
    compute_s: float
    comm_s: float

    @property
    def seconds(self) -> float:
        return max(self.memory_s, self.compute_s) + self.comm_s

    @property
    def bound(self) -> str:
        return "memory" if self.memory_s >= self.compute_s else "compute"


def _link(hw: Hardware, tp: int, link: str | None) -> tuple[str | None, float, float]:
    """(link name, bidirectional GB/s, all-reduce latency) the tp group talks over."""
    if tp == 1:
        return None, 0.0, 0.0
    nvlink_ok = hw.nvlink_gb_s is not None and tp <= hw.nvlink_max_devices
    if link is None:
        link = "nvlink" if nvlink_ok else "pcie"
    if link not in LINKS:
        raise PlanError(f"unknown link {link!r}; choices: {', '.join(LINKS)}")
    if link == "nvlink":
        if not nvlink_ok:
            raise PlanError(f"{hw.name}: no NVLink joins {tp} devices (at most {hw.nvlink_max_devices} per "
                            f"NVLink domain{'' if hw.nvlink_gb_s else '; it has none'}); use --link pcie")
        return "nvlink", float(hw.nvlink_gb_s), NVLINK_ALLREDUCE_LATENCY_S
    if hw.pcie_gb_s is None:
        raise PlanError(f"{hw.name} has no PCIe link to other devices")
    return "pcie", float(hw.pcie_gb_s), PCIE_ALLREDUCE_LATENCY_S


def decode_step(c: ModelConfig, hw: Hardware, precision: str, *, batch: int, context: float, tp: int = 1,
                link: str | None = None, group_size: int = DEFAULT_GROUP_SIZE) -> Step:
    """One decode step of `batch` streams at KV length `context` on one of the tp devices (formulas: module
    docstring)."""
    w = weight_bytes(c, precision, group_size).read_per_step
    kv = kv_bytes_per_token(c, precision)
    memory_s = (w + batch * context * kv) / tp / (hw.bandwidth_gb_s * 1e9 * hw.bandwidth_efficiency)
    flops = 2 * batch * matmul_weights(c) + 4 * batch * c.num_hidden_layers * context * c.q_size
    compute_s = flops / tp / (hw.compute_tflops(precision) * 1e12 * hw.compute_efficiency)
    _, link_gb_s, latency = _link(hw, tp, link)
    comm_s = 2 * c.num_hidden_layers * allreduce_s(batch * c.hidden_size * act_bytes(precision), tp, link_gb_s,
                                                   latency)
    return Step(memory_s=memory_s, compute_s=compute_s, comm_s=comm_s)


def prefill_flops(c: ModelConfig, prompt: int) -> float:
    """FLOPs_pre = 2 P N_layers_mm + 2 V h (logits of the last token only) + 2 L P^2 q (causal QK^T and PV)."""
    return (2 * prompt * matmul_weights(c, lm_head=False) + 2 * c.vocab_size * c.hidden_size
            + 2 * c.num_hidden_layers * prompt**2 * c.q_size)


def prefill_step(c: ModelConfig, hw: Hardware, precision: str, *, prompt: int, tp: int = 1,
                 link: str | None = None, group_size: int = DEFAULT_GROUP_SIZE) -> Step:
    """Time to first token of one `prompt`-token request on an idle replica."""
    w = weight_bytes(c, precision, group_size).read_per_step
    memory_s = w / tp / (hw.bandwidth_gb_s * 1e9 * hw.bandwidth_efficiency)
    compute_s = prefill_flops(c, prompt) / tp / (hw.compute_tflops(precision) * 1e12 * hw.compute_efficiency)
    _, link_gb_s, latency = _link(hw, tp, link)
    comm_s = 2 * c.num_hidden_layers * allreduce_s(prompt * c.hidden_size * act_bytes(precision), tp, link_gb_s,
                                                   latency)
    return Step(memory_s=memory_s, compute_s=compute_s, comm_s=comm_s)


# ------------------------------------------------------------------------------------------------ scenarios
@dataclass(frozen=True)
class Scenario:
    key: str
    description: str
    batch: int  # default streams per replica
    min_batch: int
    max_batch: int
    context: int


SCENARIOS: dict[str, Scenario] = {s.key: s for s in (
    Scenario("chat", "real-time chat: a few streams, each answered as fast as possible", 1, 1, 4, 2048),
    Scenario("batch", "batch processing: many streams, aggregate throughput", 64, 1, 1024, 2048),
    Scenario("edge", "edge: one stream on one device", 1, 1, 1, 2048),
)}


# ------------------------------------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class Plan:
    model: str
    parameters: int
    precision: str
    hardware: str
    hardware_name: str
    devices: int
    tp: int
    dp: int
    link: str | None
    scenario: str
    batch: int
    context: int
    prompt_tokens: int
    weights_gb: float  # per device
    kv_cache_gb: float
    activations_gb: float
    needed_gb: float
    usable_gb: float
    fits: bool
    max_batch: int  # streams per replica that fit at this context
    decode_step_ms: float
    decode_bound: str
    allreduce_ms: float
    tokens_per_s_per_stream: float
    tokens_per_s_aggregate: float
    ttft_s: float
    ttft_bound: str
    assumptions: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["assumptions"] = list(self.assumptions)
        return d


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def plan(model: str | ModelConfig, precision: str, hardware: str | Hardware, *, devices: int = 1,
         tp: int | None = None, scenario: str = "chat", batch: int | None = None, context: int | None = None,
         prompt_tokens: int | None = None, link: str | None = None, group_size: int = DEFAULT_GROUP_SIZE,
         calibration: Path | str = CPU_CALIBRATION) -> Plan:
    """Plan `model` at `precision` on `devices` x `hardware`, `tp`-way tensor parallel, the rest replicas. The
    default tp is, among those that fit, the fastest per stream (chat, edge) or in aggregate (batch). Raises
    PlanError naming a bad value and its choices, or why the hardware refuses the precision (fp8 without FP8
    tensor cores)."""
    c = model_for(model)
    _check_precision(precision)
    hw = hardware if isinstance(hardware, Hardware) else hardware_for(hardware, calibration)
    if precision == "fp8" and hw.tflops_fp8 is None:
        raise PlanError(fp8_refusal(hw))
    if scenario not in SCENARIOS:
        raise PlanError(f"unknown scenario {scenario!r}; choices: {', '.join(SCENARIOS)}")
    sc = SCENARIOS[scenario]
    batch = sc.batch if batch is None else batch
    if not (isinstance(batch, int) and sc.min_batch <= batch <= sc.max_batch):
        raise PlanError(f"batch {batch!r} is outside the {scenario} scenario's {sc.min_batch}-{sc.max_batch}")
    context = sc.context if context is None else context
    if not (isinstance(context, int) and 2 <= context <= c.max_position_embeddings):
        raise PlanError(f"context {context!r} must be 2..{c.max_position_embeddings} (the model's "
                        f"max_position_embeddings)")
    prompt = context // 2 if prompt_tokens is None else prompt_tokens
    if not (isinstance(prompt, int) and 1 <= prompt < context):
        raise PlanError(f"prompt tokens {prompt!r} must be 1..{context - 1} (below the context)")
    if not (isinstance(devices, int) and 1 <= devices <= hw.max_devices):
        raise PlanError(f"devices {devices!r}: {hw.name} takes 1..{hw.max_devices}")
    if group_size not in (32, 64, 128):
        raise PlanError(f"int4 group size {group_size!r}; choices: 32, 64, 128")
    valid_tp = [d for d in _divisors(devices) if c.num_attention_heads % d == 0 and c.num_key_value_heads % d == 0]
    if tp is not None and tp not in valid_tp:
        raise PlanError(f"tp {tp!r} must divide devices={devices} and the model's {c.num_attention_heads} "
                        f"attention / {c.num_key_value_heads} KV heads; choices: {valid_tp}")

    def make(t: int) -> Plan:
        return _plan(c, precision, hw, devices, t, sc, batch, context, prompt, link, group_size)

    if tp is not None:
        return make(tp)
    plans = [make(t) for t in valid_tp]
    fitting = [p for p in plans if p.fits]
    if not fitting:
        return plans[-1]
    # Chat and edge want the fastest stream; batch processing the most tokens over all replicas.
    speed = (lambda p: p.tokens_per_s_aggregate) if scenario == "batch" else (lambda p: p.tokens_per_s_per_stream)
    return max(fitting, key=speed)


def _plan(c: ModelConfig, precision: str, hw: Hardware, devices: int, tp: int, sc: Scenario, batch: int,
          context: int, prompt: int, link: str | None, group_size: int) -> Plan:
    link_name, _, _ = _link(hw, tp, link)
    w = weight_bytes(c, precision, group_size).resident / tp
    kv_token = kv_bytes_per_token(c, precision) / tp
    kv = batch * context * kv_token
    act = activation_bytes(c, precision, batch, tp)
    usable = hw.memory_gb * 1e9 * hw.usable_fraction
    per_row = context * kv_token + activation_bytes(c, precision, 1, tp) - activation_bytes(c, precision, 0, tp)
    max_batch = max(0, math.floor((usable - w - activation_bytes(c, precision, 0, tp)) / per_row))
    dec = decode_step(c, hw, precision, batch=batch, context=context, tp=tp, link=link, group_size=group_size)
    pre = prefill_step(c, hw, precision, prompt=prompt, tp=tp, link=link, group_size=group_size)
    dp = devices // tp
    assumptions = [
        f"efficiency: {hw.efficiency_source}",
        f"usable memory {hw.usable_fraction:.2f} x {hw.memory_gb:g} GB: {hw.usable_reason}",
        f"decode timed at the last token (KV length {context}); TTFT for one {prompt}-token prompt on an idle "
        f"replica",
    ]
    if precision in ("int8", "int4"):
        assumptions.append(f"{precision} is weight-only (modelcore.quant): matmuls at bf16 rate, KV cache bf16"
                           + (f", group {group_size}" if precision == "int4" else ""))
    if hw.key == "cpu" and precision != "fp32":
        assumptions.append(f"the CPU's efficiency was measured in fp32; {precision} kernels may not reach it "
                           f"(bench/results/quant.json)")
    if tp > 1:
        lat = NVLINK_ALLREDUCE_LATENCY_S if link_name == "nvlink" else PCIE_ALLREDUCE_LATENCY_S
        assumptions.append(f"tensor parallel {tp}: 2 ring all-reduces per layer over {link_name}, "
                           f"{lat * 1e6:.0f} us fixed cost each (assumed)")
    return Plan(
        model=c.name or "config.json", parameters=c.num_parameters(), precision=precision, hardware=hw.key,
        hardware_name=hw.name, devices=devices, tp=tp, dp=dp, link=link_name, scenario=sc.key, batch=batch,
        context=context, prompt_tokens=prompt, weights_gb=w / 1e9, kv_cache_gb=kv / 1e9, activations_gb=act / 1e9,
        needed_gb=(w + kv + act) / 1e9, usable_gb=usable / 1e9, fits=w + kv + act <= usable, max_batch=max_batch,
        decode_step_ms=dec.seconds * 1e3, decode_bound=dec.bound, allreduce_ms=dec.comm_s * 1e3,
        tokens_per_s_per_stream=1 / dec.seconds, tokens_per_s_aggregate=dp * batch / dec.seconds,
        ttft_s=pre.seconds, ttft_bound=pre.bound, assumptions=tuple(assumptions),
    )


def describe(p: Plan) -> str:
    """The plan as a few lines of text (the CLI's output)."""
    link = f", {p.link}" if p.link else ""
    lines = [
        f"{p.model} ({p.parameters / 1e9:.2f}B parameters), {p.precision}, on {p.devices} x {p.hardware_name} "
        f"(tp {p.tp}, {p.dp} replica{'s' if p.dp > 1 else ''}{link})",
        f"scenario {p.scenario}: batch {p.batch} per replica, context {p.context}",
        f"memory per device: weights {p.weights_gb:.2f} GB + KV cache {p.kv_cache_gb:.2f} GB + activations "
        f"{p.activations_gb:.2f} GB = {p.needed_gb:.2f} GB of {p.usable_gb:.1f} GB usable: "
        + (f"fits (up to batch {p.max_batch} at this context)" if p.fits else
           f"DOES NOT FIT (at most batch {p.max_batch} at this context)"),
        f"decode: {p.tokens_per_s_per_stream:,.1f} tokens/s per stream, {p.tokens_per_s_aggregate:,.1f} aggregate "
        f"(step {p.decode_step_ms:.2f} ms, {p.decode_bound}-bound"
        + (f", all-reduce {p.allreduce_ms:.2f} ms" if p.tp > 1 else "") + ")",
        f"time to first token ({p.prompt_tokens}-token prompt): {p.ttft_s * 1e3:,.1f} ms ({p.ttft_bound}-bound)",
        "assumptions:",
        *(f"  - {a}" for a in p.assumptions),
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ the matrix
@dataclass(frozen=True)
class SourceRow:
    """A row of the design document's hardware selection matrix: no model size, precision or batch given."""

    scenario: str
    hardware: str
    devices: int
    link: str | None
    claim_tokens_per_s: float
    text: str


SOURCE_ROWS = (
    SourceRow("chat", "a100-80gb-sxm", 2, "nvlink", 350, "real-time chat: 2 x A100 80GB NVLink, 350 tokens/s"),
    SourceRow("batch", "a100-40gb-pcie", 8, "pcie", 1200, "batch processing: 8 x A100 40GB PCIe, 1,200 tokens/s"),
    SourceRow("edge", "jetson-agx-orin-32gb", 1, None, 45, "edge: Jetson AGX Orin 32GB, 45 tokens/s"),
)
MATRIX_MODELS = ("deepseek-llm-7b-base", "deepseek-llm-67b-base")
MATRIX_PRECISIONS = ("bf16", "fp8", "int8", "int4")


@dataclass(frozen=True)
class MatrixRow:
    source: str
    claim_tokens_per_s: float
    model: str
    precision: str
    fits: bool
    tp: int | None
    batch: int | None  # smallest batch per replica reaching the claim, else the best batch tried
    tokens_per_s_per_stream: float | None  # at that batch
    tokens_per_s_aggregate: float | None
    batch1_tokens_per_s: float | None  # per stream at batch 1
    ttft_s: float | None
    verdict: str  # "plausible", "not plausible", "does not fit", "refused"
    why: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _matrix_row(row: SourceRow, model: str, precision: str) -> MatrixRow:
    hw = HARDWARE[row.hardware]
    sc = SCENARIOS[row.scenario]
    base = dict(source=row.text, claim_tokens_per_s=row.claim_tokens_per_s, model=model, precision=precision)
    try:
        first = plan(model, precision, hw, devices=row.devices, scenario=row.scenario, batch=1, link=row.link)
    except PlanError as exc:
        why = "no FP8 tensor cores (FP8 needs Hopper or Ada: H100, H200, L4)" if hw.tflops_fp8 is None else str(exc)
        return MatrixRow(**base, fits=False, tp=None, batch=None, tokens_per_s_per_stream=None,
                         tokens_per_s_aggregate=None, batch1_tokens_per_s=None, ttft_s=None, verdict="refused",
                         why=why)
    c = model_for(model)
    tps = [t for t in _divisors(row.devices) if c.num_attention_heads % t == 0 and c.num_key_value_heads % t == 0]
    fitting = [p for t in tps for p in [plan(model, precision, hw, devices=row.devices, tp=t, scenario=row.scenario,
                                             batch=1, link=row.link)] if p.fits]
    if not fitting:
        return MatrixRow(**base, fits=False, tp=None, batch=None, tokens_per_s_per_stream=None,
                         tokens_per_s_aggregate=None, batch1_tokens_per_s=None, ttft_s=None, verdict="does not fit",
                         why=f"needs {first.needed_gb:.0f} GB per device at tp {first.tp}, {first.usable_gb:.0f} GB "
                             f"usable")
    # Every fitting tp and batch in the scenario's range: the smallest batch reaching the claim (fastest streams
    # first), else the highest aggregate.
    best: Plan | None = None
    reached: list[Plan] = []
    for b1 in fitting:
        for b in range(sc.min_batch, min(sc.max_batch, b1.max_batch) + 1):
            p = plan(model, precision, hw, devices=row.devices, tp=b1.tp, scenario=row.scenario, batch=b,
                     link=row.link)
            if best is None or p.tokens_per_s_aggregate > best.tokens_per_s_aggregate:
                best = p
            if p.tokens_per_s_aggregate >= row.claim_tokens_per_s:
                reached.append(p)
                break
    fastest_b1 = max(fitting, key=lambda p: p.tokens_per_s_per_stream)
    if reached:
        p = min(reached, key=lambda p: (p.batch * p.dp, -p.tokens_per_s_per_stream))
        if p.batch * p.dp == 1:
            why = f"one stream at tp {p.tp}: {p.tokens_per_s_per_stream:,.0f} tokens/s"
        else:
            why = (f"as the aggregate of {p.batch * p.dp} streams ({p.dp} replica{'s' if p.dp > 1 else ''} of tp "
                   f"{p.tp}, batch {p.batch}): {p.tokens_per_s_aggregate:,.0f} tokens/s, "
                   f"{p.tokens_per_s_per_stream:,.0f} per stream")
        verdict = "plausible"
    else:
        p = best
        need = row.claim_tokens_per_s / p.tokens_per_s_aggregate
        why = (f"at most {p.tokens_per_s_aggregate:,.0f} tokens/s (tp {p.tp}, batch {p.batch}"
               + (f", {p.dp} replicas" if p.dp > 1 else "") + f"); the claim needs {need:.2f}x")
        if p.decode_bound == "memory" and p.tp == 1:
            why += (f", i.e. {need * hw.bandwidth_efficiency:.0%} of peak bandwidth instead of the assumed "
                    f"{hw.bandwidth_efficiency:.0%}")
        verdict = "not plausible"
    return MatrixRow(**base, fits=True, tp=p.tp, batch=p.batch, tokens_per_s_per_stream=p.tokens_per_s_per_stream,
                     tokens_per_s_aggregate=p.tokens_per_s_aggregate,
                     batch1_tokens_per_s=fastest_b1.tokens_per_s_per_stream, ttft_s=p.ttft_s, verdict=verdict,
                     why=why)


def source_matrix(models: tuple[str, ...] = MATRIX_MODELS,
                  precisions: tuple[str, ...] = MATRIX_PRECISIONS) -> list[MatrixRow]:
    """The source's three rows, each beside what the roofline predicts for every model x precision."""
    return [_matrix_row(row, m, p) for row in SOURCE_ROWS for m in models for p in precisions]


MATRIX_ASSUMPTIONS = (
    "the source gives no model size, precision or batch: every combination is tried, each at context 2048 "
    "(decode timed at the last token)",
    "a claim counts as plausible if one stream reaches it, or else the aggregate of the fewest streams within "
    "the scenario's batch range (chat 1-4, batch 1-1024, edge 1); every tensor-parallel degree that fits is tried",
    "the 2 x A100 80GB NVLink row is taken as SXM (2,039 GB/s; a PCIe pair with a bridge has 1,935)",
    f"GPU efficiency assumed until measured: {GPU_BANDWIDTH_EFFICIENCY:.0%} of peak bandwidth, "
    f"{GPU_COMPUTE_EFFICIENCY:.0%} of dense peak FLOPs; all-reduce fixed cost "
    f"{NVLINK_ALLREDUCE_LATENCY_S * 1e6:.0f} us (NVLink) / {PCIE_ALLREDUCE_LATENCY_S * 1e6:.0f} us (PCIe)",
)


def describe_matrix(rows: list[MatrixRow]) -> str:
    """The matrix as a fixed-width table (the CLI's `--matrix` output and the README's)."""
    header = ("source row", "model", "prec", "fits", "1 stream", "verdict", "why")
    body = [
        (r.source if i == 0 or rows[i - 1].source != r.source else "", r.model.removeprefix("deepseek-llm-"),
         r.precision, "yes" if r.fits else "no",
         "-" if r.batch1_tokens_per_s is None else f"{r.batch1_tokens_per_s:,.0f} tok/s", r.verdict, r.why)
        for i, r in enumerate(rows)
    ]
    widths = [max(len(x[k]) for x in [header, *body]) for k in range(len(header) - 1)]
    lines = ["  ".join(f"{x[k]:<{widths[k]}}" for k in range(len(widths))) + "  " + x[-1] for x in [header, *body]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join([*lines, "", "assumptions:", *(f"  - {a}" for a in MATRIX_ASSUMPTIONS)])
