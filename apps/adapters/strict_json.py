"""Parse small untrusted JSON (adapter_config.json, a safetensors header) with the platform's one JSON reader
(apps.core.parsers.json_loads: UTF-8 only, nesting at most `max_depth` checked before parsing, no duplicate keys,
no NaN / Infinity, no NUL or unpaired surrogate, 64-bit integers); each problem is a `JSONError` (a ValueError)
saying what is wrong and, where it is one, naming the key."""
from __future__ import annotations

from typing import Any

from apps.core.parsers import JSONInputError, json_loads, printable

__all__ = ["JSONError", "loads", "printable"]


class JSONError(ValueError):
    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


def loads(raw: bytes, *, max_depth: int) -> Any:
    try:
        return json_loads(raw, max_bytes=len(raw), max_depth=max_depth)
    except JSONInputError as exc:
        key = exc.key or (str(exc.path[0]) if exc.path else None)
        raise JSONError(exc.message, key=key) from None
