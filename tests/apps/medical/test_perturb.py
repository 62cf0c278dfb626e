"""Perturbations change the wording of a triage case, never its facts."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import replace

import pytest

from apps.medical.clinical import TriageCase, Vitals, case_errors
from apps.medical.perturb import (
    ABBREVIATIONS,
    DISTRACTORS,
    KINDS,
    NEGATION_WORDS,
    PROTECTED_PHRASES,
    SYNONYM_GROUPS,
    TEXT_FIELDS,
    content_words,
    negated_distractors,
    perturb,
    perturbations,
    table_sizes,
)
from apps.medical.triage_eval import load_vignettes, vignette_path

CASE = TriageCase(
    age=54, sex="male",
    chief_complaint="Chest pain, sweaty, no fever",
    vitals=Vitals(heart_rate=92, systolic_bp=150, diastolic_bp=90, respiratory_rate=18, spo2=97,
                  temperature_c=37.1, pain_score=0, consciousness="alert"),
    history="History of hypertension and diabetes. Patient had a heart attack in 2019.",
    notes="Complains of shortness of breath with nausea and vomiting. Onset 2 hours ago. Denies headache.",
    expected_resources=2,
)
# Nothing to abbreviate, misspell (no word of 6+ letters), swap or reorder.
PLAIN = TriageCase(age=30, sex="female", chief_complaint="Cut hand", notes="Deep cut to palm.")
SEEDS = range(25)


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())


def text_of(case: TriageCase) -> str:
    return "\n".join(getattr(case, f) for f in TEXT_FIELDS)


def negations(case: TriageCase) -> Counter:
    return Counter(w for w in words(text_of(case)) if w in NEGATION_WORDS)


def numbers(case: TriageCase) -> Counter:
    return Counter(re.findall(r"\d+(?:\.\d+)?", text_of(case)))


def facts(case: TriageCase) -> tuple:
    return case.age, case.sex, case.vitals, case.expected_resources


# --- every kind ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_changes_the_text_and_nothing_else(kind):
    for seed in SEEDS:
        out = perturb(CASE, kind, seed=seed)
        assert out is not None and out != CASE
        assert text_of(out) != text_of(CASE)
        assert facts(out) == facts(CASE)
        assert numbers(out) == numbers(CASE)
        assert case_errors(out) == {}


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("negated_distractor", "case", "combined")])
def test_kind_with_nothing_to_change_returns_none(kind):
    for seed in SEEDS:
        assert perturb(PLAIN, kind, seed=seed) is None


def test_case_kind_returns_none_without_letters_or_spaces():
    assert perturb(TriageCase(age=40, sex="male", chief_complaint="?"), "case", seed=0) is None


def test_negated_distractor_and_combined_return_none_when_every_denial_would_contradict():
    # a case that mentions every term of every distractor
    terms = " ".join(t for d in DISTRACTORS for t in (*d.terms, *content_words(d.sentence)))
    case = TriageCase(age=40, sex="male", chief_complaint="Unwell", notes=terms)
    assert negated_distractors(case) == []
    assert perturb(case, "negated_distractor", seed=0) is None
    # history abbreviated already, nothing to misspell in the complaint or notes: combined has nothing
    history = perturb(replace(case, history=terms), "abbreviate", seed=0).history
    bare = TriageCase(age=40, sex="male", chief_complaint="Fall", history=history)
    assert perturb(bare, "abbreviate", seed=0) is None and perturb(bare, "misspell", seed=0) is None
    assert perturb(bare, "combined", seed=0) is None


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_for_a_seed_and_varies_across_seeds(kind):
    assert perturb(CASE, kind, seed=7) == perturb(CASE, kind, seed=7)
    if kind not in ("abbreviate", "reorder"):   # these two have one outcome here
        assert len({text_of(perturb(CASE, kind, seed=s)) for s in SEEDS}) > 1


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown perturbation kind 'shout'"):
        perturb(CASE, "shout", seed=0)


def test_perturbations_lists_every_kind_that_applies():
    assert [k for k, _ in perturbations(CASE, seed=3)] == list(KINDS)
    assert [k for k, _ in perturbations(PLAIN, seed=3)] == ["negated_distractor", "case", "combined"]
    assert dict(perturbations(CASE, seed=3))["synonym"] == perturb(CASE, "synonym", seed=3)


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("negated_distractor", "combined")])
def test_negation_words_are_kept(kind):
    for seed in SEEDS:
        assert negations(perturb(CASE, kind, seed=seed)) == negations(CASE)


@pytest.mark.parametrize("kind", ["negated_distractor", "combined"])
def test_distractor_adds_exactly_one_negation(kind):
    for seed in SEEDS:
        out = perturb(CASE, kind, seed=seed)
        added = negations(out) - negations(CASE)
        assert sum(added.values()) == 1 and not negations(CASE) - negations(out)


# --- abbreviate ---------------------------------------------------------------------------------

def test_abbreviate_uses_ed_shorthand():
    out = perturb(CASE, "abbreviate", seed=0)
    assert out.chief_complaint == "CP, sweaty, no fever"
    assert out.history == "H/o HTN and DM. Pt had a heart attack in 2019."
    assert out.notes == "C/o SOB w/ N/V. Onset 2 hrs ago. Denies HA."


def test_abbreviate_matches_whole_words_only():
    case = TriageCase(age=20, sex="male", chief_complaint="Outpatient without withdrawal symptoms")
    out = perturb(case, "abbreviate", seed=0)
    assert out.chief_complaint == "Outpatient without withdrawal sx"


def test_abbreviation_table_is_one_concept_per_entry():
    assert table_sizes()["abbreviations"] >= 40
    shorthand = [a.lower() for a, _ in ABBREVIATIONS]
    assert len(shorthand) == len(set(shorthand)), "two concepts share a shorthand (e.g. HR and hr)"
    phrases = [p for _, ps in ABBREVIATIONS for p in ps]
    assert len(phrases) == len(set(phrases))
    for phrase in phrases:
        assert not set(words(phrase)) & NEGATION_WORDS, phrase
        assert not re.search(r"\d", phrase), phrase


@pytest.mark.parametrize("phrase, expected", [
    ("chest pain", "CP"), ("shortness of breath", "SOB"), ("headache", "HA"), ("abdominal", "abd"),
    ("history of", "h/o"), ("with", "w/"), ("complains of", "c/o"), ("nausea and vomiting", "N/V"),
    ("loss of consciousness", "LOC"), ("altered mental status", "AMS"), ("suicidal ideation", "SI"),
    ("motor vehicle collision", "MVC"), ("years old", "y/o"), ("patient", "pt"),
    ("diabetes insipidus", "DI"), ("heart rate", "HR"), ("hours", "hrs"),
])
def test_abbreviations(phrase, expected):
    out = perturb(TriageCase(age=50, sex="female", chief_complaint=f"x {phrase} x"), "abbreviate", seed=0)
    assert out.chief_complaint == f"x {expected} x"


@pytest.mark.parametrize("phrase", ["nausea", "vomiting", "chest", "breath", "fever", "hour", "no known"])
def test_no_abbreviation_for_part_of_a_concept(phrase):
    # "nausea" alone is not N/V; "hour" must not become "hr" (heart rate)
    assert perturb(TriageCase(age=50, sex="female", chief_complaint=f"x {phrase} x"), "abbreviate", seed=0) is None


# --- misspell -----------------------------------------------------------------------------------

def one_slip(a: str, b: str) -> bool:
    """b is a with two adjacent letters swapped, one letter dropped or one letter doubled."""
    if len(b) == len(a):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    if len(b) == len(a) - 1:
        return any(a[:i] + a[i + 1:] == b for i in range(len(a)))
    if len(b) == len(a) + 1:
        return any(b[:i] + b[i + 1:] == a and b[i] == b[i - 1] for i in range(1, len(b)))
    return False


def test_misspell_makes_one_or_two_realistic_typos_in_long_words():
    counts = Counter()
    for seed in range(60):
        out = perturb(CASE, "misspell", seed=seed)
        assert out.history == CASE.history
        changed = []
        for field in ("chief_complaint", "notes"):
            before, after = getattr(CASE, field).split(" "), getattr(out, field).split(" ")
            assert len(before) == len(after)
            changed += [(a, b) for a, b in zip(before, after, strict=True) if a != b]
        counts[len(changed)] += 1
        for a, b in changed:
            core = a.strip(".,")
            assert len(core) >= 6 and core.isalpha() and core.lower() not in NEGATION_WORDS
            assert b[0] == a[0] and one_slip(a, b), (a, b)
    assert set(counts) == {1, 2}


def test_misspell_spares_negations_numbers_and_short_words():
    case = TriageCase(age=30, sex="male", chief_complaint="Denies without negative",
                      notes="Took 20mg x 3 at 10pm. Cannot walk. Nothing else. Fell on arm. ECGABNORMAL")
    assert perturb(case, "misspell", seed=0) is None


# --- synonym ------------------------------------------------------------------------------------

def test_synonym_table_is_large_and_each_phrase_has_one_meaning():
    assert table_sizes()["synonym_pairs"] >= 40
    phrases = [p.lower() for g in SYNONYM_GROUPS for p in g] + [p.lower() for p in PROTECTED_PHRASES]
    assert len(phrases) == len(set(phrases))
    for phrase in phrases:
        assert not set(words(phrase)) & NEGATION_WORDS and not re.search(r"\d", phrase), phrase


# Different symptoms or conditions: never in one group, never in one abbreviation.
DIFFERENT = [
    ("dizziness", "vertigo"), ("chest pain", "heartburn"), ("fever", "chills"), ("syncope", "seizures"),
    ("fainted", "had a seizure"), ("nausea", "vomiting"), ("headache", "migraine"), ("numbness", "weakness"),
    ("confusion", "drowsiness"), ("confused", "drowsy"), ("short of breath", "wheezing"),
    ("palpitations", "chest pain"), ("stroke", "transient ischaemic attack"), ("bruise", "fracture"),
    ("heart attack", "heart failure"), ("hypotension", "hypertension"), ("unconscious", "unresponsive"),
    ("tingling", "numbness"), ("hypoglycaemia", "hyperglycaemia"), ("bradycardia", "tachycardia"),
]


@pytest.mark.parametrize("a, b", DIFFERENT)
def test_different_symptoms_are_never_mapped_onto_each_other(a, b):
    for group in SYNONYM_GROUPS:
        assert not (a in group and b in group), group
    for abbr, phrases in ABBREVIATIONS:
        assert not (a in phrases and b in phrases), abbr
    for seed in range(10):
        out = perturb(TriageCase(age=50, sex="male", chief_complaint=a), "synonym", seed=seed)
        assert out is None or b not in out.chief_complaint.lower()


@pytest.mark.parametrize("lay, clinical", [
    ("heart attack", "myocardial infarction"), ("passed out", "fainted"), ("syncope", "fainting episode"),
    ("fits", "seizures"), ("short of breath", "breathless"), ("throwing up", "vomiting"),
    ("tummy pain", "abdominal pain"), ("nosebleed", "epistaxis"), ("high blood pressure", "hypertension"),
])
def test_synonyms_go_both_ways(lay, clinical):
    def reachable(phrase):
        case = TriageCase(age=50, sex="male", chief_complaint=f"had {phrase} today")
        return {perturb(case, "synonym", seed=s).chief_complaint for s in range(30)}
    assert f"had {clinical} today" in reachable(lay)
    assert f"had {lay} today" in reachable(clinical)


def test_synonym_keeps_case_and_leaves_protected_phrases():
    case = TriageCase(age=8, sex="female", chief_complaint="Fever. SCARLET FEVER last year; hay fever")
    for seed in range(10):
        out = perturb(case, "synonym", seed=seed).chief_complaint
        assert out.startswith("Pyrexia. SCARLET FEVER last year; ")
        assert out.endswith("allergic rhinitis")


# --- negated distractor -------------------------------------------------------------------------

def added_sentence(before: TriageCase, after: TriageCase) -> str:
    assert before.notes.endswith(".") and after.notes.startswith(before.notes + " ")
    return after.notes[len(before.notes) + 1:]


def test_distractor_is_appended_and_names_nothing_in_the_case():
    for seed in SEEDS:
        out = perturb(CASE, "negated_distractor", seed=seed)
        sentence = added_sentence(CASE, out)
        assert sentence in {d.sentence for d in DISTRACTORS}
        assert out.chief_complaint == CASE.chief_complaint and out.history == CASE.history
        assert not set(content_words(sentence)) & set(words(text_of(CASE))), sentence


def test_distractor_never_denies_a_mentioned_symptom():
    case = replace(CASE, history="Rash on arms since Monday. Recent travel to Spain. Cough for a week.")
    for seed in range(60):
        sentence = added_sentence(case, perturb(case, "negated_distractor", seed=seed))
        assert not re.search(r"rash|travel|cough|headache|fever|vomiting|chest", sentence, re.IGNORECASE)


def test_distractor_respects_vitals():
    febrile_in_pain = replace(CASE, chief_complaint="Fall", history="", notes="Found on floor.",
                              vitals=Vitals(temperature_c=38.4, pain_score=6, heart_rate=120,
                                            respiratory_rate=28, spo2=91, consciousness="pain"))
    options = negated_distractors(febrile_in_pain)
    assert options, "some denials must still fit"
    for sentence in options:
        assert not re.search(r"fever|sweats|pain|sore|headache|breath|palpitation|weakness|visual|denies",
                             sentence, re.IGNORECASE), sentence
    assert "No fever." in negated_distractors(replace(febrile_in_pain, vitals=Vitals(temperature_c=37.9)))


def test_distractor_needs_a_patient_able_to_report_for_denies():
    infant = TriageCase(age=1, sex="male", chief_complaint="Fall")
    assert all(not s.startswith("Denies") for s in negated_distractors(infant))
    assert any(s.startswith("Denies") for s in negated_distractors(replace(infant, age=30)))


# --- reorder ------------------------------------------------------------------------------------

def test_reorder_shuffles_sentences_and_clauses_keeping_them_intact():
    case = replace(CASE, chief_complaint="Cough, vomiting, sweaty, no fever, rash",
                   notes="Fell at home. Hit head on table. Denies headache, neck pain. It bled a lot.")
    outs = {perturb(case, "reorder", seed=s) for s in SEEDS}
    assert len(outs) > 2
    for out in outs:
        head, tail = out.chief_complaint.split(", no fever")
        assert tail == ", rash"   # the negation and what may be in its scope stay at the end
        assert sorted(c.lower() for c in head.split(", ")) == ["cough", "sweaty", "vomiting"]
        blocks = ["Fell at home.", "Hit head on table.", "Denies headache, neck pain. It bled a lot."]
        assert all(b in out.notes for b in blocks) and len(out.notes) == len(case.notes)


def test_reorder_keeps_qualifiers_with_what_precedes_them():
    case = TriageCase(age=60, sex="male", chief_complaint="Chest pain, radiating to left arm, sweaty")
    out = perturb(case, "reorder", seed=0)
    assert out is not None and out != case
    assert "chest pain, radiating to left arm" in out.chief_complaint.lower()


# --- case ---------------------------------------------------------------------------------------

def test_case_changes_capitals_and_spacing_only():
    modes = set()
    for seed in SEEDS:
        out = perturb(CASE, "case", seed=seed)
        for f in TEXT_FIELDS:
            assert " ".join(getattr(out, f).lower().split()) == " ".join(getattr(CASE, f).lower().split())
        modes.add("upper" if out.notes.isupper() else "lower" if out.notes.islower() else "mixed")
        assert "  " in out.notes
    assert modes == {"upper", "lower"}


# --- combined -----------------------------------------------------------------------------------

def test_combined_abbreviates_misspells_and_adds_a_denial():
    abbreviated = perturb(CASE, "abbreviate", seed=0)
    for seed in SEEDS:
        out = perturb(CASE, "combined", seed=seed)
        assert out.history == abbreviated.history          # misspell and denial leave history alone
        assert "SOB" in out.notes and out.notes != abbreviated.notes
        assert out.notes.split(". ")[-1] in {d.sentence for d in DISTRACTORS}


def test_tables_report_their_sizes():
    sizes = table_sizes()
    assert sizes["abbreviations"] == len(ABBREVIATIONS) >= 40
    assert sizes["synonym_groups"] == len(SYNONYM_GROUPS) and sizes["synonym_pairs"] >= 40
    assert sizes["distractors"] == len(DISTRACTORS)


# --- the held-out vignettes ---------------------------------------------------------------------

def test_heldout_vignettes_round_trip(tmp_path):
    vignettes = load_vignettes(vignette_path("heldout"))
    assert vignettes
    rows, applied = [], Counter()
    for v in vignettes:
        for seed in (0, 1):
            for kind, case in perturbations(v.case, seed=seed):
                applied[kind] += 1
                assert case_errors(case) == {}, (v.id, kind)
                assert facts(case) == facts(v.case)
                assert numbers(case) == numbers(v.case), (v.id, kind)
                if kind not in ("negated_distractor", "combined"):
                    assert negations(case) == negations(v.case), (v.id, kind)
                rows.append({"id": f"{v.id}:{kind}:{seed}", "esi": v.esi, "synthetic": True,
                             **case.to_dict()})
    assert applied["case"] == applied["negated_distractor"] == 2 * len(vignettes)
    path = tmp_path / "perturbed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_vignettes(path)
    assert [v.case for v in loaded] == [TriageCase.from_dict({k: r[k] for k in TriageCase.__dataclass_fields__})
                                        for r in rows]
