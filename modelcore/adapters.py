"""LoRA adapters in PEFT's on-disk format: strict reading, multi-adapter serving as a transform, merging.

On disk an adapter is what `peft`'s `save_pretrained` writes for a `LlamaForCausalLM`:
`adapter_config.json` + `adapter_model.safetensors` with tensors named
`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` (A: (r, in)) and `...lora_B.weight`
(B: (out, r)). The delta of a target Linear is `scale * B @ A` with `scale = lora_alpha / r`
(`lora_alpha / sqrt(r)` when `use_rslora`). Since `Transformer` keeps Hugging Face's module names, adapters
trained with `peft` on transformers' LLaMA load here unchanged and ours load in `peft`.

Reading is ours and strict: `adapter_config.json` is parsed with `json` (size cap, nesting cap, duplicate keys
refused) and validated into `AdapterConfig`, refusing options this module does not implement; weights are read
with `safetensors` only (pickle files such as `adapter_model.bin` are refused, never opened), and every tensor
is checked (name -> an existing target module, shape, dtype, finite values) before it is used.

Serving several adapters at once (S-LoRA / Punica idea, plain PyTorch) is a transform of the model, not an `if`
in `model.py`: `attach_lora_bank(model)` swaps every target `nn.Linear` for a `MultiLoraLinear` that keeps the
base weight (same Parameter, same state-dict key) and, per resident adapter slot, stacked A/B tensors.
The base matmul runs once for the whole batch; each row then adds the delta of its own adapter only.
On a quantized model (`modelcore.quant`, applied first) the wrapper holds the `Int8Linear` / `Int4Linear` as
its `base` child (state-dict keys gain `.base.`) and the LoRA factors stay float32 (QLoRA-style serving).

Engine hook (how a forward says which adapter each batch row uses)::

    bank = attach_lora_bank(model, max_adapters=8)          # once, after load_model
    slot = bank.load("support-bot", "/path/to/adapter")      # resident; LRU-evicts when full
    rows = torch.tensor([slot, -1, slot], device=device)     # (B,) slot per row, -1 = base model only
    with bank.use_rows(rows):                                # or bank.set_rows(rows) ... bank.set_rows(None)
        logits = model(input_ids, positions, kv_cache)       # input_ids (B, T); row b uses rows[b]
    # bank.rows_for(["support-bot", None, "support-bot"]) builds `rows` from adapter names (None = base).

Row slots index dimension 0 of every target Linear's input, so `rows` must have one entry per batch row of the
forward (prefill and decode alike). With no rows set, or all rows -1, the wrappers skip the LoRA path entirely.
A resident adapter that the current rows use is never evicted (`load` raises instead).

`merge_adapter(model, dir)` folds one adapter into the base weights in place (single-adapter deployment);
`unmerge_adapter` subtracts it again, exact only up to rounding (in bf16 / fp16 keep a copy of the base instead).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import Tensor, nn

from .config import ModelConfig
from .model import linear as split_linear
from .quant import QUANTIZED_LINEARS, Int4Linear, Int8Linear

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
MAX_CONFIG_BYTES = 1 << 20  # an adapter_config.json is a few KiB; anything near 1 MiB is not one
MAX_JSON_DEPTH = 8  # deepest real nesting is 3 (e.g. {"loftq_config": {...}})

# Target module name -> its parent inside a decoder layer (HF LLaMA names).
MODULE_PARENTS = {
    "q_proj": "self_attn",
    "k_proj": "self_attn",
    "v_proj": "self_attn",
    "o_proj": "self_attn",
    "gate_proj": "mlp",
    "up_proj": "mlp",
    "down_proj": "mlp",
}
TARGET_MODULES = tuple(MODULE_PARENTS)
_KEY_RE = re.compile(
    r"base_model\.model\.model\.layers\.(\d+)\.(self_attn|mlp)\.([a-z_]+)\.lora_([AB])\.weight"
)

# adapter_config.json keys: read, ignored (bookkeeping / initialisation only), refused when set.
_READ_KEYS = frozenset(
    {
        "peft_type",
        "r",
        "lora_alpha",
        "target_modules",
        "lora_dropout",
        "bias",
        "use_rslora",
        "fan_in_fan_out",
        "base_model_name_or_path",
        "task_type",
    }
)
_IGNORED_KEYS = frozenset(
    {
        "inference_mode",
        "init_lora_weights",
        "loftq_config",
        "peft_version",
        "revision",
        "auto_mapping",
        "megatron_core",
        "qalora_group_size",
        "eva_config",
        "corda_config",
        "lora_ga_config",
        "layers_pattern",
    }
)
# Anything else (use_dora, modules_to_save, layers_to_transform, rank_pattern, alpha_pattern, exclude_modules,
# target_parameters, layer_replication, lora_bias, ...) must be absent, null, false or empty.


# ----------------------------------------------------------------------------------------- strict JSON
def _json_depth_ok(text: str, max_depth: int) -> bool:
    """True if no object / array nests deeper than `max_depth` (checked before parsing, so a hostile file
    cannot drive the parser into deep recursion)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def read_json_strict(
    path: str | Path, *, max_bytes: int = MAX_CONFIG_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """Parse a small untrusted JSON file: at most `max_bytes`, nesting at most `max_depth`, no duplicate keys,
    no NaN / Infinity. Raises ValueError naming the file."""
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise ValueError(f"{path}: {size} bytes is larger than the {max_bytes}-byte limit")
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 ({exc})") from None
    if not _json_depth_ok(text, max_depth):
        raise ValueError(f"{path}: JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        raise ValueError(f"{path}: invalid JSON: {exc}") from None


# ------------------------------------------------------------------------------------------------ config
def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _is_unset(value: Any) -> bool:
    return value is None or value is False or value == {} or value == [] or value == ""


@dataclass(frozen=True)
class AdapterConfig:
    """The LoRA options this module implements. `target_modules` is a sorted tuple of names from
    `TARGET_MODULES`."""

    r: int
    lora_alpha: float
    target_modules: tuple[str, ...]
    lora_dropout: float = 0.0
    use_rslora: bool = False
    base_model_name_or_path: str | None = None
    task_type: str | None = "CAUSAL_LM"

    def __post_init__(self) -> None:
        if not (_is_int(self.r) and self.r > 0):
            raise ValueError(f"AdapterConfig: r={self.r!r} must be a positive integer")
        if not (_is_number(self.lora_alpha) and self.lora_alpha > 0):
            raise ValueError(f"AdapterConfig: lora_alpha={self.lora_alpha!r} must be a positive number")
        object.__setattr__(self, "lora_alpha", float(self.lora_alpha))
        if not self.target_modules:
            raise ValueError("AdapterConfig: target_modules is empty")
        unknown = [m for m in self.target_modules if m not in MODULE_PARENTS]
        if unknown:
            raise ValueError(
                f"AdapterConfig: target_modules {unknown} are not supported (supported: {', '.join(TARGET_MODULES)})"
            )
        object.__setattr__(self, "target_modules", tuple(sorted(set(self.target_modules))))
        if not (_is_number(self.lora_dropout) and 0.0 <= self.lora_dropout < 1.0):
            raise ValueError(f"AdapterConfig: lora_dropout={self.lora_dropout!r} must be in [0, 1)")
        if not isinstance(self.use_rslora, bool):
            raise ValueError(f"AdapterConfig: use_rslora={self.use_rslora!r} must be a bool")
        for f in ("base_model_name_or_path", "task_type"):
            v = getattr(self, f)
            if v is not None and not isinstance(v, str):
                raise ValueError(f"AdapterConfig: {f}={v!r} must be a string or null")

    @property
    def scale(self) -> float:
        """Multiplier of B @ A: alpha / r, or alpha / sqrt(r) with rank-stabilised LoRA."""
        return self.lora_alpha / (math.sqrt(self.r) if self.use_rslora else self.r)

    @classmethod
    def from_dict(cls, d: Any) -> AdapterConfig:
        """Validate a parsed `adapter_config.json`. Raises ValueError naming the first unsupported option."""
        if not isinstance(d, dict):
            raise ValueError(f"adapter config must be a JSON object, got {type(d).__name__}")
        if d.get("peft_type") != "LORA":
            raise ValueError(
                f"adapter config: peft_type={d.get('peft_type')!r} is not supported (only 'LORA')"
            )
        for key in sorted(set(d) - _READ_KEYS - _IGNORED_KEYS):
            if not _is_unset(d[key]):
                raise ValueError(f"adapter config: option {key}={d[key]!r} is not supported")
        for key in ("r", "lora_alpha", "target_modules"):
            if key not in d:
                raise ValueError(f"adapter config: {key!r} is missing")
        bias = d.get("bias", "none")
        if bias != "none":
            raise ValueError(f"adapter config: bias={bias!r} is not supported (only 'none')")
        if d.get("fan_in_fan_out", False) is not False:
            raise ValueError(
                f"adapter config: fan_in_fan_out={d['fan_in_fan_out']!r} is not supported (only false)"
            )
        targets = d["target_modules"]
        if targets == "all-linear":  # peft: every Linear but the output layer
            targets = list(TARGET_MODULES)
        elif isinstance(targets, str):  # peft reads a string as a regex over full module names
            targets = [targets] if targets in MODULE_PARENTS else None
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise ValueError(
                f"adapter config: target_modules={d['target_modules']!r} is not supported; expected a list of "
                f"{', '.join(TARGET_MODULES)} (or 'all-linear')"
            )
        use_rslora = d.get("use_rslora", False)
        return cls(
            r=d["r"],
            lora_alpha=d["lora_alpha"],
            target_modules=tuple(targets),
            lora_dropout=d.get("lora_dropout", 0.0) or 0.0,
            use_rslora=use_rslora if use_rslora is not None else False,
            base_model_name_or_path=d.get("base_model_name_or_path"),
            task_type=d.get("task_type"),
        )

    def to_peft_dict(self) -> dict[str, Any]:
        """The `adapter_config.json` content `peft` reads (its own defaults fill in the rest)."""
        return {
            "peft_type": "LORA",
            "task_type": self.task_type,
            "base_model_name_or_path": self.base_model_name_or_path,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "target_modules": list(self.target_modules),
            "use_rslora": self.use_rslora,
            "bias": "none",
            "fan_in_fan_out": False,
            "use_dora": False,
            "modules_to_save": None,
            "inference_mode": True,
        }


def read_adapter_config(adapter_dir: str | Path) -> AdapterConfig:
    path = Path(adapter_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{adapter_dir} has no {CONFIG_FILE}")
    try:
        return AdapterConfig.from_dict(read_json_strict(path))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


# ----------------------------------------------------------------------------------------------- weights
def module_path(layer: int, name: str) -> str:
    """Our (and HF's) module path of target `name` in decoder layer `layer`."""
    return f"model.layers.{layer}.{MODULE_PARENTS[name]}.{name}"


def module_features(config: ModelConfig, name: str) -> tuple[int, int]:
    """(in_features, out_features) of target module `name`."""
    c, i = config.hidden_size, config.intermediate_size
    return {
        "q_proj": (c, config.q_size),
        "k_proj": (c, config.kv_size),
        "v_proj": (c, config.kv_size),
        "o_proj": (config.q_size, c),
        "gate_proj": (c, i),
        "up_proj": (c, i),
        "down_proj": (i, c),
    }[name]


def peft_key(path: str, which: str) -> str:
    """PEFT's tensor name for factor `which` ("A" or "B") of module `path`."""
    return f"base_model.model.{path}.lora_{which}.weight"


@dataclass(frozen=True)
class LoraWeights:
    """A validated adapter: `factors[module path] = (A (r, in), B (out, r))`, float32 on the CPU."""

    config: AdapterConfig
    factors: dict[str, tuple[Tensor, Tensor]]

    @property
    def scale(self) -> float:
        return self.config.scale

    def delta(self, path: str) -> Tensor:
        """scale * B @ A for module `path`: (out, in)."""
        a, b = self.factors[path]
        return self.scale * (b @ a)


def load_adapter_weights(adapter_dir: str | Path, config: ModelConfig) -> LoraWeights:
    """Read and check a PEFT LoRA adapter directory against a model config. Only safetensors is read; names,
    shapes, dtypes and values are all checked before the weights are returned (ValueError naming the tensor)."""
    directory = Path(adapter_dir)
    if not directory.is_dir():
        raise FileNotFoundError(f"adapter directory {directory} does not exist")
    adapter_config = read_adapter_config(directory)
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
        hint = (
            f" It holds {', '.join(pickles)}: pickle files can run arbitrary code when loaded and are refused;"
            " re-save the adapter with safetensors (peft's save_pretrained does by default)."
            if pickles
            else ""
        )
        raise ValueError(f"{directory} has no {WEIGHTS_FILE}.{hint}")

    r = adapter_config.r
    expected: dict[str, tuple[int, ...]] = {}
    for layer in range(config.num_hidden_layers):
        for name in adapter_config.target_modules:
            n_in, n_out = module_features(config, name)
            path = module_path(layer, name)
            expected[peft_key(path, "A")] = (r, n_in)
            expected[peft_key(path, "B")] = (n_out, r)

    tensors: dict[str, Tensor] = {}
    try:
        handle = safe_open(str(weights_path), framework="pt", device="cpu")
    except Exception as exc:  # safetensors raises its own SafetensorError for a malformed header
        raise ValueError(f"{weights_path}: not a valid safetensors file ({exc})") from None
    with handle as f:
        keys = sorted(f.keys())
        for key in keys:  # names and shapes from the header first
            if key not in expected:
                raise ValueError(
                    f"{weights_path}: tensor {key!r} {_why_unexpected(key, adapter_config, config)}"
                )
            shape = tuple(f.get_slice(key).get_shape())
            if shape != expected[key]:
                raise ValueError(
                    f"{weights_path}: tensor {key!r} has shape {shape}, expected {expected[key]}"
                )
        missing = sorted(set(expected) - set(keys))
        if missing:
            more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
            raise ValueError(f"{weights_path}: missing tensors {', '.join(missing[:3])}{more}")
        for key in keys:
            t = f.get_tensor(key)
            if not t.dtype.is_floating_point:
                raise ValueError(
                    f"{weights_path}: tensor {key!r} has dtype {t.dtype}, expected a float dtype"
                )
            t = t.to(torch.float32)
            if not torch.isfinite(t).all():
                raise ValueError(f"{weights_path}: tensor {key!r} has NaN or infinite values")
            tensors[key] = t

    factors = {}
    for layer in range(config.num_hidden_layers):
        for name in adapter_config.target_modules:
            path = module_path(layer, name)
            factors[path] = (tensors[peft_key(path, "A")], tensors[peft_key(path, "B")])
    return LoraWeights(adapter_config, factors)


def _why_unexpected(key: str, adapter_config: AdapterConfig, config: ModelConfig) -> str:
    m = _KEY_RE.fullmatch(key)
    if m is None:
        return "is not a LoRA factor of a supported target module (expected base_model.model.model.layers.N.<self_attn|mlp>.<module>.lora_<A|B>.weight)"
    layer, parent, name = int(m.group(1)), m.group(2), m.group(3)
    if name not in MODULE_PARENTS or MODULE_PARENTS[name] != parent:
        return f"names module {parent}.{name}, which is not a supported target ({', '.join(TARGET_MODULES)})"
    if layer >= config.num_hidden_layers:
        return f"names layer {layer}, but the model has {config.num_hidden_layers} layers"
    return (
        f"targets {name}, which is not in the adapter's target_modules {list(adapter_config.target_modules)}"
    )


def save_adapter_weights(out_dir: str | Path, weights: LoraWeights) -> Path:
    """Write `weights` in PEFT's format (adapter_config.json + adapter_model.safetensors)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {}
    for path, (a, b) in weights.factors.items():
        state[peft_key(path, "A")] = a.detach().to("cpu").contiguous()
        state[peft_key(path, "B")] = b.detach().to("cpu").contiguous()
    save_file(state, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    with open(out / CONFIG_FILE, "w", encoding="utf-8") as f:
        json.dump(weights.config.to_peft_dict(), f, indent=2)
    return out


# ------------------------------------------------------------------------------------------------ merging
def _named_target_linears(model: nn.Module, paths: Sequence[str]) -> dict[str, nn.Linear]:
    modules = dict(model.named_modules())
    out = {}
    for path in paths:
        module = modules.get(path)
        if not isinstance(module, nn.Linear):
            raise ValueError(f"model has no Linear {path!r}")
        out[path] = module
    return out


def _as_weights(model: nn.Module, adapter: str | Path | LoraWeights) -> LoraWeights:
    return adapter if isinstance(adapter, LoraWeights) else load_adapter_weights(adapter, model.config)


@torch.no_grad()
def merge_adapter(model: nn.Module, adapter: str | Path | LoraWeights) -> nn.Module:
    """W += scale * B @ A for every target module, in place (computed in float32); returns `model`.
    Undo with `unmerge_adapter` (exact up to rounding) or reload the base."""
    weights = _as_weights(model, adapter)
    for path, linear in _named_target_linears(model, list(weights.factors)).items():
        w = linear.weight
        w.copy_((w.float() + weights.delta(path).to(w.device)).to(w.dtype))
    return model


@torch.no_grad()
def unmerge_adapter(model: nn.Module, adapter: str | Path | LoraWeights) -> nn.Module:
    """W -= scale * B @ A: undoes `merge_adapter` up to rounding (bf16 / fp16 weights do not round-trip
    exactly). Returns `model`."""
    weights = _as_weights(model, adapter)
    for path, linear in _named_target_linears(model, list(weights.factors)).items():
        w = linear.weight
        w.copy_((w.float() - weights.delta(path).to(w.device)).to(w.dtype))
    return model


# ------------------------------------------------------------------------------- batched multi-LoRA delta
# Notation: N rows (dim 0 of the input), T tokens per row (any extra dims), I in_features, O out_features,
# S adapter slots, R padded rank. A: (S, R, I), B: (S, O, R) with the slot's scale folded into B.
def lora_delta_reference(x: Tensor, slots: Tensor, lora_a: Tensor, lora_b: Tensor) -> Tensor:
    """Row by row, plain matmuls: the oracle for the batched versions. x (N, ..., I) -> (N, ..., O)."""
    out = x.new_zeros(*x.shape[:-1], lora_b.shape[1])
    for row, slot in enumerate(slots.tolist()):
        if slot >= 0:
            out[row] = (x[row] @ lora_a[slot].T) @ lora_b[slot].T  # (..., R) -> (..., O)
    return out


def lora_delta_grouped(
    x: Tensor, groups: Sequence[tuple[int, Tensor]], lora_a: Tensor, lora_b: Tensor
) -> Tensor:
    """One pair of matmuls per adapter in use over the rows that use it. `groups`: [(slot, row indices)]."""
    if len(groups) == 1 and groups[0][1].numel() == x.shape[0]:  # one adapter for the whole batch
        slot = groups[0][0]
        return (x @ lora_a[slot].T) @ lora_b[slot].T  # (N, ..., R) -> (N, ..., O)
    out = x.new_zeros(*x.shape[:-1], lora_b.shape[1])  # (N, ..., O)
    for slot, rows in groups:
        xs = x.index_select(0, rows)  # (n, ..., I)
        out.index_add_(0, rows, (xs @ lora_a[slot].T) @ lora_b[slot].T)  # (n, ..., R) -> (n, ..., O)
    return out


def lora_delta_gather(x: Tensor, slots: Tensor, lora_a: Tensor, lora_b: Tensor) -> Tensor:
    """Gather each row's A / B and contract with one batched einsum (BGMV-style; better when many rows use
    many different adapters). Rows with slot -1 get zero."""
    keep = (slots >= 0).to(x.dtype)  # (N,)
    a = lora_a[slots.clamp(min=0)]  # (N, R, I)
    b = lora_b[slots.clamp(min=0)] * keep[:, None, None]  # (N, O, R), zero for rows without an adapter
    xf = x.reshape(x.shape[0], -1, x.shape[-1])  # (N, T, I)
    h = torch.bmm(xf, a.transpose(1, 2))  # einsum "nti,nri->ntr": (N, T, R)
    y = torch.bmm(h, b.transpose(1, 2))  # einsum "ntr,nor->nto": (N, T, O)
    return y.reshape(*x.shape[:-1], lora_b.shape[1])


class _Rows:
    """Which slot each batch row uses in the current forward, shared by a bank's wrappers. `slots` is None
    when no row uses an adapter (the wrappers then skip LoRA entirely)."""

    def __init__(self) -> None:
        self.slots: Tensor | None = None
        self.groups: list[tuple[int, Tensor]] = []


LORA_IMPLS = ("grouped", "gather", "reference")


class MultiLoraLinear(nn.Linear):
    """An `nn.Linear` (same weight Parameter as the one it replaces, so state-dict keys are unchanged) plus
    per-slot LoRA factors as non-persistent buffers: `lora_a` (S, R, I), `lora_b` (S, O, R) with the slot's
    scale folded in. Unused rank columns and slots are zero."""

    def __init__(
        self, base: nn.Linear | Int8Linear | Int4Linear, rows: _Rows, max_adapters: int, impl: str = "grouped"
    ) -> None:
        nn.Module.__init__(self)
        self.in_features, self.out_features = base.in_features, base.out_features
        if isinstance(base, QUANTIZED_LINEARS):
            # QLoRA-style: the quantized module runs the base product (its tensors move to keys under
            # `<module>.base.`); the LoRA factors stay float32.
            self.base = base
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
            factory = {"dtype": torch.float32, "device": base.qweight.device}
        else:
            self.base = None
            self.weight = base.weight
            self.bias = base.bias
            factory = {"dtype": base.weight.dtype, "device": base.weight.device}
        self.rows = rows
        self.impl = impl
        self.register_buffer("lora_a", torch.zeros(max_adapters, 0, self.in_features, **factory), persistent=False)
        self.register_buffer("lora_b", torch.zeros(max_adapters, self.out_features, 0, **factory), persistent=False)
        self.active: set[int] = set()  # slots with a non-zero delta in this module

    def to_linear(self) -> nn.Module:
        if self.base is not None:
            return self.base
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None, device="meta")
        linear.weight = self.weight
        linear.bias = self.bias
        return linear

    @torch.no_grad()
    def set_slot(self, slot: int, a: Tensor | None, b: Tensor | None, scale: float) -> None:
        """Store A (r, I), B (O, r) (None: clear the slot). Grows the padded rank R when r > R."""
        if a is None or b is None:
            self.lora_a[slot].zero_()
            self.lora_b[slot].zero_()
            self.active.discard(slot)
            return
        r = a.shape[0]
        if r > self.lora_a.shape[1]:  # pad every slot to the new rank; zero columns add nothing
            grow = r - self.lora_a.shape[1]
            self.lora_a = F.pad(self.lora_a, (0, 0, 0, grow))  # (S, R, I)
            self.lora_b = F.pad(self.lora_b, (0, grow))  # (S, O, R)
        self.lora_a[slot].zero_()
        self.lora_b[slot].zero_()
        self.lora_a[slot, :r] = a.to(self.lora_a)
        self.lora_b[slot, :, :r] = (scale * b).to(self.lora_b)
        self.active.add(slot)

    def forward(self, x: Tensor) -> Tensor:
        # the base matmul, once for the whole batch (float: split for decode; quantized: its kernel)
        y = split_linear(x, self.weight, self.bias) if self.base is None else self.base(x)
        rows = self.rows
        if rows.slots is None or not self.active:
            return y
        if x.shape[0] != rows.slots.shape[0]:
            raise ValueError(
                f"LoRA rows: {rows.slots.shape[0]} row slots set, but the input has {x.shape[0]} rows"
            )
        used = [(s, idx) for s, idx in rows.groups if s in self.active]
        if not used:  # the rows' adapters do not touch this module
            return y
        a, b = self.lora_a.to(x.dtype), self.lora_b.to(x.dtype)
        if self.impl == "grouped":
            return y + lora_delta_grouped(x, used, a, b)
        if self.impl == "gather":
            return y + lora_delta_gather(x, rows.slots, a, b)
        return y + lora_delta_reference(x, rows.slots, a, b)


# ----------------------------------------------------------------------------------------------- the bank
class LoraBank:
    """Up to `max_adapters` resident adapters on a model whose target Linears are `MultiLoraLinear`s.
    Create with `attach_lora_bank`. Slots are reused least-recently-used first."""

    def __init__(
        self, model: nn.Module, wrappers: dict[str, MultiLoraLinear], rows: _Rows, max_adapters: int
    ) -> None:
        self.model = model
        self.wrappers = wrappers
        self.max_adapters = max_adapters
        self._rows = rows
        self._resident: OrderedDict[str, int] = OrderedDict()  # name -> slot, least recently used first
        self._configs: dict[str, AdapterConfig] = {}

    # ------------------------------------------------------------------------------ residency
    def names(self) -> list[str]:
        """Resident adapter names, least recently used first."""
        return list(self._resident)

    def slot_of(self, name: str) -> int:
        """The slot of a resident adapter (marks it recently used). KeyError if not resident."""
        slot = self._resident[name]
        self._resident.move_to_end(name)
        return slot

    def config_of(self, name: str) -> AdapterConfig:
        return self._configs[name]

    def load(self, name: str, adapter: str | Path | LoraWeights, *, reload: bool = False) -> int:
        """Make adapter `name` resident (reading `adapter`, a PEFT directory or `LoraWeights`) and return
        its slot. Already resident: just marks it used (unless `reload`). When all slots are taken, the
        least recently used adapter not used by the current rows is evicted."""
        if name in self._resident and not reload:
            return self.slot_of(name)
        weights = _as_weights(self.model, adapter)  # validate before touching any slot
        missing = [p for p in weights.factors if p not in self.wrappers]
        if missing:
            raise ValueError(
                f"adapter {name!r} targets modules the bank does not wrap: {', '.join(missing[:3])}"
            )
        if name in self._resident:
            slot = self._resident[name]
        else:
            slot = self._free_slot()
        for path, wrapper in self.wrappers.items():
            if path in weights.factors:
                a, b = weights.factors[path]
                wrapper.set_slot(slot, a, b, weights.scale)
            else:
                wrapper.set_slot(slot, None, None, 0.0)
        self._resident[name] = slot
        self._resident.move_to_end(name)
        self._configs[name] = weights.config
        return slot

    def _free_slot(self) -> int:
        used = set(self._resident.values())
        for slot in range(self.max_adapters):
            if slot not in used:
                return slot
        busy = set() if self._rows.slots is None else {s for s, _ in self._rows.groups}
        for victim, slot in self._resident.items():  # least recently used first
            if slot not in busy:
                self.unload(victim)
                return slot
        raise RuntimeError(f"all {self.max_adapters} adapter slots are used by the current rows")

    def unload(self, name: str) -> None:
        """Drop a resident adapter and zero its slot. KeyError if not resident."""
        slot = self._resident[name]
        if any(s == slot for s, _ in self._rows.groups):
            raise RuntimeError(f"adapter {name!r} is used by the current rows; clear them first")
        del self._resident[name]
        self._configs.pop(name, None)
        for wrapper in self.wrappers.values():
            wrapper.set_slot(slot, None, None, 0.0)

    # ------------------------------------------------------------------------------ engine hook
    def rows_for(self, names: Sequence[str | None], *, device: torch.device | str | None = None) -> Tensor:
        """(B,) slots for per-row adapter names (None = base model); marks them used."""
        slots = [-1 if n is None else self.slot_of(n) for n in names]
        if device is None:
            device = next(iter(self.wrappers.values())).lora_a.device
        return torch.tensor(slots, dtype=torch.long, device=device)

    def set_rows(self, slots: Tensor | None) -> None:
        """Slot per batch row (LongTensor (B,), -1 = no adapter) for the following forwards; None clears."""
        if slots is None:
            self._rows.slots, self._rows.groups = None, []
            return
        if slots.dim() != 1 or slots.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"set_rows: expected an integer tensor (B,), got {slots.dtype} {tuple(slots.shape)}"
            )
        values = slots.tolist()  # one host sync per forward, not one per layer
        resident = set(self._resident.values())
        bad = sorted({s for s in values if s != -1 and s not in resident})
        if bad:
            raise ValueError(f"set_rows: slots {bad} hold no adapter (resident: {dict(self._resident)})")
        if all(s == -1 for s in values):
            self._rows.slots, self._rows.groups = None, []
            return
        by_slot: dict[int, list[int]] = {}
        for row, s in enumerate(values):
            if s >= 0:
                by_slot.setdefault(s, []).append(row)
        device = next(iter(self.wrappers.values())).lora_a.device
        self._rows.slots = slots.to(device=device, dtype=torch.long)
        self._rows.groups = [
            (s, torch.tensor(rows, dtype=torch.long, device=device)) for s, rows in sorted(by_slot.items())
        ]

    @contextlib.contextmanager
    def use_rows(self, slots: Tensor | None) -> Iterator[None]:
        """`set_rows(slots)` for the duration of the block, then back to what was set before."""
        saved = (self._rows.slots, self._rows.groups)
        self.set_rows(slots)
        try:
            yield
        finally:
            self._rows.slots, self._rows.groups = saved

    def set_impl(self, impl: str) -> None:
        """ "grouped" (default: one matmul pair per adapter in use), "gather" (per-row gathered einsum) or
        "reference" (row by row)."""
        if impl not in LORA_IMPLS:
            raise ValueError(f"unknown LoRA impl {impl!r}; known: {', '.join(LORA_IMPLS)}")
        for wrapper in self.wrappers.values():
            wrapper.impl = impl

    def detach(self) -> nn.Module:
        """Put the plain `nn.Linear`s back (same weights) and return the model."""
        for path, wrapper in self.wrappers.items():
            parent_path, _, child = path.rpartition(".")
            setattr(self.model.get_submodule(parent_path), child, wrapper.to_linear())
        self.wrappers = {}
        self._resident.clear()
        self.set_rows(None)
        return self.model


def attach_lora_bank(
    model: nn.Module,
    *,
    max_adapters: int = 8,
    target_modules: Sequence[str] = TARGET_MODULES,
    impl: str = "grouped",
) -> LoraBank:
    """Replace each target `nn.Linear` of `model` (a `Transformer`) with a `MultiLoraLinear` and return the
    bank that loads adapters into them. The model's outputs do not change until an adapter is loaded and
    rows are set. State-dict keys are unchanged (the wrappers reuse the base Parameters)."""
    if not (_is_int(max_adapters) and max_adapters > 0):
        raise ValueError(f"attach_lora_bank: max_adapters={max_adapters!r} must be a positive integer")
    if impl not in LORA_IMPLS:
        raise ValueError(f"unknown LoRA impl {impl!r}; known: {', '.join(LORA_IMPLS)}")
    unknown = [m for m in target_modules if m not in MODULE_PARENTS]
    if unknown:
        raise ValueError(f"attach_lora_bank: unsupported target modules {unknown}")
    if any(isinstance(m, MultiLoraLinear) for m in model.modules()):
        raise ValueError("attach_lora_bank: the model already has a LoRA bank attached")
    config: ModelConfig = model.config
    rows = _Rows()
    wrappers: dict[str, MultiLoraLinear] = {}
    for layer in range(config.num_hidden_layers):
        for name in target_modules:
            path = module_path(layer, name)
            base = model.get_submodule(path)
            if not isinstance(base, nn.Linear | Int8Linear | Int4Linear):
                raise ValueError(
                    f"attach_lora_bank: {path} is a {type(base).__name__}, not an nn.Linear or a quantized linear"
                )
            wrapper = MultiLoraLinear(base, rows, max_adapters, impl)
            setattr(model.get_submodule(path.rpartition(".")[0]), name, wrapper)
            wrappers[path] = wrapper
    return LoraBank(model, wrappers, rows, max_adapters)
