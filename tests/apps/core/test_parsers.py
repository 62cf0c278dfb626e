"""The one JSON reader (apps/core/parsers.py): what it accepts, and where it says the problem is."""
from __future__ import annotations

import pytest

from apps.core.parsers import MAX_DEPTH, MAX_INT, JSONInputError, field_name, json_loads


def refused(content, *, max_bytes: int = 10_000_000) -> JSONInputError:
    with pytest.raises(JSONInputError) as info:
        json_loads(content, max_bytes=max_bytes)
    return info.value


def test_depth_limit_counts_only_real_brackets():
    assert json_loads(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, max_bytes=1000)
    assert "32 levels" in refused(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)).message
    assert "32 levels" in refused(b'{"a": ' * 100_000).message  # unterminated: no RecursionError either
    brackets_in_text = '{"a": "' + "[{" * 500 + '\\"[["}'
    assert json_loads(brackets_in_text, max_bytes=10_000) == {"a": "[{" * 500 + '"[['}


@pytest.mark.parametrize("content,field", [
    (b'{"notes": "a\\u0000b"}', "notes"),
    (b'{"notes": "\\ud800"}', "notes"),
    (b'{"\\udfff": 1}', "non_field_errors"),
    (b'{"periods": [{"fiscal_year": 2020}, {"revenue": "\\ud83d"}]}', "periods[1].revenue"),
    (b'{"periods": [{"a\\u0000": 1}]}', "periods[0]"),
    (b'{"x": [' + b"9" * 5000 + b"]}", "x[0]"),
    (b'{"x": 9223372036854775808}', "x"),
    (b'{"x": -9223372036854775808}', "x"),
    (b'{"x": 1e400}', "x"),
    (b'{"x": -1e400}', "x"),
    (b'{"x": NaN}', "x"),
    (b'{"x": Infinity}', "x"),
])
def test_refusals_name_the_path_without_echoing_the_value(content, field):
    exc = refused(content)
    assert exc.status == 400 and exc.field == field, (exc.field, exc.message)
    exc.message.encode("utf-8")  # never an unencodable echo
    assert "\x00" not in exc.message and "999999" not in exc.message


def test_accepted_values_keep_their_types():
    data = json_loads('{"a": 9223372036854775807, "b": -9223372036854775807, "c": 1.5e300, "d": "\U0001F600"}',
                      max_bytes=1000)
    assert data == {"a": MAX_INT, "b": -MAX_INT, "c": 1.5e300, "d": "\U0001F600"}
    assert json_loads('"\\ud83d\\ude00"', max_bytes=100) == "\U0001F600"  # a surrogate pair is one character


def test_encoding_size_and_syntax():
    assert "not UTF-8" in refused(b'{"a": "\xff"}').message
    assert "not UTF-8" in refused('{"a": 1}'.encode("utf-16")).message
    too_big = refused(b" " * 101, max_bytes=100)
    assert too_big.status == 413 and "100 bytes" in too_big.message
    assert "not valid JSON" in refused(b"{\"a\": 1").message


def test_field_name():
    assert field_name(()) == "non_field_errors"
    assert field_name(("periods", 2, "revenue")) == "periods[2].revenue"
    assert field_name((0, "a")) == "[0].a"
