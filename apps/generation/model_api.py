"""What the other apps may ask of the model. Apps reach modelcore only through apps/generation."""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from django.conf import settings

from apps.monitoring import metrics


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
    import torch

    import modelcore
    from modelcore.adapters import merge_adapter
    from modelcore.training.adapter import evaluate, tokenize_rows

    cache_dir = settings.PLUMBLINE_DATA_DIR
    model = modelcore.load_model(settings.PLUMBLINE_MODEL, dtype=torch.float32, cache_dir=cache_dir)
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


@dataclass(frozen=True)
class TextResult:
    """What one `generate_text` call produced."""

    text: str
    finish_reason: str  # "stop", "length", "cancelled", "error", "deadline"
    prompt_tokens: int
    completion_tokens: int
    error: str = ""
    adapter_label: str = ""  # "" = base model


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
    """Generate on this worker process's engine (call it from gpu-queue tasks only, never from a web view).

    request: the keyword arguments of `_submit` (prompt, adapter, chat, system, max_tokens, temperature, top_p,
    seed, stop, json_schema, choices, grammar): adapter is an apps.adapters AdapterVersion or None; chat wraps `prompt`
    (and `system`) in the model's chat template; json_schema / choices constrain the output (structured output).
    on_text(text_so_far) is called as tokens arrive, and returning False from it cancels the request; deadline:
    a time.monotonic() value past which the request is cancelled (finish_reason "deadline")."""
    return generate_texts([request], on_text=[on_text], deadline=deadline)[0]


def generate_texts(requests: list[dict], *, on_text=None, deadline: float | None = None) -> list[TextResult]:
    """Several independent requests at once: all are submitted before any is read, so the engine decodes them
    in one batch (a draft's sections, a report's sections); results in request order. on_text: one callback (or
    None) per request; a callback returning False cancels its own request only. The deadline applies to all.
    A request's "step" and "label" (JobContext.generate_many's names for it) are ignored here."""
    from apps.generation.runtime import get_engine

    engine = get_engine()
    callbacks = list(on_text) if on_text is not None else [None] * len(requests)
    submitted = []
    try:
        for request in requests:
            submitted.append(_submit(engine, **{k: v for k, v in request.items() if k not in ("step", "label")}))
        return [_drain(item, callback, deadline) for item, callback in zip(submitted, callbacks, strict=True)]
    except BaseException:
        for item in submitted:
            if not isinstance(item, TextResult):
                item[0].cancel()  # free the engine slots whatever stopped us
        raise


def _submit(
    engine,
    *,
    prompt: str,
    adapter=None,
    chat: bool = True,
    system: str | None = None,
    max_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = 0,
    stop: tuple[str, ...] = (),
    json_schema: dict | None = None,
    choices: tuple[str, ...] | None = None,
    grammar: str | None = None,
    ignore_eos: bool = False,
):
    """(engine handle, adapter label), or a finished TextResult when the engine refused the request."""
    import modelcore

    text_prompt = prompt
    if chat:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        text_prompt = engine.tokenizer.apply_chat_template(messages)
    params = modelcore.SamplingParams(
        temperature=temperature, top_p=top_p, seed=seed, max_tokens=max_tokens, stop=stop,
        json_schema=json_schema, choices=choices, grammar=grammar, ignore_eos=ignore_eos,
    )
    ref, label = None, ""
    if isinstance(adapter, tuple):  # (label, directory): an adapter outside the registry (benchmarks)
        ref, label = adapter, adapter[0]
    elif adapter is not None:
        from apps.adapters.storage import adapter_dir

        ref = (adapter.label, str(adapter_dir(config_sha256=adapter.config_sha256, weights_sha256=adapter.sha256)))
        label = adapter.label
    try:
        return engine.submit(text_prompt, params, adapter=ref), label
    except ValueError as exc:  # prompt too long, bad parameters
        return TextResult("", "error", 0, 0, error=str(exc), adapter_label=label)


def _drain(item, on_text, deadline: float | None) -> TextResult:
    import time

    if isinstance(item, TextResult):
        return item
    handle, label = item
    text, hit_deadline = "", False
    try:
        for delta in handle:
            text += delta
            if deadline is not None and time.monotonic() > deadline:
                hit_deadline = True
                handle.cancel()
                break
            if on_text is not None and on_text(text) is False:
                handle.cancel()
                break
    except BaseException:
        handle.cancel()
        raise
    done = handle.wait()
    metrics.generation_ended(completion_tokens=done.completion_tokens, timings=done.timings)
    reason = "deadline" if hit_deadline else done.finish_reason
    return TextResult(done.text, reason, done.prompt_tokens, done.completion_tokens, done.error or "", label)


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
