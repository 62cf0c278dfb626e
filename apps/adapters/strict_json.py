"""Parse small untrusted JSON (adapter_config.json, a safetensors header): UTF-8 only, nesting at most
`max_depth` (checked before parsing, so a hostile file cannot drive the parser into deep recursion), no
duplicate keys, no NaN / Infinity. Each problem is a `JSONError` (a ValueError) saying what is wrong."""
from __future__ import annotations

import json
from typing import Any


class JSONError(ValueError):
    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


def depth_ok(text: str, max_depth: int) -> bool:
    """True if no object / array nests deeper than `max_depth`."""
    depth, in_string, escaped = 0, False, False
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
            raise JSONError(f"duplicate key {printable(key)!r}", key=printable(key))
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise JSONError(f"non-standard JSON constant {name}")


def loads(raw: bytes, *, max_depth: int) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise JSONError("not UTF-8 text") from None
    if not depth_ok(text, max_depth):
        raise JSONError(f"JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise JSONError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None


def printable(key: str, *, limit: int = 64) -> str:
    """A key as an error (or an audit event) shows it: at most `limit` characters, control characters escaped."""
    return key[:limit].encode("unicode_escape").decode("ascii") or '""'
