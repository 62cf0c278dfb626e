"""Fact references: report prose in which the model cannot write a number.

A grounded section is generated under a grammar (xgrammar EBNF, built per section from the facts its prompt
holds) whose text characters are letters, spaces and punctuation only: no digit, no currency sign, no "%".
Every figure is a reference to an allowed fact, `{{gross_margin.2024}}`, and every fiscal year a reference to
a year of the facts, `{{FY2024}}`; `render` replaces each with the fact's display value ("41.2%", "210.0m",
"14.2x") or the year ("FY2024"). So a number in the model's prose is a computed fact by construction; what an
analyst types later is still checked by apps.finance.grounding.
"""
from __future__ import annotations

import json
import re

# What the model may write between references: letters (Latin, with accents), space, newline and prose
# punctuation. An allow-list: digits, "%", currency signs, "{" and "}" outside a reference cannot be sampled.
TEXT_CHARS = r"""[a-zA-Z\u00C0-\u024F \n.,;:'"()!?/&\-\u2013\u2014\u2019]"""

_REFERENCE = re.compile(r"\{\{([A-Za-z0-9_.]+)\}\}")
_YEAR = re.compile(r"FY(\d{4})")


def year_key(year: int) -> str:
    return f"FY{year}"


def reference_keys(facts, fact_keys: list[str]) -> list[str]:
    """The keys a section may reference: its facts (with a value) and the fiscal years of the facts."""
    keys = [k for k in fact_keys if (f := facts.get(k)) is not None and f.value is not None]
    return keys + [year_key(y) for y in facts.years()]


def reference_grammar(keys: list[str]) -> str:
    """EBNF (xgrammar) of prose whose only figures are `{{key}}` references to `keys`: non-empty runs of text
    characters and references, in any order.

    Written unambiguously with `text` as a run (`[...]+`), not as `piece+` over single characters (the same
    language): xgrammar precomputes the token masks of a character-class run, so a step's mask costs
    microseconds; with one character per `piece`, nearly every token of the vocabulary spans several pieces
    and was checked at run time (up to ~75 ms of CPU per token and row, measured with xgrammar 0.2.9)."""
    lines = [
        "root ::= text (reference text?)* | (reference text?)+" if keys else "root ::= text",
        f"text ::= {TEXT_CHARS}+",
    ]
    if keys:
        lines.append('reference ::= "{{" key "}}"')
        lines.append("key ::= " + " | ".join(json.dumps(k) for k in keys))
    return "\n".join(lines) + "\n"


def _value(key: str, facts) -> str | None:
    year = _YEAR.fullmatch(key)
    if year:
        return key if int(year.group(1)) in facts.years() else None
    fact = facts.get(key)
    return fact.display if fact is not None and fact.value is not None else None


def render(text: str, facts, *, partial: bool = False) -> str:
    """`text` with every reference replaced by its value. A reference to no known fact (never generated under
    the grammar; possible in text from elsewhere) is left as written, so grounding or a reader sees it.
    partial: the text is still being written; an unfinished reference at its end is left out."""
    out = _REFERENCE.sub(lambda m: _value(m.group(1), facts) or m.group(0), text)
    if partial:
        cut = out.rfind("{{")
        if cut != -1 and "}}" not in out[cut:]:
            out = out[:cut]
    return out
