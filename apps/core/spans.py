"""Text cut at marked spans, for pages that highlight what a check found (report grounding, draft findings)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def cut_at_spans(text: str, spans: Iterable[tuple[int, int, T]]) -> list[tuple[str, T | None]]:
    """[(piece, mark or None)] covering `text` in order. Spans outside the text or empty are ignored; of
    overlapping spans the first (earliest start, then longest) wins. Empty pieces are left out."""
    ordered = sorted(((s, e, m) for s, e, m in spans if 0 <= s < e <= len(text)), key=lambda x: (x[0], -x[1]))
    out: list[tuple[str, T | None]] = []
    pos = 0
    for start, end, mark in ordered:
        if start < pos:
            continue
        if start > pos:
            out.append((text[pos:start], None))
        out.append((text[start:end], mark))
        pos = end
    if pos < len(text):
        out.append((text[pos:], None))
    return out
