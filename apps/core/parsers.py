"""One JSON reader for everything a client sends: API request bodies (StrictJSONParser, DRF's only JSON parser)
and JSON files that importers read (`json_loads`).

What it accepts is an allow-list: UTF-8 text, at most MAX_DEPTH nested arrays/objects, strings and keys without
NUL bytes or unpaired surrogates (PostgreSQL cannot store the one, UTF-8 cannot encode the other), integers that
fit in 64 bits and finite floats. Anything else is a 400 naming the field path (`periods[2].revenue`), whose message
never repeats the offending text (so the answer itself can always be encoded)."""
from __future__ import annotations

import json
import math
import re

from django.conf import settings
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from apps.core.exceptions import ApplicationError

MAX_DEPTH = 32
MAX_INT = 2**63 - 1  # what a PostgreSQL bigint holds; ids, counts and money amounts all fit
ROOT = "non_field_errors"
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class JSONInputError(ApplicationError):
    """The JSON was refused. `path` is where: a tuple of keys and list positions, () for the whole document."""

    def __init__(self, message: str, *, path: tuple = (), status: int = 400, key: str | None = None):
        self.path = path
        self.key = key  # a refused key itself (escaped), when the problem is the key; `path` is its object
        super().__init__(message, status=status, field=field_name(path), code="parse_error")


def field_name(path: tuple) -> str:
    """("periods", 2, "revenue") -> "periods[2].revenue"; () -> "non_field_errors"."""
    if not path:
        return ROOT
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Refused:
    """A number the parse hooks could not accept; the walk below reports it with its path."""

    def __init__(self, reason: str):
        self.reason = reason


def _parse_int(text: str):
    digits = len(text.lstrip("-"))
    if digits > len(str(MAX_INT)) or abs(int(text)) > MAX_INT:
        return _Refused(f"an integer of {digits} digits is out of range (at most {MAX_INT} in magnitude)")
    return int(text)


def _parse_float(text: str):
    value = float(text)
    return value if math.isfinite(value) else _Refused("a number out of range (it is not finite as a float)")


def _parse_constant(name: str):
    return _Refused(f"{name} is not a number JSON allows")


def _check_depth(text: str, max_depth: int) -> None:
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > max_depth:
            raise JSONInputError(f"nested deeper than {max_depth} levels of arrays and objects")


def printable(key: str, *, limit: int = 64) -> str:
    """A key as an error (or an audit event) shows it: at most `limit` characters, control characters and
    unpaired surrogates escaped, so the message can always be encoded."""
    return key[:limit].encode("unicode_escape").decode("ascii") or '""'


def _no_duplicates(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise JSONInputError(f"duplicate key {printable(key)!r}", key=printable(key))
        out[key] = value
    return out


def _problem(text: str) -> str | None:
    bad = _UNSTORABLE.search(text)
    if bad is None:
        return None
    return "contains a NUL byte" if bad.group() == "\x00" else "contains an unpaired surrogate (not valid Unicode)"


def _check(value, path: tuple) -> None:
    if isinstance(value, _Refused):
        raise JSONInputError(value.reason, path=path)
    if isinstance(value, str):
        if problem := _problem(value):
            raise JSONInputError(f"the text {problem}", path=path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if problem := _problem(key):
                raise JSONInputError(f"a key {problem}", path=path, key=printable(key))
            _check(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, (*path, i))


def json_loads(content: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH):
    """The decoded JSON document, checked as the module docstring says (and no key twice in one object);
    JSONInputError otherwise."""
    if len(content) > max_bytes:
        raise JSONInputError(f"the JSON is too large: more than {max_bytes} bytes", status=413)
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONInputError(f"not UTF-8 text (invalid byte at position {exc.start})") from None
    _check_depth(content, max_depth)
    try:
        data = json.loads(content, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant,
                          object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:  # its message says where, never what
        raise JSONInputError(f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:  # cannot happen below MAX_DEPTH; kept so that it can never be a server error
        raise JSONInputError(f"nested deeper than {max_depth} levels of arrays and objects") from None
    _check(data, ())
    return data


def max_body_bytes() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440


class StrictJSONParser(BaseParser):
    """DRF's JSON parser for every API view (REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]): `json_loads` on the body,
    bodies over DATA_UPLOAD_MAX_MEMORY_SIZE refused with a 413. JSON is UTF-8 (RFC 8259): a charset is ignored."""

    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_bytes()
        return json_loads(stream.read(limit + 1), max_bytes=limit)
