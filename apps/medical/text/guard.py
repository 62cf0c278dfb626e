"""Rebuild data/english_guard.txt: the English words the fuzzy matcher must leave alone.

    apt-get install wamerican   # SCOWL's American English word list, /usr/share/dict/words
    python -m apps.medical.text.guard /usr/share/dict/words

Run it after changing the lexicon's vocabulary (lexicon.ENTRIES, lexicon.CLINICAL_WORDS) and commit the file.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from pathlib import Path

from rapidfuzz import process
from rapidfuzz.distance import OSA

from apps.medical.text.fuzzy import GUARD_PATH, MIN_LENGTH, inflections, max_edits
from apps.medical.text.lexicon import vocabulary_words


def build_guard(dictionary: Iterable[str]) -> list[str]:
    """Dictionary words (letters only, lower-cased: proper nouns too, "trip to Spain" is not a sprain) that
    the corrector would otherwise take for a misspelling of a vocabulary word: within its edit limit, the
    first-letter rule ignored (stricter than the corrector)."""
    vocab = sorted({w for w in vocabulary_words() if len(w) >= MIN_LENGTH})
    exempt = inflections(vocabulary_words())
    words = sorted({w.strip().lower() for w in dictionary if re.fullmatch(r"[A-Za-z]+", w.strip())})
    guard = []
    for w in words:
        if len(w) < MIN_LENGTH or w in exempt:
            continue
        if process.extractOne(w, vocab, scorer=OSA.distance, score_cutoff=max_edits(len(w))) is not None:
            guard.append(w)
    return guard


def main(argv: list[str]) -> None:
    source = Path(argv[1] if len(argv) > 1 else "/usr/share/dict/words")
    lines = build_guard(source.read_text(encoding="utf-8", errors="ignore").splitlines())
    GUARD_PATH.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} words -> {GUARD_PATH}")


if __name__ == "__main__":
    main(sys.argv)
