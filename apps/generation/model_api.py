"""What the other apps may ask of the model. Apps reach modelcore only through apps/generation."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from django.conf import settings

from apps.generation.backends import TextResult, get_backend

__all__ = ["TextResult", "adapter_push", "backend_prepare", "generate_text", "generate_texts"]


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


def _in_adapter_dir(config_raw: bytes, weights_raw: bytes | Path | None, read):
    """Run `read(dir)` on the upload laid out as an adapter directory; errors name the file, not the temp path.
    Weights given as a file are linked (copied where links fail), never read into memory here."""
    with tempfile.TemporaryDirectory(prefix="adapter-check-") as tmp:
        Path(tmp, "adapter_config.json").write_bytes(config_raw)
        if isinstance(weights_raw, Path):
            try:
                os.link(weights_raw, Path(tmp, "adapter_model.safetensors"))
            except OSError:
                shutil.copyfile(weights_raw, Path(tmp, "adapter_model.safetensors"))
        elif weights_raw is not None:
            Path(tmp, "adapter_model.safetensors").write_bytes(weights_raw)
        try:
            return read(tmp)
        except ValueError as exc:
            raise ValueError(str(exc).replace(f"{tmp}/", "").replace(tmp, "the upload")) from None


def adapter_config_parse(raw: bytes) -> AdapterSpec:
    """Parse adapter_config.json with modelcore's strict reader (never transformers or peft)."""
    from modelcore.adapters import read_adapter_config

    config = _in_adapter_dir(raw, None, read_adapter_config)
    return AdapterSpec(
        base_model=config.base_model_name_or_path or "",
        rank=config.r,
        alpha=float(config.lora_alpha),
        target_modules=tuple(config.target_modules),
    )


def adapter_weights_check(config_raw: bytes, weights_raw: bytes | Path) -> None:
    """Load the weights the way serving will (safetensors only) against the deployed base's shapes."""
    from modelcore.adapters import load_adapter_weights

    _in_adapter_dir(config_raw, weights_raw, lambda d: load_adapter_weights(d, deployed_model_config()))


def adapter_eval_losses(
    *, adapter_dir: Path, sets: dict[str, tuple[dict, ...]], max_rows: int | None = None
) -> dict[str, tuple[float, float]]:
    """Mean completion-token loss of each named set (its first `max_rows` rows, default
    PLUMBLINE_ADAPTER_EVAL_ROWS), (base model, base + adapter), on a private model copy."""

    import modelcore
    from modelcore.adapters import merge_adapter
    from modelcore.training.adapter import evaluate, tokenize_rows

    from .runtime import device_setting

    cache_dir = settings.PLUMBLINE_DATA_DIR
    device, dtype = device_setting(settings.PLUMBLINE_DEVICE, settings.PLUMBLINE_DTYPE)
    model = modelcore.load_model(settings.PLUMBLINE_MODEL, dtype=dtype, device=device, cache_dir=cache_dir)
    tokenizer = modelcore.load_tokenizer(settings.PLUMBLINE_MODEL, cache_dir=cache_dir)
    limit = max_rows or settings.PLUMBLINE_ADAPTER_EVAL_ROWS
    examples = {
        name: tokenize_rows(
            list(enumerate(rows[:limit], start=1)), tokenizer, max_length=512, vocab_size=model.config.vocab_size
        )
        for name, rows in sets.items()
    }
    base = {name: evaluate(model, ex, batch_size=8) for name, ex in examples.items()}
    merge_adapter(model, adapter_dir)
    adapted = {name: evaluate(model, ex, batch_size=8) for name, ex in examples.items()}
    return {name: (base[name], adapted[name]) for name in examples}


@lru_cache(maxsize=1)
def _tokenizer(model: str):
    import modelcore

    return modelcore.load_tokenizer(model, cache_dir=settings.PLUMBLINE_DATA_DIR)


def token_ids(text: str) -> list[int]:
    """The deployed model's token ids of `text` (its tokenizer only, loaded once per process; no model)."""
    return _tokenizer(settings.PLUMBLINE_MODEL).encode(text)


def adapter_for_domain(domain: str):
    """The active AdapterVersion of a domain, or None (serve the base model)."""
    from apps.adapters.selectors import active_adapter

    return active_adapter(domain=domain)


def generate_text(*, on_text=None, deadline: float | None = None, **request) -> TextResult:
    """Generate on the configured backend (call it from gpu-queue tasks only, never from a web view): this worker
    process's engine (PLUMBLINE_BACKEND=inproc) or an OpenAI-compatible server (openai); see backends.py.

    request: prompt, adapter, chat, system, max_tokens, temperature, top_p, seed, stop, json_schema, choices,
    grammar, ignore_eos: adapter is an apps.adapters AdapterVersion or None; chat wraps `prompt` (and `system`) in
    the model's chat template; json_schema / choices / grammar constrain the output (structured output).
    on_text(text_so_far) is called as tokens arrive, and returning False from it cancels the request; deadline:
    a time.monotonic() value past which the request is cancelled (finish_reason "deadline")."""
    return generate_texts([request], on_text=[on_text], deadline=deadline)[0]


def generate_texts(requests: list[dict], *, on_text=None, deadline: float | None = None) -> list[TextResult]:
    """Several independent requests at once: all are submitted before any is read, so the engine (or the server)
    decodes them in one batch (a draft's sections, a report's sections); results in request order. on_text: one
    callback (or None) per request, called on this thread; a callback returning False cancels its own request only.
    The deadline applies to all. A request's "step" and "label" (JobContext.generate_many's names) are ignored."""
    callbacks = list(on_text) if on_text is not None else [None] * len(requests)
    plain = [{k: v for k, v in request.items() if k not in ("step", "label")} for request in requests]
    return get_backend().generate_texts(plain, on_text=callbacks, deadline=deadline)


def backend_prepare() -> None:
    """Get the backend ready before a job's deadline starts (inproc: load the model in this process)."""
    get_backend().prepare()


# --- capacity planning (modelcore.planner: pure arithmetic, no weights loaded) -------------------------------
def capacity_choices() -> dict[str, list[str]]:
    """What the planner accepts: model presets, precisions, hardware keys (with this CPU once measured), scenarios."""
    from modelcore import planner

    return {"model": list(planner.PLANNER_MODELS), "precision": list(planner.PRECISIONS),
            "hardware": list(planner.hardware_table()), "scenario": list(planner.SCENARIOS)}


def capacity_matrix() -> dict:
    """The design's hardware matrix beside the planner's predictions, the hardware table and the assumptions."""
    from modelcore import planner

    return {"rows": [r.to_dict() for r in planner.source_matrix()],
            "assumptions": list(planner.MATRIX_ASSUMPTIONS),
            "hardware": [hw.to_dict() for hw in planner.hardware_table().values()]}


def capacity_plan(**inputs) -> dict:
    """One plan as a dict; ValueError (modelcore.planner.PlanError) with the reason when it cannot be made."""
    from modelcore import planner

    return planner.plan(inputs.pop("model"), inputs.pop("precision"), inputs.pop("hardware"), **inputs).to_dict()


def adapter_push(adapter) -> None:
    """Make the serving backend hold `adapter` (an AdapterVersion): a no-op in process, the server's runtime LoRA
    load endpoint for PLUMBLINE_BACKEND=openai. Raises ConnectionError (unreachable) or AdapterPushError."""
    get_backend().push_adapter(adapter)
