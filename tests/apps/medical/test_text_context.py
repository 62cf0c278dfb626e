"""ConText (Harkema 2009) on triage text: each trigger category before and after the term, pseudo-triggers,
terminations, lists, and the examples of the brief."""
from __future__ import annotations

import pytest

from apps.medical.text import find_terms, first_affirmed
from apps.medical.text.context import Assertions, assertions, find_scopes, find_triggers

FLAGS = ("negated", "uncertain", "historical", "hypothetical", "family")


def flags(text: str, phrase: str, index: int = 0) -> set[str]:
    got = find_terms(text, [phrase])
    assert len(got) > index, (text, phrase, got)
    return {f for f in FLAGS if getattr(got[index], f)}


def affirmed(text: str, phrase: str) -> bool:
    return first_affirmed(text, [phrase]) is not None


# --- the examples in the brief ---
def test_a_trigger_word_inside_a_term_is_part_of_the_term():
    h = find_terms("not able to find his words since 10am", ["aphasia"])[0]
    assert h.affirmed and not h.negated
    h = find_terms("no pulse, CPR started", ["no pulse"])[0]  # a rule phrase that starts with "no"
    assert h.affirmed


def test_negative_pregnancy_test_negates_pregnancy():
    assert flags("negative pregnancy test", "pregnancy") == {"negated"}
    assert flags("pregnancy test negative", "pregnancy") == {"negated"}
    assert flags("positive pregnancy test", "pregnancy") == set()


def test_negation_after_the_term():
    assert flags("ACS ruled out by two negative troponins", "acute coronary syndrome") == {"negated"}


def test_history_family_hypothetical_uncertain_examples():
    assert flags("h/o MI 2015", "myocardial infarction") == {"historical"}
    assert flags("mother had a stroke", "stroke") == {"family"}
    assert flags("return if chest pain develops", "chest pain") == {"hypothetical"}
    for text, phrase in (("possible stroke", "stroke"), ("?ACS", "acute coronary syndrome"),
                         ("r/o PE", "pulmonary embolism")):
        assert flags(text, phrase) == {"uncertain"}, text
        assert affirmed(text, phrase), "uncertain stays affirmed: possible stroke counts as stroke"


def test_lists_and_termination():
    for phrase in ("chest pain", "shortness of breath", "headache"):
        assert flags("denies CP, SOB or HA", phrase) == {"negated"}
    assert flags("No CP but has SOB", "chest pain") == {"negated"}
    assert flags("No CP but has SOB", "shortness of breath") == set()


# --- each category, before and after the term ---
@pytest.mark.parametrize("text, phrase, category", [
    # negation
    ("denies chest pain", "chest pain", "negated"),
    ("no fever", "fever", "negated"),
    ("without vomiting", "vomiting", "negated"),
    ("negative for syncope", "syncope", "negated"),
    ("never had a seizure", "seizure", "negated"),
    ("no evidence of stroke", "stroke", "negated"),
    ("chest pain ruled out", "chest pain", "negated"),
    ("troponin was negative", "troponin", "negated"),
    ("headache has resolved", "headache", "negated"),
    ("pain free", "pain", "negated"),
    ("pulmonary embolism unlikely", "pulmonary embolism", "negated"),
    ("fracture not seen", "fracture", "negated"),
    # uncertainty
    ("possible pneumonia", "pneumonia", "uncertain"),
    ("concern for sepsis", "sepsis", "uncertain"),
    ("rule out appendicitis", "appendicitis", "uncertain"),
    ("stroke cannot be excluded", "stroke", "uncertain"),
    ("ACS not ruled out", "acute coronary syndrome", "uncertain"),
    ("appendicitis?", "appendicitis", "uncertain"),
    ("appendicitis vs colitis", "colitis", "uncertain"),
    # historical
    ("history of seizures", "seizure", "historical"),
    ("PMH: HTN, DM", "hypertension", "historical"),
    ("s/p CABG", "cabg", "historical"),
    ("previous stroke", "stroke", "historical"),
    ("stroke in 2019", "stroke", "historical"),
    ("seizure 3 years ago", "seizure", "historical"),
    # hypothetical
    ("return if chest pain", "chest pain", "hypothetical"),
    ("should he develop a fever", "fever", "hypothetical"),
    ("return precautions for worsening headache", "headache", "hypothetical"),
    ("paracetamol for headache as needed", "headache", "hypothetical"),
    ("at risk for stroke", "stroke", "hypothetical"),
    # family / other experiencer
    ("mother had an MI at 50", "myocardial infarction", "family"),
    ("family history of stroke", "stroke", "family"),
    ("FHx: DM", "diabetes mellitus", "family"),
    ("stroke in his father", "stroke", "family"),
    ("brother with seizures", "seizure", "family"),
])
def test_each_category_marks_its_term(text, phrase, category):
    assert category in flags(text, phrase)
    if category != "uncertain":
        assert not affirmed(text, phrase)


@pytest.mark.parametrize("text, phrase", [
    ("chest pain", "chest pain"),
    ("chest pain; no fever", "chest pain"),           # a pre-trigger does not reach back
    ("fever. Troponin negative", "fever"),            # a post-trigger does not cross a sentence
    ("seizure today, h/o migraine", "seizure"),
    ("chest pain, mother had a stroke", "chest pain"),
    ("fever; return if worse", "fever"),
    ("45 year old with chest pain", "chest pain"),    # "old" in an age is not historical
    ("seized twice prior to arrival", "seizure"),     # "prior to arrival" is today
    ("chest pain started at 2015 today", "chest pain"),  # a clock time is not a year
    ("HIV negative, fever and cough", "fever"),       # a bare "negative" stops at the comma
])
def test_terms_outside_a_scope_stay_affirmed(text, phrase):
    assert flags(text, phrase) == set(), text


# --- pseudo-triggers: trigger words that are not triggers ---
@pytest.mark.parametrize("text, phrase", [
    ("no increase in pain", "pain"),
    ("no change in headache", "headache"),
    ("not only chest pain but also SOB", "chest pain"),
    ("gram negative sepsis", "sepsis"),
    ("walks without difficulty, weakness in L leg", "weakness"),
    ("no further workup needed before chest pain protocol", "chest pain"),
    ("not certain if she had a seizure", "seizure"),
    ("chest pain not relieved by nitro", "chest pain"),
    ("no improvement in shortness of breath", "shortness of breath"),
])
def test_pseudo_triggers_do_not_negate(text, phrase):
    assert "negated" not in flags(text, phrase)
    assert affirmed(text, phrase)


def test_not_ruled_out_is_uncertain_not_negated():
    assert flags("MI has not been ruled out", "myocardial infarction") == {"uncertain"}


@pytest.mark.parametrize("text", [
    "mother states he had a seizure",
    "brought in by mom after a seizure",
    "per wife, he had a seizure",
    "wife found him after a seizure",
    "mom at bedside reports a seizure",
    "lives with his father, seizure this morning",
])
def test_a_relative_who_reports_is_not_the_experiencer(text):
    assert "family" not in flags(text, "seizure")


def test_history_of_present_illness_is_not_historical():
    assert flags("History of present illness: chest pain since 6am", "chest pain") == set()
    assert flags("HPI: chest pain since 6am", "chest pain") == set()


def test_asking_rather_than_supposing_is_not_hypothetical():
    assert flags("unsure if he lost consciousness", "loss of consciousness") == {"uncertain"}


# --- terminations ---
@pytest.mark.parametrize("joint", [
    "but", "however", "although", "though", "except", "aside from", "apart from", "which", "secondary to",
    "presents with", "complains of", "c/o", "reports", "now", ".", ";", "\n", ":", "has", "positive for",
])
def test_termination_ends_a_negation_scope(joint):
    text = f"denies fever {joint} chest pain"
    assert flags(text, "fever") == {"negated"}
    assert "negated" not in flags(text, "chest pain"), repr(joint)


@pytest.mark.parametrize("joint", ["but", "which", ";", ".", "presents with"])
def test_termination_ends_a_backward_scope(joint):
    text = f"chest pain {joint} ACS ruled out"
    assert flags(text, "acute coronary syndrome") == {"negated"}
    assert flags(text, "chest pain") == set(), repr(joint)


def test_patient_ends_a_family_members_scope_and_sentence_ends_history():
    assert flags("his mother had a stroke and he has chest pain", "chest pain") == set()
    text = "PMH: HTN, DM, h/o seizures. Presents with chest pain."
    assert flags(text, "seizure") == {"historical"}
    assert flags(text, "chest pain") == set()


def test_a_plus_sign_marks_a_finding_present():
    assert flags("no fever or chills, +CP", "chest pain") == set()
    assert flags("no fever or chills, +CP", "fever") == {"negated"}


def test_colon_after_a_trigger_introduces_its_list():
    assert flags("Denies: CP, SOB", "shortness of breath") == {"negated"}
    assert flags("ROS: chest pain", "chest pain") == set()


def test_decimal_points_and_clock_times_do_not_end_a_sentence():
    assert flags("denies fever 38.5 or chills", "chills") == {"negated"}
    assert flags("no fever at 14:30 or chills", "chills") == {"negated"}


def test_free_and_bare_negative_reach_only_a_few_words():
    assert flags("pain free, headache", "headache") == set()
    assert flags("chest pain, abdominal pain free", "chest pain") == set()
    assert flags("negative pregnancy test, abdominal pain", "abdominal pain") == set()


def test_several_assertions_on_one_term():
    assert flags("no history of seizures", "seizure") == {"negated", "historical"}
    assert flags("family history of MI", "myocardial infarction") == {"family"}


# --- the module on its own ---
def test_assertions_on_raw_text():
    text = "Patient denies chest pain. Possible pneumonia."
    i = text.index("chest pain")
    assert assertions(text, i, i + 10) == Assertions(negated=True)
    j = text.index("pneumonia")
    assert assertions(text, j, j + 9) == Assertions(uncertain=True)


def test_triggers_and_scopes():
    text = "no increase in pain, denies fever"
    cats = [(r.category, text[s:e]) for r, s, e in find_triggers(text)]
    assert cats == [("negated", "denies")]
    (scope,) = find_scopes(text)
    assert text[scope.start:scope.end].strip() == "fever"


def test_a_relatives_belongings_and_w_slash_are_not_family_history():
    from apps.medical.text import find_terms

    assert not find_terms("found w/ grandma's pill organiser open", ["pill organiser"])[0].family
    assert not find_terms("got into grandma's pills", ["pills"])[0].family
    assert find_terms("grandma had a stroke", ["stroke"])[0].family
