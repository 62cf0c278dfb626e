"""Knowledge-base verification of an EMR (SOAP) draft: deterministic checks, each finding with evidence and a span.

Checks (``Finding.check``):
- ``icd_exists``       the code is in the ICD-10-CM table shipped by ``simple-icd-10-cm`` (error);
- ``icd_billable``     the code is a leaf category/subcategory, i.e. billable (error), e.g. "I21" is not, "I21.4" is;
- ``drug_unverifiable`` an ordered drug (or a part of a combination) is not in the knowledge base: error, because
                       dose, allergy and interaction checks could not run; a reviewer acknowledges it (audited)
                       before the version can pass. ``medication_unrecognised`` / ``allergy_unrecognised``: the
                       same for a recorded current medication or allergy the base cannot identify (non-drug
                       allergens such as latex or peanut are recognised). ``ACKNOWLEDGEABLE_CHECKS``.
- ``dose_range``       single dose outside the range for the route, daily / weekly / course total above the
                       maximum (summed across orders of the same ingredient, combination components included),
                       a weekly drug ordered daily (error); dose not stated (warning);
- ``allergy_conflict`` the drug, or its class, is a recorded allergy (error; opioid class: warning), or a
                       cross-reacting class (penicillin -> cephalosporin: warning);
- ``interaction``      a serious pair among the plan's drugs, and between the plan and current medications
                       (severity from ``knowledge/interactions.json``);
- ``vitals_mismatch``  a number in Objective ("HR 80", "BP 120/80", "SpO2 98%", "T 37.1") differs from the
                       recorded vitals beyond a small tolerance, or a claim ("afebrile", "tachycardic", "not
                       tachycardic", "vital signs normal", "alert and oriented") contradicts them (error); values
                       labelled as a repeat or post-treatment measurement are not compared, and claims are read
                       through ConText (negated, historical or hypothetical claims are not claims);
- ``triage_consistency`` an assessment code needs a more urgent ESI than recorded, by ICD-10-CM block, category
                       or subcategory (``acuity.py``), or the assessment's words affirm such a condition through
                       ConText ("ACS ruled out", "stroke not suspected" do not count) (error); ESI 1 with only
                       minor codes (warning); the draft's ESI differs from the encounter's (warning).

Spans. ``Finding.section`` is "subjective" | "objective" | "assessment" | "plan" (offsets into that text),
"icd_codes" (offsets into ``code_line(code)`` of item ``Finding.item``) or "medications" (offsets into
``medication_line(order)`` of item ``Finding.item``). ``finding_text(draft, finding)`` returns the spanned
text. Evidence names the code or drug as the draft wrote it, and the fact or source the check relied on.
"""
from __future__ import annotations

from apps.medical.knowledge import Knowledge, default_knowledge
from apps.medical.verification.codes import check_codes
from apps.medical.verification.medications import check_medications
from apps.medical.verification.orders import dose_in_mg, times_per_day
from apps.medical.verification.triage import check_triage
from apps.medical.verification.types import (
    ACKNOWLEDGEABLE_CHECKS,
    TEXT_SECTIONS,
    CodedDiagnosis,
    DraftContent,
    EncounterFacts,
    Finding,
    MedicationOrder,
    Severity,
    code_line,
    finding_text,
    medication_line,
    verified,
)
from apps.medical.verification.vitals import check_vitals

__all__ = [
    "ACKNOWLEDGEABLE_CHECKS", "TEXT_SECTIONS", "CodedDiagnosis", "DraftContent", "EncounterFacts", "Finding",
    "MedicationOrder", "Severity", "check_codes", "check_medications", "check_triage", "check_vitals", "code_line",
    "dose_in_mg", "finding_text", "medication_line", "times_per_day", "verified", "verify_draft",
]


def verify_draft(draft: DraftContent, facts: EncounterFacts, knowledge: Knowledge | None = None) -> list[Finding]:
    """Every finding of every check, in check order (codes, medications, vitals, triage)."""
    kb = knowledge or default_knowledge()
    return (check_codes(draft) + check_medications(draft, facts, kb) + check_vitals(draft, facts)
            + check_triage(draft, facts))

