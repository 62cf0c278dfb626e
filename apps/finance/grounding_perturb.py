"""Meaning-preserving perturbations of grounding eval paragraphs, to measure how robust the checker is to the way
people write the same numbers (apps.finance.grounding_eval; the finance counterpart of apps.medical.perturb).

Each kind rewrites a paragraph the way analysts' prose varies: shorthand ("rev.", "op. margin", "y/y", FY'24),
keyboard slips in words, British / American spelling, spaces between a number and its unit or in its thousands, dashes and
minus signs. The planted numbers are rewritten the same way (a planted "$1,210.0m" becomes "$1 210.0m" where the
text's does), so every planted error is still planted and a correct paragraph is still correct. The tables were
written from how people write, not from what the checker reads. Pure Python, deterministic for a seed.

    perturb_row(row, "abbreviate", seed=0)   # -> the row rewritten, or None when the kind changes nothing
"""
from __future__ import annotations

import random
import re

from apps.medical.perturb import _typo

KINDS: tuple[str, ...] = ("abbreviate", "misspell", "spelling", "spacing", "dashes", "combined")

_ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    (r"\brevenue\b", "rev."), (r"\boperating margin\b", "op. margin"), (r"\bnet income\b", "NI"),
    (r"\bgross margin\b", "GM"), (r"\bearnings per share\b", "EPS"), (r"\bfree cash flow\b", "FCF"),
    (r"\byear[- ]on[- ]year\b", "y/y"), (r"\binterest cover\b", "int. cover"),
    (r"\bnet debt to EBITDA\b", "ND/EBITDA"), (r"\bcapital expenditure\b", "capex"),
    (r"\bFY ?20(\d\d)\b", r"FY'\1"), (r"\bfiscal 20(\d\d)\b", r"FY'\1"), (r"\bmillion\b", "m"),
    (r"\bbillion\b", "bn"), (r"\bapproximately\b", "c."), (r"\bcompared with\b", "vs"),
)
# British and American spellings of the same words: each paragraph takes the other one
_SPELLINGS: tuple[tuple[str, str], ...] = (
    ("normalise", "normalize"), ("stabilise", "stabilize"), ("capitalisation", "capitalization"),
    ("amortisation", "amortization"), ("organisation", "organization"), ("recognise", "recognize"),
    ("annualised", "annualized"), ("favourable", "favorable"), ("modelled", "modeled"), ("modelling", "modeling"),
    ("analyse", "analyze"), ("centre", "center"), ("programme", "program"), ("labour", "labor"),
    ("utilisation", "utilization"), ("rationalise", "rationalize"), ("optimise", "optimize"))
# a number's unit or scale after it, and a thousands comma
_UNIT_AFTER = re.compile(r"(?<=\d)(?=(?:%|bn\b|m\b|x\b|pp\b|bps\b))")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPACES = ("\u00a0", "\u2009", "\u202f", " ")


def _rewrite(row: dict, fn) -> dict | None:
    """`row` with fn applied to its text and to each planted number; None if nothing changed or a planted number
    is no longer in the text."""
    text = fn(row["text"])
    if text == row["text"]:
        return None
    errors = [{**e, "number": fn(e["number"])} for e in row["errors"]]
    if any(e["number"] not in text for e in errors):
        return None
    return {**row, "text": text, "errors": errors}


def _table(pairs, flags=re.IGNORECASE):
    """Each pattern replaced, a capital kept at the start of what it replaces ("Operating margin" -> "Op. margin")."""
    def apply(text: str) -> str:
        for pattern, repl in pairs:
            def sub(m: re.Match, repl=repl) -> str:
                out = m.expand(repl)
                return out[0].upper() + out[1:] if m.group()[0].isupper() and out[0].islower() else out
            text = re.sub(pattern, sub, text, flags=flags)
        return text
    return apply


def _misspell(text: str, rng: random.Random) -> str:
    protected = [m.span() for m in re.finditer(r"\S*\d\S*", text)]
    words = [m for m in re.finditer(r"[A-Za-z]{6,}", text)
             if not m.group().isupper() and not any(a <= m.start() < b for a, b in protected)]
    if not words:
        return text
    for m in sorted(rng.sample(words, min(len(words), 2)), key=lambda m: -m.start()):
        typo = _typo(m.group(), rng)
        if typo is not None:
            text = text[:m.start()] + typo + text[m.end():]
    return text


def _spacing(rng: random.Random):
    space, thousands = rng.choice(_SPACES), rng.choice(_SPACES[:3])

    def apply(text: str) -> str:
        return _THOUSANDS.sub(thousands, _UNIT_AFTER.sub(space, text))
    return apply


def _dashes(text: str) -> str:
    text = re.sub(r"(?<=\d)-(?=\d)", "\u2013", text)  # 2020-2024
    text = re.sub(r" - ", " \u2013 ", text)
    return re.sub(r"(?<![\w.])-(?=[$\d])", "\u2212", text)  # -3.2% with a minus sign


def perturb_row(row: dict, kind: str, *, seed: int) -> dict | None:
    rng = random.Random(f"{seed}:{row['id']}:{kind}")
    if kind == "abbreviate":
        return _rewrite(row, _table(_ABBREVIATIONS))
    if kind == "spelling":
        pairs = [(rf"\b{b}", a) for a, b in _SPELLINGS] if re.search(
            "|".join(b for _, b in _SPELLINGS), row["text"], re.I) else [(rf"\b{a}", b) for a, b in _SPELLINGS]
        return _rewrite(row, _table(pairs))
    if kind == "spacing":
        return _rewrite(row, _spacing(rng))
    if kind == "dashes":
        return _rewrite(row, _dashes)
    if kind == "misspell":
        text = _misspell(row["text"], rng)
        if text == row["text"] or any(e["number"] not in text for e in row["errors"]):
            return None
        return {**row, "text": text}
    if kind == "combined":
        out = row
        for step in ("abbreviate", "spacing", "misspell"):
            out = perturb_row(out, step, seed=seed) or out
        return out if out is not row else None
    raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(KINDS)}")


def perturbed_set(rows: list[dict], kind: str, *, seed: int = 0) -> list[dict]:
    """The rows a kind changes, rewritten (with the kind in "perturbation")."""
    out = []
    for row in rows:
        changed = perturb_row(row, kind, seed=seed)
        if changed is not None:
            out.append({**changed, "perturbation": f"{row.get('perturbation') or '-'} + {kind}"})
    return out
