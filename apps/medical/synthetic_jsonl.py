"""Read the evaluation sets: JSON Lines of synthetic rows, every bad row named by file and line."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def read_synthetic_rows(path: str | Path, parse: Callable[[dict], T]) -> list[T]:
    """`parse(row)` for every non-blank line; a row that is not JSON, not marked ``"synthetic": true`` or that
    `parse` rejects (KeyError, TypeError, ValueError) raises ValueError "<path>:<line>: <problem>"."""
    out = []
    with Path(path).open() as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict) or row.get("synthetic") is not True:
                    raise ValueError('every row must be marked "synthetic": true')
                out.append(parse(row))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{lineno}: {exc}") from exc
    return out
