"""What the other apps may ask of the model. Apps reach modelcore only through apps/generation."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from django.conf import settings


@dataclass(frozen=True)
class AdapterSpec:
    """The facts of an adapter_config.json that the registry records."""

    base_model: str
    rank: int
    alpha: float
    target_modules: tuple[str, ...]


@lru_cache(maxsize=4)
def _model_config(model: str):
    from modelcore.checkpoint import read_config
    from modelcore.config import PRESETS, ModelConfig

    if model in PRESETS:
        return ModelConfig.from_name(model)
    return read_config(model)


def deployed_model_config():
    """The ModelConfig of the model the workers serve (read from its config, weights not loaded)."""
    return _model_config(settings.PLUMBLINE_MODEL)


def _model_key(name: str) -> str:
    # "HuggingFaceTB/SmolLM2-135M-Instruct", "/models/smollm2-135m-instruct/" and the preset name are one model.
    return PurePosixPath(name.strip().rstrip("/")).name.lower()


def same_base_model(adapter_base: str, deployed: str) -> bool:
    return bool(adapter_base) and _model_key(adapter_base) == _model_key(deployed)


def adapter_config_parse(raw: bytes) -> AdapterSpec:
    """Parse adapter_config.json with modelcore's strict reader (never transformers or peft)."""
    from modelcore.adapters import AdapterConfig

    config = AdapterConfig.from_json_bytes(raw)
    return AdapterSpec(
        base_model=config.base_model_name_or_path or "",
        rank=config.r,
        alpha=float(config.lora_alpha),
        target_modules=tuple(config.target_modules),
    )


def adapter_weights_check(config_raw: bytes, weights_raw: bytes) -> None:
    """Load the weights the way serving will (safetensors only) against the deployed base's shapes."""
    from modelcore.adapters import load_adapter_weights

    with tempfile.TemporaryDirectory(prefix="adapter-check-") as tmp:
        Path(tmp, "adapter_config.json").write_bytes(config_raw)
        Path(tmp, "adapter_model.safetensors").write_bytes(weights_raw)
        load_adapter_weights(tmp, deployed_model_config())
