"""Fuzzy matching of misspelt clinical words: recall on realistic misspellings, no false matches on real
English words one edit away, short words never fuzzy-matched."""
from __future__ import annotations

from pathlib import Path

import pytest

from apps.medical.text import find_terms, fuzzy
from apps.medical.text.guard import build_guard

DATA = Path(fuzzy.__file__).with_name("data")


def _rows(name: str) -> list[tuple[str, str]]:
    rows = []
    for line in (DATA / name).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            text, phrase = line.split("\t")
            rows.append((text, phrase))
    return rows


MISSPELLINGS = _rows("fuzzy_misspellings.tsv")
FALSE_MATCHES = _rows("fuzzy_false_matches.tsv")


def test_the_word_lists_are_substantial():
    assert len(MISSPELLINGS) >= 80
    assert len(FALSE_MATCHES) >= 40


def test_recall_on_realistic_misspellings_is_at_least_95_percent():
    missed = [(t, p) for t, p in MISSPELLINGS if not find_terms(t, [p])]
    recall = 1 - len(missed) / len(MISSPELLINGS)
    assert recall >= 0.95, missed


def test_misspellings_are_found_only_through_fuzzy_matching():
    # the list really is misspelt: none of it matches literally or through the lexicon
    assert [(t, p) for t, p in MISSPELLINGS if find_terms(t, [p], fuzzy=False)] == []


def test_false_match_rate_on_real_english_words_is_zero():
    false = [(t, p, find_terms(t, [p])) for t, p in FALSE_MATCHES if find_terms(t, [p])]
    assert false == []


@pytest.mark.parametrize("text, phrase, surface", [
    ("chset pain since 6am", "chest pain", "chset pain"),
    ("slurred speach", "slurred speech", "slurred speach"),
    ("anaphalaxis after peanuts", "anaphylaxis", "anaphalaxis"),
    ("seizrue at home", "seizure", "seizrue"),
    ("diaphretic and grey", "diaphoretic", "diaphretic"),
])
def test_brief_examples_are_fuzzy_hits_with_their_similarity(text, phrase, surface):
    (h,) = find_terms(text, [phrase])
    assert (h.surface, h.how) == (surface, "fuzzy")
    assert 0.7 <= h.score < 1.0
    assert text[h.start:h.end] == h.surface
    assert find_terms(text, [phrase], fuzzy=False) == []


def test_a_fuzzy_hit_goes_through_the_lexicon_and_context_too():
    (h,) = find_terms("denies dyspnoae", ["shortness of breath"])
    assert (h.surface, h.how, h.negated) == ("dyspnoae", "fuzzy", True)
    (h,) = find_terms("anaphylatic reaction to bee sting", ["anaphylaxis"])
    assert h.surface == "anaphylatic reaction" and h.how == "fuzzy"


@pytest.mark.parametrize("text, phrase", [("chest pian", "chest pain"), ("feve and cough", "fever"),
                                          ("itchy rahs", "rash"), ("had a fix", "fit"), ("stay wound", "stab wound"),
                                          ("paid relief", "pain relief")])
def test_short_words_are_never_fuzzy_matched(text, phrase):
    assert find_terms(text, [phrase]) == []
    short = [w for w in text.split() if len(w) < fuzzy.MIN_LENGTH]
    assert short and all(fuzzy.correct(w) is None for w in short)


@pytest.mark.parametrize("word", ["strike", "fewer", "trash", "drain", "couch", "chess", "stuck", "rental",
                                  "spain", "radiation", "indigestion", "stroked"])
def test_english_words_near_clinical_words_are_left_alone(word):
    assert fuzzy.correct(word) is None


def test_vocabulary_words_and_their_plurals_are_not_corrected():
    for word in ("seizure", "seizures", "stroke", "strokes", "fever", "fevers", "afebrile", "presyncope"):
        assert fuzzy.correct(word) is None, word


def test_first_letter_rule_and_swapped_first_letters():
    assert fuzzy.correct("hcest") == ("chest", pytest.approx(0.8))  # a transposition is one edit
    assert fuzzy.correct("xhest") is None  # a different first letter is not a misspelling we correct


def test_long_words_allow_two_edits_short_ones_one():
    assert fuzzy.correct("chemotheraphy")[0] == "chemotherapy"
    assert fuzzy.correct("respitory")[0] == "respiratory"  # 9 letters, two edits
    assert fuzzy.correct("stroek")[0] == "stroke"
    assert fuzzy.correct("sttroek") is None  # 7 letters, two edits: too far


def test_corrections_keep_offsets_and_are_deterministic():
    text = "Pt has Seizrue and vomitting"
    got = fuzzy.corrections(text.lower(), text)
    assert [(c.written, c.word) for c in got] == [("Seizrue", "seizure"), ("vomitting", "vomiting")]
    assert all(text[c.start:c.end] == c.written for c in got)
    assert got == fuzzy.corrections(text.lower(), text)


def test_build_guard_keeps_english_neighbours_of_clinical_words():
    guard = build_guard(["strike", "Spain", "fewer", "banana", "seizures", "fever", "it's", "hi"])
    assert guard == ["fewer", "spain", "strike"]


def test_shipped_guard_is_current_with_the_vocabulary():
    words = Path("/usr/share/dict/words")
    if not words.exists():
        pytest.skip("no /usr/share/dict/words (Debian package wamerican) to rebuild the guard from")
    shipped = fuzzy.GUARD_PATH.read_text().split()
    assert build_guard(words.read_text(encoding="utf-8", errors="ignore").splitlines()) == shipped
