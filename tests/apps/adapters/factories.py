"""Build PEFT-format adapter files for the deployed model (SmolLM2-135M-Instruct) byte by byte."""
from __future__ import annotations

import io
import json
import struct
import zipfile

import torch
from safetensors.torch import save as safetensors_save

from modelcore.config import ModelConfig

BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"
CFG = ModelConfig.from_name("smollm2-135m-instruct")
PREFIX = "base_model.model.model.layers"


def module_dims(module: str) -> tuple[int, int]:
    """(in_features, out_features) of a target module of the base model."""
    h, kv, inter = CFG.hidden_size, CFG.num_key_value_heads * CFG.head_dim, CFG.intermediate_size
    return {
        "q_proj": (h, CFG.num_attention_heads * CFG.head_dim), "k_proj": (h, kv), "v_proj": (h, kv),
        "o_proj": (CFG.num_attention_heads * CFG.head_dim, h), "gate_proj": (h, inter), "up_proj": (h, inter),
        "down_proj": (inter, h),
    }[module]


def adapter_config(*, rank: int = 4, targets=("q_proj", "v_proj"), base: str = BASE, **extra) -> dict:
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.0,
        "target_modules": list(targets), "bias": "none", "fan_in_fan_out": False, "base_model_name_or_path": base,
        "use_rslora": False, "use_dora": False, "modules_to_save": None,
    }
    config.update(extra)
    return config


def adapter_tensors(*, rank: int = 4, targets=("q_proj", "v_proj"), seed: int = 0, layers=None) -> dict:
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for layer in layers if layers is not None else range(CFG.num_hidden_layers):
        for module in targets:
            din, dout = module_dims(module)
            group = "mlp" if module in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            key = f"{PREFIX}.{layer}.{group}.{module}"
            tensors[f"{key}.lora_A.weight"] = torch.randn(rank, din, generator=gen) * 0.01
            tensors[f"{key}.lora_B.weight"] = torch.randn(dout, rank, generator=gen) * 0.01
    return tensors


def adapter_files(*, config: dict | None = None, tensors: dict | None = None, seed: int = 0) -> tuple[bytes, bytes]:
    config = config if config is not None else adapter_config()
    tensors = tensors if tensors is not None else adapter_tensors(
        rank=config["r"], targets=tuple(config["target_modules"]), seed=seed
    )
    return json.dumps(config).encode(), safetensors_save(tensors)


def raw_safetensors(header: dict | bytes, data: bytes, *, declared_len: int | None = None) -> bytes:
    """A safetensors file with whatever header we want (to make headers that lie)."""
    blob = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(blob) if declared_len is None else declared_len) + blob + data


def zip_of(entries: dict[str, bytes], *, links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symbolic link
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()
