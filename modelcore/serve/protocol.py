"""The OpenAI request bodies `modelcore serve` accepts, read into `SamplingParams`, and the replies it writes.

Pure functions, no HTTP: `parse_completion` / `parse_chat` take the decoded JSON body and return a
`GenerationRequest` or raise `ApiError` (status 400 and the offending field, OpenAI's `param`). What is read:

- OpenAI fields: model, prompt / messages, max_tokens (chat also max_completion_tokens), temperature, top_p,
  n (1 only), stream, stream_options.include_usage, stop (a string or up to 16 strings), seed,
  response_format ({"type": "text" | "json_object" | "json_schema", "json_schema": {"name", "schema", ...}}).
- vLLM's extra fields: top_k (-1 or 0 = off), repetition_penalty, ignore_eos, return_token_ids (the generated
  ids as choices[0].token_ids; not with stream), and structured_outputs
  ({"json" | "regex" | "choice" | "grammar": ...}, exactly one; vLLM's spelling since v0.12, which removed the
  older guided_json / guided_grammar / ...). A grammar is xgrammar EBNF with a `root` rule.
- Standard fields clients send that change nothing here are accepted at their no-op values (frequency_penalty 0,
  presence_penalty 0, logprobs off, echo false, best_of 1, logit_bias empty, user, metadata, store, tools
  empty, ...); a value that would ask for something this server does not do is refused with 400 naming it.
- Any other field is refused (400 naming it): a typo must not silently change nothing.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..sampling import SamplingParams

MAX_STOP_STRINGS = 16
COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # OpenAI's default for /v1/completions; chat defaults to the context left
CHAT_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class ApiError(Exception):
    """An error reply in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _ERROR_TYPES.get(status, "server_error")

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


_ERROR_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
                413: "invalid_request_error", 429: "rate_limit_error"}


def bad(param: str, message: str) -> ApiError:
    return ApiError(400, f"{param}: {message}", param=param)


@dataclass(frozen=True)
class GenerationRequest:
    """One parsed /v1/completions or /v1/chat/completions request. Exactly one of prompt / messages is set."""

    model: str
    params: SamplingParams
    stream: bool
    include_usage: bool
    return_token_ids: bool = False
    prompt: str | list[int] | None = None
    messages: list[dict[str, str]] | None = None


# ------------------------------------------------------------------------------------------- value checks
def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return (isinstance(x, int | float) and not isinstance(x, bool)) and math.isfinite(x)


def _number(body: dict, key: str, default: float, lo: float, hi: float, *, lo_open: bool = False) -> float:
    value = body.get(key)
    if value is None:
        return default
    ok = _is_number(value) and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        left = "(" if lo_open else "["
        raise bad(key, f"must be a number in {left}{lo}, {hi}], got {value!r}")
    return float(value)


def _bool(body: dict, key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad(key, f"must be true or false, got {value!r}")
    return value


def _max_tokens(body: dict, key: str, max_seq_len: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not (_is_int(value) and value >= 1):
        raise bad(key, f"must be an integer >= 1, got {value!r}")
    if value > max_seq_len:
        raise bad(key, f"{value} is more than this server's context of {max_seq_len} tokens")
    return value


def _stop(body: dict) -> tuple[str, ...]:
    value = body.get("stop")
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not (isinstance(value, list) and len(value) <= MAX_STOP_STRINGS
            and all(isinstance(s, str) and s for s in value)):
        raise bad("stop", f"must be a non-empty string or a list of at most {MAX_STOP_STRINGS} of them")
    return tuple(value)


# Standard fields that are accepted when they ask for nothing: field -> test of a no-op value.
def _none_or(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or test(v)


_NO_OP_FIELDS: dict[str, Callable[[Any], bool]] = {
    "frequency_penalty": _none_or(lambda v: _is_number(v) and v == 0),
    "presence_penalty": _none_or(lambda v: _is_number(v) and v == 0),
    "logit_bias": _none_or(lambda v: v == {}),
    "user": _none_or(lambda v: isinstance(v, str)),
    "metadata": _none_or(lambda v: isinstance(v, dict)),
    "store": _none_or(lambda v: v is False),
    "service_tier": _none_or(lambda v: isinstance(v, str)),
    "parallel_tool_calls": _none_or(lambda v: isinstance(v, bool)),
    "tools": _none_or(lambda v: v == []),
    "tool_choice": _none_or(lambda v: v == "none"),
}
_COMPLETION_NO_OP = {
    "logprobs": _none_or(lambda v: v == 0),
    "echo": _none_or(lambda v: v is False),
    "best_of": _none_or(lambda v: v == 1 and _is_int(v)),
    "suffix": _none_or(lambda v: v == ""),
}
_CHAT_NO_OP = {
    "logprobs": _none_or(lambda v: v is False),
    "top_logprobs": _none_or(lambda v: v == 0 and _is_int(v)),
}
_READ_FIELDS = frozenset({
    "model", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "stop", "seed",
    "response_format", "top_k", "repetition_penalty", "ignore_eos", "structured_outputs", "return_token_ids",
})


def _check_fields(body: dict, own: set[str], no_op: dict[str, Callable[[Any], bool]]) -> None:
    for key in body:
        if key in _READ_FIELDS or key in own:
            continue
        test = no_op.get(key) or _NO_OP_FIELDS.get(key)
        if test is None:
            raise bad(key, "unknown field")
        if not test(body[key]):
            raise bad(key, f"{body[key]!r} is not supported by this server (only its no-op value is accepted)")


# ---------------------------------------------------------------------------------------- constraints
def _constraint(body: dict) -> dict[str, Any]:
    """SamplingParams keywords for response_format / structured_outputs (at most one constraint)."""
    found: dict[str, Any] = {}
    fmt = body.get("response_format")
    if fmt is not None:
        if not (isinstance(fmt, dict) and isinstance(fmt.get("type"), str)):
            raise bad("response_format", 'must be an object with a "type"')
        kind = fmt["type"]
        if kind == "json_object":
            found["json_schema"] = {"type": "object"}
        elif kind == "json_schema":
            spec = fmt.get("json_schema")
            if not (isinstance(spec, dict) and isinstance(spec.get("schema"), dict)):
                raise bad("response_format", 'json_schema needs {"name": ..., "schema": {...}}')
            found["json_schema"] = spec["schema"]
        elif kind != "text":
            raise bad("response_format", f'type {kind!r} is not one of "text", "json_object", "json_schema"')
    outputs = body.get("structured_outputs")
    if outputs is not None:
        if found:
            raise bad("structured_outputs", "give either response_format or structured_outputs, not both")
        found = _structured_outputs(outputs)
    return found


def _structured_outputs(outputs: Any) -> dict[str, Any]:
    keys = {"json", "regex", "choice", "grammar"}
    if not isinstance(outputs, dict) or len(outputs) != 1 or not set(outputs) <= keys:
        raise bad("structured_outputs", f"must be an object with exactly one of {', '.join(sorted(keys))}")
    (key, value), = outputs.items()
    if key == "json":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise bad("structured_outputs", "json is a string that is not JSON") from None
        if not isinstance(value, dict):
            raise bad("structured_outputs", "json must be a JSON schema object")
        return {"json_schema": value}
    if key == "choice":
        if not (isinstance(value, list) and value and all(isinstance(c, str) and c for c in value)):
            raise bad("structured_outputs", "choice must be a non-empty list of non-empty strings")
        return {"choices": tuple(value)}
    if not (isinstance(value, str) and value.strip()):
        raise bad("structured_outputs", f"{key} must be a non-empty string")
    return {key: value}


# ------------------------------------------------------------------------------------------------ parse
def _common(body: dict, *, max_tokens: int | None, default_max_tokens: int) -> dict[str, Any]:
    """GenerationRequest's fields shared by both endpoints: params, stream, include_usage, return_token_ids."""
    n = body.get("n")
    if n is not None and not (_is_int(n) and n == 1):
        raise bad("n", f"only n=1 is supported, got {n!r}")
    stream = _bool(body, "stream")
    return_token_ids = _bool(body, "return_token_ids")
    if return_token_ids and stream:
        raise bad("return_token_ids", "is only supported without stream")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not (isinstance(options, dict) and set(options) <= {"include_usage"}):
            raise bad("stream_options", 'must be {"include_usage": true|false}')
        include_usage = _bool(options, "include_usage")
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise bad("seed", f"must be an integer, got {seed!r}")
    top_k = body.get("top_k")
    if top_k is not None and not (_is_int(top_k) and top_k >= -1):
        raise bad("top_k", f"must be an integer >= -1 (-1 or 0 = off), got {top_k!r}")
    try:
        params = SamplingParams(
            temperature=_number(body, "temperature", 1.0, 0.0, 2.0),
            top_p=_number(body, "top_p", 1.0, 0.0, 1.0, lo_open=True),
            top_k=max(0, top_k or 0),
            repetition_penalty=_number(body, "repetition_penalty", 1.0, 0.0, 10.0, lo_open=True),
            seed=seed,
            max_tokens=max_tokens or default_max_tokens,
            stop=_stop(body),
            ignore_eos=_bool(body, "ignore_eos"),
            **_constraint(body),
        )
    except ValueError as exc:  # SamplingParams' own checks (each field was checked above: a combination)
        raise ApiError(400, str(exc)) from None
    return {"params": params, "stream": stream, "include_usage": include_usage, "return_token_ids": return_token_ids}


def _model(body: dict) -> str:
    model = body.get("model")
    if not (isinstance(model, str) and model):
        raise bad("model", "is required: a model name from /v1/models")
    return model


def parse_completion(body: Any, *, max_seq_len: int) -> GenerationRequest:
    """A /v1/completions body. The prompt is a string, a list of token ids, or a one-element list of either."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    _check_fields(body, {"prompt"}, _COMPLETION_NO_OP)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]
    if isinstance(prompt, list):
        if not prompt or not all(_is_int(t) for t in prompt):
            raise bad("prompt", "must be a string or a list of token ids (one prompt per request)")
    elif not (isinstance(prompt, str) and prompt):
        raise bad("prompt", "must be a non-empty string or a list of token ids (one prompt per request)")
    max_tokens = _max_tokens(body, "max_tokens", max_seq_len)
    common = _common(body, max_tokens=max_tokens, default_max_tokens=COMPLETIONS_DEFAULT_MAX_TOKENS)
    return GenerationRequest(model=_model(body), prompt=prompt, **common)


def parse_chat(body: Any, *, max_seq_len: int) -> GenerationRequest:
    """A /v1/chat/completions body. Messages: role system / developer (read as system) / user / assistant;
    content a string or a list of {"type": "text", "text": ...} parts."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    _check_fields(body, {"messages", "max_completion_tokens"}, _CHAT_NO_OP)
    messages = body.get("messages")
    if not (isinstance(messages, list) and messages):
        raise bad("messages", "must be a non-empty list of {role, content} objects")
    parsed = [_message(m, i) for i, m in enumerate(messages)]
    max_tokens = _max_tokens(body, "max_completion_tokens", max_seq_len)
    if max_tokens is None:
        max_tokens = _max_tokens(body, "max_tokens", max_seq_len)
    # No max_tokens: as much as the context holds (the engine ends the request when it is full).
    common = _common(body, max_tokens=max_tokens, default_max_tokens=max_seq_len)
    return GenerationRequest(model=_model(body), messages=parsed, **common)


def _message(message: Any, i: int) -> dict[str, str]:
    where = f"messages[{i}]"
    if not isinstance(message, dict):
        raise bad(where, "must be an object with role and content")
    unknown = set(message) - {"role", "content", "name"}
    if unknown:
        raise bad(where, f"unsupported keys {', '.join(sorted(unknown))} (text messages only)")
    role = CHAT_ROLES.get(message.get("role"))  # type: ignore[arg-type]
    if role is None:
        raise bad(where, f"role must be one of {', '.join(CHAT_ROLES)}, got {message.get('role')!r}")
    content = message.get("content")
    if isinstance(content, list):
        if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                   and set(p) == {"type", "text"} for p in content):
            raise bad(where, 'content parts must be {"type": "text", "text": "..."} (text only)')
        content = "".join(p["text"] for p in content)
    if not isinstance(content, str):
        raise bad(where, "content must be a string or a list of text parts")
    return {"role": role, "content": content}


# ---------------------------------------------------------------------------------------------- replies
FINISH_REASONS = {"stop": "stop", "length": "length"}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> dict[str, Any]:
    """OpenAI's usage object; prompt_tokens_details.cached_tokens = prompt tokens served by the prefix cache."""
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens}}


def completion_body(rid: str, model: str, *, chat: bool, text: str, finish_reason: str | None,
                    prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0,
                    token_ids: list[int] | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason, "logprobs": None}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    if token_ids is not None:
        choice["token_ids"] = token_ids
    return {"id": rid, "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": model, "choices": [choice], "usage": usage(prompt_tokens, completion_tokens, cached_tokens),
            "system_fingerprint": None}


def chunk_body(rid: str, model: str, created: int, *, chat: bool, text: str | None = None,
               finish_reason: str | None = None, role: bool = False,
               usage_counts: tuple[int, int, int] | None = None) -> dict[str, Any]:
    """One SSE chunk: a delta (text and / or the assistant role), a finish reason, or (no choices) the usage."""
    body: dict[str, Any] = {"id": rid, "object": "chat.completion.chunk" if chat else "text_completion",
                            "created": created, "model": model, "system_fingerprint": None}
    if usage_counts is not None:
        body["choices"] = []
        body["usage"] = usage(*usage_counts)
        return body
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish_reason, "logprobs": None}
    if chat:
        delta: dict[str, Any] = {}
        if role:
            delta["role"] = "assistant"
        if text is not None:
            delta["content"] = text
        choice["delta"] = delta
    else:
        choice["text"] = text or ""
    body["choices"] = [choice]
    return body
