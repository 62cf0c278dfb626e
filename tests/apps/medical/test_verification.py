"""Draft verification: every check catches a planted failure, passes a clean draft, and points at the text."""
from __future__ import annotations

from dataclasses import replace

import pytest

from apps.medical.clinical import Vitals
from apps.medical.verification import (
    CodedDiagnosis,
    DraftContent,
    EncounterFacts,
    MedicationOrder,
    finding_text,
    medication_line,
    times_per_day,
    verified,
    verify_draft,
)

VITALS = Vitals(heart_rate=88, systolic_bp=132, diastolic_bp=84, respiratory_rate=16, spo2=97,
                temperature_c=37.1, pain_score=3, consciousness="alert")
FACTS = EncounterFacts(age=45, sex="female", vitals=VITALS, allergies=[], current_medications=[], triage_level=4)
CLEAN = DraftContent(
    subjective="Twisted right ankle playing football this afternoon. Able to bear weight with pain.",
    objective="HR 88, BP 132/84, RR 16, SpO2 97% on room air, T 37.1 C. Afebrile, alert and oriented. "
              "Pain 3/10. Swelling over the lateral malleolus, no bony tenderness.",
    assessment="Sprain of the right ankle (ESI 4).",
    plan="Rest, ice, elevation; analgesia; review if not improving in a week.",
    icd_codes=[CodedDiagnosis("S93.401A", "Sprain of unspecified ligament of right ankle, initial encounter")],
    medications=[MedicationOrder("paracetamol", 1000, "1 g", "oral", "four times daily"),
                 MedicationOrder("ibuprofen", 400, "400 mg", "oral", "three times daily")],
    triage_level=4,
)


def checks(findings, severity="error"):
    return sorted({f.check for f in findings if f.severity == severity})


def only(findings, check):
    hits = [f for f in findings if f.check == check]
    assert hits, f"no {check} finding in {findings}"
    return hits


def test_clean_draft_passes():
    findings = verify_draft(CLEAN, FACTS)
    assert [f for f in findings if f.severity != "info"] == []
    assert verified(findings)


def test_verified_is_false_only_with_an_error():
    no_dose = replace(CLEAN, medications=[MedicationOrder("ibuprofen", None, "", "oral", "tds")])
    findings = verify_draft(no_dose, FACTS)
    assert checks(findings, "warning") == ["dose_range"] and verified(findings)
    unknown = replace(CLEAN, medications=[MedicationOrder("frobnicol", 5)])
    findings = verify_draft(unknown, FACTS)
    assert checks(findings) == ["drug_unverifiable"] and not verified(findings)   # a drug we cannot check
    assert finding_text(unknown, findings[0]) == "frobnicol"


# --- ICD-10-CM ---
def test_invalid_code_is_an_error_with_evidence_and_span():
    draft = replace(CLEAN, icd_codes=[CodedDiagnosis("X99.999", "made up")])
    (f,) = only(verify_draft(draft, FACTS), "icd_exists")
    assert f.severity == "error" and "simple-icd-10-cm" in f.evidence and "X99.999" in f.evidence
    assert (f.section, f.item, finding_text(draft, f)) == ("icd_codes", 0, "X99.999")
    assert not verified(verify_draft(draft, FACTS))


def test_category_code_is_not_billable_but_its_leaf_is():
    draft = replace(CLEAN, icd_codes=[CodedDiagnosis("I21", "Acute myocardial infarction")], triage_level=2)
    facts = replace(FACTS, triage_level=2)
    (f,) = only(verify_draft(draft, facts), "icd_billable")
    assert f.severity == "error" and "not a billable code" in f.message and "I21.0" in f.message
    assert finding_text(draft, f) == "I21"
    ok = replace(draft, icd_codes=[CodedDiagnosis("I21.4", "NSTEMI")])
    assert checks(verify_draft(ok, facts)) == []
    # undotted form is accepted as the same code; an injury code needs its 7th character
    assert checks(verify_draft(replace(draft, icd_codes=[CodedDiagnosis("I214")]), facts)) == []
    assert checks(verify_draft(replace(CLEAN, icd_codes=[CodedDiagnosis("S93.401")]), FACTS)) == ["icd_billable"]


# --- doses ---
def test_single_overdose():
    draft = replace(CLEAN, medications=[MedicationOrder("paracetamol", 2000, "2 g", "oral", "once")])
    (f,) = [x for x in verify_draft(draft, FACTS) if x.check == "dose_range" and x.severity == "error"]
    assert "above the usual adult single dose (1000 mg)" in f.message
    assert "BNF" in f.evidence and finding_text(draft, f) == "2 g"


def test_daily_overdose_from_frequency():
    draft = replace(CLEAN, medications=[MedicationOrder("paracetamol", None, "1 g", "oral", "every 4 hours")])
    (f,) = [x for x in verify_draft(draft, FACTS) if x.check == "dose_range" and x.severity == "error"]
    assert "6000 mg exceeds the maximum of 4000 mg a day" in f.message
    assert finding_text(draft, f) == "1 g oral every 4 hours"


@pytest.mark.parametrize("order, expected", [
    (MedicationOrder("x", frequency="qds"), 4), (MedicationOrder("x", frequency="BD"), 2),
    (MedicationOrder("x", frequency="every 4-6 hours as needed"), 6), (MedicationOrder("x", frequency="8-hourly"), 3),
    (MedicationOrder("x", frequency="once daily"), 1), (MedicationOrder("x", frequency="when needed"), None),
    (MedicationOrder("x", frequency="qds", times_per_day=2), 2),
])
def test_times_per_day(order, expected):
    assert times_per_day(order) == expected


def test_dose_units_and_missing_dose():
    micro = replace(CLEAN, medications=[MedicationOrder("fentanyl", None, "50 micrograms", "IV", "stat")])
    assert checks(verify_draft(micro, FACTS)) == []
    big = replace(CLEAN, medications=[MedicationOrder("fentanyl", None, "500 mcg", "IV", "stat")])
    assert checks(verify_draft(big, FACTS)) == ["dose_range"]
    none = replace(CLEAN, medications=[MedicationOrder("ibuprofen", None, "", "oral", "tds")])
    assert checks(verify_draft(none, FACTS), "warning") == ["dose_range"]


# --- allergies ---
def test_allergy_to_the_class_flags_a_member():
    draft = replace(CLEAN, medications=[MedicationOrder("Amoxicillin", 500, "500 mg", "oral", "tds")])
    facts = replace(FACTS, allergies=["Penicillin (rash)"])
    (f,) = only(verify_draft(draft, facts), "allergy_conflict")
    assert f.severity == "error" and "Penicillin (rash)" in f.evidence and "penicillins" in f.message
    assert finding_text(draft, f) == "Amoxicillin"


def test_allergy_to_a_drug_by_brand_and_class_cross_match():
    draft = replace(CLEAN, medications=[MedicationOrder("naproxen", 500, "", "oral", "bd")])
    (f,) = only(verify_draft(draft, replace(FACTS, allergies=["Nurofen - wheeze"])), "allergy_conflict")
    assert f.severity == "error" and "NSAIDs" in f.message       # ibuprofen allergy -> NSAID class
    direct = replace(CLEAN, medications=[MedicationOrder("ibuprofen", 400, "", "oral", "tds")])
    assert only(verify_draft(direct, replace(FACTS, allergies=["nurofen"])), "allergy_conflict")[0].severity == "error"
    cef = replace(CLEAN, medications=[MedicationOrder("cefalexin", 500, "", "oral", "qds")])
    (w,) = only(verify_draft(cef, replace(FACTS, allergies=["penicillin"])), "allergy_conflict")
    assert w.severity == "warning" and "cross-react" in w.message
    assert checks(verify_draft(draft, replace(FACTS, allergies=["latex", "NKDA"]))) == []


# --- interactions ---
def test_interaction_with_a_current_medication():
    facts = replace(FACTS, current_medications=["Warfarin 5 mg daily"])
    (f,) = only(verify_draft(CLEAN, facts), "interaction")   # ibuprofen + warfarin
    assert f.severity == "error" and "bleeding" in f.message and "Source:" in f.evidence
    assert finding_text(CLEAN, f) == "ibuprofen" and f.item == 1


def test_interaction_within_the_plan_and_none_for_safe_pairs():
    draft = replace(CLEAN, medications=[MedicationOrder("tramadol", 50, "", "oral", "qds"),
                                        MedicationOrder("sertraline", 50, "", "oral", "daily")])
    (f,) = only(verify_draft(draft, FACTS), "interaction")
    assert "serotonin" in f.message
    safe = replace(CLEAN, medications=[MedicationOrder("paracetamol", 1000, "", "oral", "qds")])
    assert checks(verify_draft(safe, replace(FACTS, current_medications=["warfarin"]))) == []


# --- vitals in Objective ---
@pytest.mark.parametrize("vitals, objective, stated", [
    ({"heart_rate": 120}, "HR 80, BP 132/84.", "HR 80"),
    ({"temperature_c": 39.2}, "Afebrile. BP 132/84.", "Afebrile"),
    ({"spo2": 88}, "SpO2 98% on room air.", "SpO2 98%"),
    ({"systolic_bp": 90, "diastolic_bp": 50}, "BP 132/84.", "BP 132/84"),
    ({"temperature_c": 36.5}, "Temperature 101.3 F.", "Temperature 101.3 F"),
    ({"heart_rate": 72}, "Tachycardic, warm peripheries.", "Tachycardic"),
    ({"heart_rate": 124}, "Vital signs normal.", "Vital signs normal"),
    ({"consciousness": "new_confusion"}, "Alert and oriented.", "Alert and oriented"),
    ({"spo2": 90}, "Saturating well on air.", "Saturating well"),
])
def test_vitals_mismatch(vitals, objective, stated):
    facts = replace(FACTS, vitals=replace(VITALS, **vitals))
    draft = replace(CLEAN, objective=objective)
    found = only(verify_draft(draft, facts), "vitals_mismatch")
    assert all(f.severity == "error" and f.section == "objective" for f in found)
    assert stated in [finding_text(draft, f) for f in found]
    assert any(f.evidence.startswith("recorded") for f in found)


def test_vitals_within_tolerance_and_negated_claims_pass():
    draft = replace(CLEAN, objective="HR 92, BP 128/80, RR 18, SpO2 96%, T 37.3. Not tachycardic.")
    assert checks(verify_draft(draft, FACTS)) == []


# --- triage consistency ---
def test_esi_5_with_an_acute_mi_code_is_inconsistent():
    draft = replace(CLEAN, icd_codes=[CodedDiagnosis("I21.4", "NSTEMI")], triage_level=5,
                    assessment="NSTEMI.", medications=[])
    facts = replace(FACTS, triage_level=5)
    (f,) = only(verify_draft(draft, facts), "triage_consistency")
    assert f.severity == "error" and "ESI 2" in f.message and finding_text(draft, f) == "I21.4"
    assert checks(verify_draft(draft, replace(facts, triage_level=2))) == []


def test_triage_words_in_assessment_and_level_disagreement():
    draft = replace(CLEAN, assessment="Likely sepsis from a urinary source.", icd_codes=[])
    (f,) = only(verify_draft(draft, FACTS), "triage_consistency")
    assert finding_text(draft, f) == "sepsis"
    negated = replace(draft, assessment="Viral illness, no sepsis.")
    assert checks(verify_draft(negated, FACTS)) == []
    differs = replace(CLEAN, assessment="Ankle sprain, ESI 3.", triage_level=3)
    (w,) = only(verify_draft(differs, FACTS), "triage_consistency")
    assert w.severity == "warning" and finding_text(differs, w) == "ESI 3"


def test_medication_line_matches_the_review_pages_rendering():
    assert medication_line(MedicationOrder("ibuprofen", 400, "", "oral", "tds")) == "ibuprofen 400 mg oral tds"
    assert medication_line(MedicationOrder("ibuprofen", 400, "400mg", "", "")) == "ibuprofen 400mg"


def test_malformed_model_output_gives_findings_not_crashes():
    draft = replace(CLEAN, icd_codes=[CodedDiagnosis(""), CodedDiagnosis("i21.4")], medications=[
        MedicationOrder("ibuprofen", "400", "", "oral", "", times_per_day="3"),   # numeric strings
        MedicationOrder("paracetamol", "lots", "", "oral", "qds"),                # junk dose, no text
        MedicationOrder("naproxen", 0, "", "oral", "bd"),
        MedicationOrder("", None),
    ], triage_level=2)
    findings = verify_draft(draft, replace(FACTS, triage_level=2))
    by = {(f.check, f.severity, f.item) for f in findings}
    assert ("icd_exists", "error", 0) in by                    # empty code
    assert not any(f.item == 1 and f.section == "icd_codes" and f.check.startswith("icd") for f in findings)
    assert not any(f.item == 0 and f.section == "medications" and f.severity == "error" for f in findings)
    assert ("dose_range", "warning", 1) in by                  # dose not stated
    assert ("dose_range", "error", 2) in by                    # zero dose
    assert ("drug_unverifiable", "error", 3) in by             # no name: nothing could be checked
    assert all(0 <= f.start <= f.end for f in findings)
