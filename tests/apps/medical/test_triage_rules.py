"""ESI decision points as rules, and combine(): rules raise urgency, never lower it."""
from __future__ import annotations

import itertools

import pytest

from apps.medical.clinical import TriageCase, Vitals
from apps.medical.triage_rules import (
    HIGH_RISK,
    RULES,
    RuleResult,
    combine,
    estimate_resources,
    rule_results,
    rules_triage,
)

NORMAL = Vitals(heart_rate=80, systolic_bp=125, diastolic_bp=80, respiratory_rate=16, spo2=98,
                temperature_c=36.9, pain_score=2, consciousness="alert")


def case(complaint="ankle injury", age=40, resources=None, history="", notes="", **vitals):
    v = Vitals(**{**NORMAL.to_dict(), **vitals})
    return TriageCase(age=age, sex="female", chief_complaint=complaint, vitals=v, history=history,
                      notes=notes, expected_resources=resources)


# --- A: immediate life-saving intervention ---
@pytest.mark.parametrize("kwargs, needle", [
    ({"consciousness": "unresponsive"}, "unresponsive"),
    ({"consciousness": "pain"}, "unresponsive"),
    ({"spo2": 89}, "SpO2 89%"),
    ({"respiratory_rate": 6}, "RR 6"),
    ({"respiratory_rate": 42}, "RR 42"),
    ({"systolic_bp": 72, "diastolic_bp": 40, "heart_rate": 130}, "shock"),
    ({"systolic_bp": 84, "diastolic_bp": 52, "heart_rate": 112}, "shock"),     # SBP 74-84 with tachycardia
    ({"systolic_bp": 76, "diastolic_bp": 40, "heart_rate": 32}, "unstable"),  # brady + hypotension
    ({"heart_rate": 190, "systolic_bp": 82, "diastolic_bp": 50}, "unstable tachycardia"),
    ({"heart_rate": 28}, "unstable bradycardia"),
])
def test_lifesaving_vitals_give_esi_1(kwargs, needle):
    r = rules_triage(case(**kwargs))
    assert (r.level, r.rule) == (1, "A_lifesaving")
    assert needle in r.reason


@pytest.mark.parametrize("complaint", ["cardiac arrest", "found not breathing", "anaphylaxis after peanuts",
                                       "actively seizing for 10 minutes", "found unresponsive on the floor",
                                       "anaphalaxis to shellfish"])
def test_lifesaving_complaints_give_esi_1(complaint):
    # "found unresponsive" with the AVPU field left empty is still ESI 1
    assert rules_triage(case(complaint, consciousness=None)).rule == "A_lifesaving"


def test_stable_svt_is_esi_2_as_in_the_handbook():
    r = rules_triage(case("palpitations", heart_rate=184))
    assert (r.level, r.rule) == (2, "B_danger_vitals")


def test_lifesaving_boundaries_are_exact():
    assert rules_triage(case(spo2=90)).level != 1          # SpO2 < 90, not <= 90
    assert rules_triage(case(respiratory_rate=9)).level != 1
    assert rules_triage(case(respiratory_rate=39)).level != 1
    # low-normal blood pressure without a shock sign is not decision point A
    assert rules_triage(case(systolic_bp=88, diastolic_bp=55, heart_rate=70)).level != 1
    # a child's RR of 45 is not the adult's "RR >= 40" emergency
    assert rules_triage(case("cough", age=1, respiratory_rate=45)).level != 1


# --- B: high risk, confusion, severe pain ---
@pytest.mark.parametrize("complaint, history, age", [
    ("chest pain radiating to left arm", "", 58),
    ("sudden facial droop and slurred speech", "", 70),
    ("suicidal thoughts", "", 24),
    ("worst headache of my life", "", 45),
    ("vomiting blood", "", 60),
    ("fever", "on chemotherapy for breast cancer", 52),
    ("abdominal pain", "pregnant 7 weeks", 29),
    ("testicular pain since this morning", "", 15),
    ("rollover car crash", "", 33),
    # shorthand, synonyms and misspellings a clinician writes
    ("CP radiating to L arm", "", 61), ("c/o chset pain x 2h", "", 55), ("heart attack symptoms", "", 66),
    ("slurred speach since 10am", "", 72), ("SI w/ plan", "", 30), ("ped struck by car", "", 40),
    ("fever", "on chemo for AML", 44), ("not able to find his words since lunch", "", 68),
    ("ripping back pain radiating to abdomen", "", 70), ("worst HA of life", "", 38),
])
def test_high_risk_situations_give_esi_2(complaint, history, age):
    r = rules_triage(case(complaint, age=age, history=history, resources=2, temperature_c=38.4))
    assert (r.level, r.rule) == (2, "B_high_risk"), r


def test_high_risk_is_a_data_table():
    assert len(HIGH_RISK) >= 20
    assert all(p.phrases and p.reason for p in HIGH_RISK)


def test_negated_historical_or_out_of_context_complaints_do_not_fire():
    assert rules_triage(case("cough, denies chest pain", resources=2)).rule != "B_high_risk"
    assert rules_triage(case("chest pain", age=19, resources=2)).rule != "B_high_risk"  # ACS: age >= 30
    assert rules_triage(case("fever", history="no chemotherapy", resources=2)).rule != "B_high_risk"
    assert rules_triage(case("abdominal pain", resources=2)).rule == "D_resources"  # not pregnant
    assert rules_triage(case("abd pain", notes="negative pregnancy test", resources=2)).rule == "D_resources"
    assert rules_triage(case("medication refill", notes="h/o MI 2015", resources=0)).level == 5
    assert rules_triage(case("sore throat", notes="mother had a stroke last year", resources=0)).level == 5
    assert rules_triage(case("ankle injury", notes="ACS ruled out last week", resources=1)).level == 4


@pytest.mark.parametrize("vitals, complaint", [
    ({"consciousness": "new_confusion"}, "fall at home"),
    ({"consciousness": "voice"}, "fall at home"),
    ({}, "confused since yesterday"),
])
def test_new_confusion_gives_esi_2(vitals, complaint):
    r = rules_triage(case(complaint, resources=2, **vitals))
    assert (r.level, r.rule) == (2, "B_confusion")


def test_severe_pain_needs_a_qualifying_complaint():
    r = rules_triage(case("right flank pain", pain_score=9, resources=2))
    assert (r.level, r.rule) == (2, "B_severe_pain")
    assert rules_triage(case("right flank pain", pain_score=6, resources=2)).level == 3
    # a sprained ankle at 8/10 is not ESI 2 (the handbook's own example)
    assert rules_triage(case("ankle sprain", pain_score=8, resources=1)).level == 4


# --- danger-zone vitals: checked for every patient, whatever the complaint ---
@pytest.mark.parametrize("age, vitals", [
    (40, {"heart_rate": 101}),
    (40, {"respiratory_rate": 21}),
    (40, {"spo2": 91}),
    (6, {"heart_rate": 141}),
    (6, {"respiratory_rate": 31}),
    (1, {"heart_rate": 161}),
    (1, {"respiratory_rate": 41}),
])
def test_danger_zone_vitals_raise_3_to_2(age, vitals):
    assert rules_triage(case("abdominal pain", age=age)).level == 3  # same case, normal vitals
    r = rules_triage(case("abdominal pain", age=age, **vitals))
    assert (r.level, r.rule) == (2, "B_danger_vitals"), r


@pytest.mark.parametrize("age, vitals", [
    (40, {"heart_rate": 100}), (40, {"respiratory_rate": 20}), (40, {"spo2": 92}),
    (6, {"heart_rate": 140}), (1, {"heart_rate": 160}), (6, {"heart_rate": 120}),
])
def test_danger_zone_thresholds_are_strict(age, vitals):
    assert rules_triage(case("abdominal pain", age=age, **vitals)).level == 3


def test_a_low_acuity_complaint_never_hides_danger():
    assert rules_triage(case("laceration to finger", heart_rate=124)).level == 2
    # a feverish 5-year-old with a purpuric rash and HR 150 (was ESI 5 through "rash")
    r = rules_triage(case("rash", age=5, heart_rate=150, temperature_c=39.2, notes="purpuric spots on legs"))
    assert r.level == 2
    assert {x.rule for x in rule_results(case("rash", age=5, heart_rate=150, temperature_c=39.2,
                                             notes="purpuric spots on legs"))} >= {"B_danger_vitals", "B_high_risk"}
    # "back pain" must not decide before "ripping" is read
    assert rules_triage(case("ripping back pain", age=68)).level == 2


@pytest.mark.parametrize("complaint, notes, temp, level", [
    ("fever", "3-week-old, feeding well", 38.3, 2),      # the text does not say "fever" here: vitals decide
    ("fussy", "3-week-old", 38.3, 2),
    ("fussy", "6 wk old", 38.2, 2),
    ("fussy", "10 month old", 39.4, 3),
    ("fussy", "10 month old", 38.6, None),                # under 39.0 at 3-36 months: no fever floor
    ("fussy", "", 38.3, 2),                               # age 0 with no stated age: youngest band
])
def test_paediatric_fever_from_the_recorded_temperature(complaint, notes, temp, level):
    c = case(complaint, age=0, notes=notes, temperature_c=temp, heart_rate=140, respiratory_rate=30, resources=0)
    fever = [r for r in rule_results(c) if r.rule == "B_paediatric_fever"]
    if level is None:
        assert not fever
    else:
        assert fever and fever[0].level == level and rules_triage(c).level == level


# --- D: resources ---
@pytest.mark.parametrize("resources, level", [(0, 5), (1, 4), (2, 3), (5, 3)])
def test_recorded_resources_decide_3_4_5(resources, level):
    r = rules_triage(case("something unusual", resources=resources))
    assert (r.level, r.rule) == (level, "D_resources")


@pytest.mark.parametrize("complaint, resources", [
    ("prescription refill", 0), ("sore throat for 2 days", 0), ("laceration to left hand", 1),
    ("ankle injury playing football", 1), ("abdominal pain and vomiting", 2), ("unusual complaint xyz", 2),
])
def test_resources_estimated_from_complaint(complaint, resources):
    assert estimate_resources(case(complaint))[0] == resources


# --- combine ---
@pytest.mark.parametrize("model_level, rules_level", list(itertools.product([None, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5])))
def test_combine_never_lowers_the_models_urgency(model_level, rules_level):
    rules = RuleResult(rules_level, "D_resources", "x")
    final = combine(model_level, rules)
    if model_level is None:
        assert final.level == rules_level and not final.raised_by_rules
        return
    assert final.level <= model_level                     # never less urgent than the model
    assert final.level == min(model_level, rules_level)
    assert final.raised_by_rules == (rules_level < model_level)
    assert final.rule_fired == "D_resources"
    assert (final.model_level, final.rules_level) == (model_level, rules_level)


def test_rules_override_model_under_triage_with_danger_zone_vitals():
    r = rules_triage(case("shortness of breath", age=67, heart_rate=118, spo2=93))
    final = combine(3, r)
    assert (final.level, final.rule_fired, final.raised_by_rules) == (2, "B_danger_vitals", True)
    assert "raised it to ESI 2" in final.explanation and "HR 118" in final.explanation


@pytest.mark.parametrize("bad", [0, 6, True, "2"])
def test_combine_rejects_levels_outside_1_to_5(bad):
    with pytest.raises(ValueError, match="model level"):
        combine(bad, RuleResult(3, "D_resources", "x"))


def test_every_result_names_a_known_rule_and_the_most_urgent_wins():
    c = case("chest pain", age=70, heart_rate=130, spo2=88)
    results = rule_results(c)
    assert all(r.rule in RULES for r in results) and results[-1].rule == "D_resources"
    assert rules_triage(c).level == min(r.level for r in results) == 1
