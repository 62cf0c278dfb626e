"""Misspellings of clinical words, corrected one word at a time with rapidfuzz.

A word of the text is corrected to a word of the lexicon's vocabulary (``lexicon.vocabulary_words``) when
- it has at least ``MIN_LENGTH`` letters,
- it is neither a vocabulary word (or its plural) nor an English word near one (``english_guard.txt``):
  "strike" stays "strike", "fewer" stays "fewer", "drain" stays "drain",
- its optimal-string-alignment distance (an adjacent transposition is one edit) to the vocabulary word
  is at most 1, or 2 from ``LONG_WORD`` letters on, and
- it starts with the same letter, or with the first two letters swapped ("hcest").
Ties go to the higher rapidfuzz ratio, then alphabetical order, so the result is deterministic.

``english_guard.txt`` is every word (proper nouns lower-cased) of SCOWL's American English list (Debian's
wamerican, ``/usr/share/dict/words``) within the correction distance of a vocabulary word; rebuild it after
changing the vocabulary with ``python -m apps.medical.text.guard /usr/share/dict/words``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from apps.medical.text.lexicon import vocabulary_words

MIN_LENGTH = 5
LONG_WORD = 9
GUARD_PATH = Path(__file__).with_name("data") / "english_guard.txt"
_WORD = re.compile(r"(?<![a-z0-9/&'’])[a-z]+(?![a-z0-9/&])")


def max_edits(length: int) -> int:
    return 2 if length >= LONG_WORD else 1


@dataclass(frozen=True)
class Correction:
    start: int
    end: int
    written: str
    word: str
    score: float


@dataclass(frozen=True)
class _Vocabulary:
    known: frozenset[str]
    by_letter: dict[str, tuple[str, ...]]


def inflections(words: Iterable[str]) -> set[str]:
    out = set()
    for w in words:
        out.update((w, w + "s", w + "es"))
        if w.endswith("y"):
            out.add(w[:-1] + "ies")
    return out


@lru_cache(maxsize=1)
def _vocabulary() -> _Vocabulary:
    vocab = {w for w in vocabulary_words() if len(w) >= MIN_LENGTH}
    guard = {line.strip() for line in GUARD_PATH.read_text().splitlines() if line.strip()}
    by_letter: dict[str, list[str]] = {}
    for w in sorted(vocab):
        by_letter.setdefault(w[0], []).append(w)
    known = frozenset(inflections(vocabulary_words()) | guard)
    return _Vocabulary(known, {k: tuple(v) for k, v in by_letter.items()})


@lru_cache(maxsize=4096)
def correct(word: str) -> tuple[str, float] | None:
    """The vocabulary word `word` (lower case) is a misspelling of, with its similarity, or None."""
    if len(word) < MIN_LENGTH or not word.isalpha():
        return None
    vocab = _vocabulary()
    if word in vocab.known:
        return None
    limit = max_edits(len(word))
    candidates = list(vocab.by_letter.get(word[0], ()))
    if word[1] != word[0]:
        # first two letters swapped: "hcest" -> "chest"
        candidates += [w for w in vocab.by_letter.get(word[1], ()) if len(w) > 1 and w[1] == word[0]]
    found = process.extract(word, candidates, scorer=OSA.distance, score_cutoff=limit, limit=None)
    if not found:
        return None
    best = min(found, key=lambda f: (f[1], -fuzz.ratio(word, f[0]), f[0]))
    target, distance = best[0], best[1]
    return target, 1.0 - distance / max(len(word), len(target))


def corrections(lower: str, cased: str) -> list[Correction]:
    """The misspelled words of a text (`lower`: lower case; `cased`: the same text as written)."""
    out = []
    for m in _WORD.finditer(lower):
        start, end = m.span()
        if end - start < MIN_LENGTH:
            continue
        fixed = correct(m.group())
        if fixed is not None:
            out.append(Correction(start, end, cased[start:end], fixed[0], fixed[1]))
    return out
