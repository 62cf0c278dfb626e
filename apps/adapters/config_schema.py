"""The allow-list of `adapter_config.json`: every key an uploaded config may hold, with its type and bounds.

An uploaded config (at most PLUMBLINE_ADAPTER_MAX_CONFIG_BYTES, capped where it is read) is parsed here with
`strict_json` (nesting depth, duplicate keys and NaN/Infinity refused) and each key is checked against `KEYS` before anything else reads it. A key that is not listed, or a value of
the wrong type or out of bounds, is a `ConfigError` naming the key. transformers and peft never parse an
uploaded config: they import what some keys name (`auto_mapping.base_model_class`, `megatron_core`), so a key
we do not list is refused rather than ignored.

Three kinds of key:
- honoured: the LoRA options modelcore implements (`modelcore.adapters.AdapterConfig`);
- bookkeeping PEFT writes and nothing reads for serving (`inference_mode`, `init_lora_weights`, `peft_version`);
- options we do not implement: accepted only at the value PEFT writes when they are off (null, false, {}).
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from apps.adapters import strict_json

MAX_DEPTH = 4  # a real config nests 2 levels (the object and target_modules); "loftq_config": {} is 2 too
MAX_RANK = 256  # LoRA ranks in practice are 4-64; the deployed model's smallest projection is 192 wide
MAX_ALPHA = 4096.0
MAX_TEXT = 200
# The deployed model's LoRA targets (HF LLaMA names), as modelcore.adapters.TARGET_MODULES; kept here so the web
# process checks a config without importing torch (a test keeps the two equal).
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_TEXT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")  # a hub id or a preset name, nothing else
_VERSION_RE = re.compile(r"^[0-9][0-9A-Za-z.+-]{0,31}$")


class ConfigError(ValueError):
    def __init__(self, key: str | None, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


Rule = Callable[[Any], str | None]  # a problem with the value, or None when it is allowed


def _same(value: Any, allowed: Any) -> bool:
    # 0 == False and 1.0 == 1 in Python: compare types too, so `false` never passes for 0 or `1` for true.
    return type(value) is type(allowed) and value == allowed


def one_of(*allowed: Any) -> Rule:
    def rule(value: Any) -> str | None:
        if any(_same(value, a) for a in allowed):
            return None
        return f"must be {' or '.join(json.dumps(a) for a in allowed)}, not {_short(value)}"

    return rule


def integer(lo: int, hi: int) -> Rule:
    def rule(value: Any) -> str | None:
        if type(value) is not int:
            return f"must be an integer, not {_short(value)}"
        return None if lo <= value <= hi else f"must be between {lo} and {hi}, not {value}"

    return rule


def _is_number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def positive(at_most: float) -> Rule:
    def rule(value: Any) -> str | None:
        if not _is_number(value):
            return f"must be a number, not {_short(value)}"
        return None if 0 < value <= at_most else f"must be above 0 and at most {at_most:g}, not {value}"

    return rule


def fraction(value: Any) -> str | None:
    if not _is_number(value):
        return f"must be a number, not {_short(value)}"
    return None if 0 <= value < 1 else f"must be at least 0 and below 1, not {value}"


def boolean(value: Any) -> str | None:
    return None if type(value) is bool else f"must be true or false, not {_short(value)}"


def text(pattern: re.Pattern, *, nullable: bool) -> Rule:
    def rule(value: Any) -> str | None:
        if value is None and nullable:
            return None
        if type(value) is not str:
            return f"must be a string{' or null' if nullable else ''}, not {_short(value)}"
        if len(value) > MAX_TEXT or not pattern.match(value) or ".." in value.split("/"):
            return f"must be at most {MAX_TEXT} characters of letters, digits and . _ / - (no '..')"
        return None

    return rule


def target_modules(value: Any) -> str | None:
    if _same(value, "all-linear"):
        return None
    if type(value) is not list or not value:
        return f"must be a non-empty list of module names or \"all-linear\", not {_short(value)}"
    for item in value:
        if type(item) is not str:
            return f"every entry must be a string, not {_short(item)}"
        if item not in TARGET_MODULES:
            return f"{item[:40]!r} is not a target module of the deployed model ({', '.join(TARGET_MODULES)})"
    if len(set(value)) != len(value):
        return "names a module twice"
    return None


def unset(value: Any) -> str | None:
    """An option we do not implement: only its "off" value (null, false, {} or [])."""
    if value is None or value is False or (type(value) in (dict, list) and not value):
        return None
    return f"is not supported; it may only be null, false or empty, not {_short(value)}"


def _short(value: Any) -> str:
    if value is None or type(value) in (bool, int, float):
        return json.dumps(value)
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


KEYS: dict[str, Rule] = {
    # honoured (modelcore.adapters.AdapterConfig)
    "peft_type": one_of("LORA"),
    "task_type": one_of(None, "CAUSAL_LM"),
    "r": integer(1, MAX_RANK),
    "lora_alpha": positive(MAX_ALPHA),
    "target_modules": target_modules,
    "lora_dropout": fraction,
    "bias": one_of("none"),
    "fan_in_fan_out": one_of(False),
    "use_rslora": boolean,
    "base_model_name_or_path": text(_TEXT_RE, nullable=True),
    # bookkeeping PEFT writes; nothing reads it for serving
    "inference_mode": boolean,
    "init_lora_weights": boolean,
    "peft_version": text(_VERSION_RE, nullable=True),
    # options we do not implement: only PEFT's "off" value
    "auto_mapping": one_of(None),  # peft imports base_model_class from parent_library: never accepted
    "revision": one_of(None),
    "megatron_core": one_of(None, "megatron.core"),  # peft imports this module name when megatron_config is set
    "megatron_config": unset,
    "qalora_group_size": integer(1, 4096),  # read only with use_qalora, which must be false
    **{key: unset for key in (
        "alora_invocation_tokens", "alpha_pattern", "arrow_config", "corda_config", "ensure_weight_tying",
        "eva_config", "exclude_modules", "kasa_config", "layer_replication", "layers_pattern", "layers_to_transform",
        "loftq_config", "lora_bias", "lora_ga_config", "modules_to_save", "monteclora_config", "rank_pattern",
        "target_parameters", "trainable_token_indices", "use_bdlora", "use_dora", "use_qalora", "velora_config",
    )},
}
REQUIRED = ("peft_type", "r", "lora_alpha", "target_modules")


def validate(raw: bytes) -> dict[str, Any]:
    """Parse and check an uploaded adapter_config.json against the allow-list; returns the parsed object.
    Raises ConfigError naming the first refused key (keys in sorted order, so the answer is stable)."""
    try:
        config = strict_json.loads(raw, max_depth=MAX_DEPTH)
    except strict_json.JSONError as exc:
        raise ConfigError(exc.key, str(exc)) from None
    if type(config) is not dict:
        raise ConfigError(None, "must be a JSON object")
    for key in sorted(config):
        rule = KEYS.get(key)
        if rule is None:
            raise ConfigError(strict_json.printable(key), "unknown key; allowed: " + ", ".join(sorted(KEYS)))
        problem = rule(config[key])
        if problem:
            raise ConfigError(key, problem)
    for key in REQUIRED:
        if key not in config:
            raise ConfigError(key, "is required")
    return config

