"""Finding canonical clinical phrases in free text, with their ConText assertions.

The text is read once (and cached):
1. lower-cased, keeping every offset;
2. misspelled words corrected (fuzzy.py), when fuzzy matching is on;
3. abbreviations, synonyms and spelling variants replaced by their canonical phrase (lexicon.py), giving
   the *expanded* text: "Pt c/o CP, denies SOB" -> "patient complains of chest pain, denies shortness of breath";
4. ConText scopes computed on the expanded text (context.py), where a trigger word inside a replaced term
   has disappeared ("not able to find his words" is "aphasia", not a negation).
A phrase is then searched in the expanded text (the phrase itself expanded the same way, so asking for
"fainted" finds "passed out" and "syncope"), in the broader terms of lexicon entries (melaena is a
gastrointestinal bleed), and literally inside replaced surfaces ("heart" in "heart attack"). Every hit maps
back to the offsets of the original text. The last word of a phrase also matches its plural ("seizures").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from apps.medical.text import fuzzy as fuzzy_mod
from apps.medical.text import lexicon
from apps.medical.text.context import Scope, assertions_for, find_scopes

How = Literal["exact", "lexicon", "fuzzy"]


@dataclass(frozen=True)
class TermHit:
    phrase: str
    start: int
    end: int
    surface: str
    how: How
    score: float
    negated: bool = False
    uncertain: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False

    @property
    def affirmed(self) -> bool:
        """Present in this patient now. Uncertain stays affirmed: "possible stroke" counts as stroke."""
        return not (self.negated or self.historical or self.hypothetical or self.family)


@dataclass(frozen=True)
class _Segment:
    """A stretch of the expanded text that replaced [orig_start, orig_end) of the original."""

    start: int
    end: int
    orig_start: int
    orig_end: int
    kind: Literal["lexicon", "fuzzy"]
    score: float
    entry: lexicon.Entry | None
    corrected: str  # the surface after spelling correction (lower case)


@dataclass(frozen=True)
class _Analysis:
    lower: str
    expanded: str
    orig_start: tuple[int, ...]  # expanded index -> original offset of that character's start
    orig_end: tuple[int, ...]    # expanded index -> original offset just after that character
    segments: tuple[_Segment, ...]
    scopes: tuple[Scope, ...]


def _same_length_lower(text: str) -> str:
    low = text.lower()
    if len(low) != len(text):  # a few characters lower-case to two ("İ"): keep those as written
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    return low.replace("’", "'")


@lru_cache(maxsize=4096)
def _analyse(text: str, fuzzy: bool) -> _Analysis:
    lower = _same_length_lower(text)
    cased = text.replace("’", "'")
    fixes = fuzzy_mod.corrections(lower, cased) if fuzzy else []

    # 2. corrected text (lower and as-written case), with corrected index -> original offsets
    low_parts, cased_parts, c_start, c_end = [], [], [], []
    fixed_spans = []  # (start, end, score) in corrected coordinates
    pos = 0
    for f in fixes:
        low_parts.append(lower[pos:f.start])
        cased_parts.append(cased[pos:f.start])
        c_start.extend(range(pos, f.start))
        c_end.extend(range(pos + 1, f.start + 1))
        here = len(c_start)
        low_parts.append(f.word)
        cased_parts.append(f.word)
        c_start.extend([f.start] * len(f.word))
        c_end.extend([f.end] * len(f.word))
        fixed_spans.append((here, here + len(f.word), f.score))
        pos = f.end
    low_parts.append(lower[pos:])
    cased_parts.append(cased[pos:])
    c_start.extend(range(pos, len(text)))
    c_end.extend(range(pos + 1, len(text) + 1))
    corrected, corrected_cased = "".join(low_parts), "".join(cased_parts)

    # 3. expanded text: lexicon surfaces replaced by their canonical phrase
    parts, e_start, e_end, c_to_e = [], [], [], [0] * len(corrected)
    segments = []
    length = 0
    pos = 0
    used_fixes = set()
    for m in lexicon.scan(corrected, corrected_cased):
        parts.append(corrected[pos:m.start])
        for j in range(pos, m.start):
            c_to_e[j] = length + (j - pos)
        e_start.extend(c_start[pos:m.start])
        e_end.extend(c_end[pos:m.start])
        length += m.start - pos
        canonical = m.entry.canonical
        inside = [i for i, (fs, fe, _) in enumerate(fixed_spans) if m.start <= fs and fe <= m.end]
        used_fixes.update(inside)
        scores = [fixed_spans[i][2] for i in inside]
        segments.append(_Segment(length, length + len(canonical), c_start[m.start], c_end[m.end - 1],
                                 "fuzzy" if scores else "lexicon", min(scores, default=1.0), m.entry,
                                 corrected[m.start:m.end]))
        parts.append(canonical)
        e_start.extend([c_start[m.start]] * len(canonical))
        e_end.extend([c_end[m.end - 1]] * len(canonical))
        length += len(canonical)
        pos = m.end
    parts.append(corrected[pos:])
    for j in range(pos, len(corrected)):
        c_to_e[j] = length + (j - pos)
    e_start.extend(c_start[pos:])
    e_end.extend(c_end[pos:])
    expanded = "".join(parts)
    for i, (fs, fe, score) in enumerate(fixed_spans):
        if i not in used_fixes:
            segments.append(_Segment(c_to_e[fs], c_to_e[fe - 1] + 1, c_start[fs], c_end[fe - 1], "fuzzy", score,
                                     None, corrected[fs:fe]))
    segments.sort(key=lambda s: s.start)
    return _Analysis(lower, expanded, tuple(e_start), tuple(e_end), tuple(segments), find_scopes(expanded))


def _phrase_regex(phrase: str) -> re.Pattern:
    words = [w for w in re.split(r"[\s\-]+", phrase) if w]
    body = r"[\s\-]+".join(re.escape(w) for w in words)
    if words and words[-1].isalpha() and len(words[-1]) >= 3:
        body += "(?:s|es)?"
    return re.compile(r"(?<![a-z0-9])" + body + r"(?![a-z0-9])")


@dataclass(frozen=True)
class _Phrase:
    raw: re.Pattern
    expanded: re.Pattern


@lru_cache(maxsize=4096)
def _phrase(phrase: str) -> _Phrase:
    low = _same_length_lower(phrase.strip())
    if not low:
        raise ValueError("empty phrase")
    parts, pos = [], 0
    for m in lexicon.scan(low, low):
        parts += [low[pos:m.start], m.entry.canonical]
        pos = m.end
    parts.append(low[pos:])
    return _Phrase(_phrase_regex(low), _phrase_regex("".join(parts)))


def _overlapping(a: _Analysis, start: int, end: int) -> list[_Segment]:
    return [s for s in a.segments if s.start < end and start < s.end]


def _hit(a: _Analysis, text: str, phrase: str, p: _Phrase, es: int, ee: int,
         orig: tuple[int, int] | None = None) -> TermHit:
    """A hit at expanded [es, ee); `orig` overrides the original span (a literal match inside a surface)."""
    start, end = orig if orig else (a.orig_start[es], a.orig_end[ee - 1])
    segs = [] if orig else _overlapping(a, es, ee)
    fuzzy_scores = [s.score for s in segs if s.kind == "fuzzy"]
    if fuzzy_scores:
        how, score = "fuzzy", min(fuzzy_scores)
    elif p.raw.fullmatch(a.lower, start, end):
        how, score = "exact", 1.0
    else:
        how, score = "lexicon", 1.0
    flags = assertions_for(a.scopes, es, ee)
    return TermHit(phrase, start, end, text[start:end], how, score, flags.negated, flags.uncertain,
                   flags.historical, flags.hypothetical, flags.family)


def find_terms(text: str, phrases, *, fuzzy: bool = True) -> list[TermHit]:
    """Every hit of every phrase in `text`, in text order (overlapping hits of different phrases included)."""
    if isinstance(phrases, str):
        raise TypeError("phrases must be a collection of phrases, not one string")
    if not text:
        return []
    a = _analyse(text, fuzzy)
    hits: dict[tuple[str, int, int], TermHit] = {}
    order = {}
    for phrase in phrases:
        if phrase in order:
            continue
        order[phrase] = len(order)
        p = _phrase(phrase)
        covered = []
        for m in p.expanded.finditer(a.expanded):
            h = _hit(a, text, phrase, p, m.start(), m.end())
            hits.setdefault((phrase, h.start, h.end), h)
            covered.append((m.start(), m.end()))
        for seg in a.segments:
            if seg.entry is None or any(s < seg.end and seg.start < e for s, e in covered):
                continue
            if any(p.expanded.search(b) for b in seg.entry.broader):
                h = _hit(a, text, phrase, p, seg.start, seg.end)
                hits.setdefault((phrase, h.start, h.end), h)
            elif not seg.entry.shadows:
                literal = list(p.raw.finditer(a.lower, seg.orig_start, seg.orig_end))
                for m in literal:
                    h = _hit(a, text, phrase, p, seg.start, seg.end, orig=m.span())
                    hits.setdefault((phrase, h.start, h.end), h)
                if not literal and seg.kind == "fuzzy" and p.raw.search(seg.corrected):
                    # a misspelt word inside a replaced surface ("anaphylatic reaction" -> "anaphylactic")
                    h = _hit(a, text, phrase, p, seg.start, seg.end)
                    hits.setdefault((phrase, h.start, h.end), h)
    return sorted(hits.values(), key=lambda h: (h.start, h.end, order[h.phrase]))


def first_affirmed(text: str, phrases, *, fuzzy: bool = True) -> TermHit | None:
    """The first hit (in text order) that is affirmed, or None."""
    return next((h for h in find_terms(text, phrases, fuzzy=fuzzy) if h.affirmed), None)


def canonical_terms() -> frozenset[str]:
    """Every canonical phrase the lexicon can produce."""
    return lexicon.canonical_terms()
