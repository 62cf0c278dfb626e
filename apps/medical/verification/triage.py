"""Triage consistency: the assessment's codes and words against the recorded ESI level."""
from __future__ import annotations

from apps.medical.text import find_terms
from apps.medical.verification.acuity import acuity_floor, is_minor
from apps.medical.verification.types import DraftContent, EncounterFacts, Finding, code_line

# Conditions named in words in the assessment (canonical phrases of apps.medical.text: abbreviations,
# synonyms and misspellings are found through its lexicon; negated, historical, family and hypothetical
# mentions are not counted — "ACS ruled out", "h/o MI", "father had a stroke", "return if chest pain").
# (phrases, least urgent ESI consistent with it, condition)
URGENT_WORDS: tuple[tuple[tuple[str, ...], int, str], ...] = (
    (("cardiac arrest", "pulseless electrical activity", "ventricular fibrillation", "asystole"), 1, "cardiac arrest"),
    (("septic shock", "cardiogenic shock", "anaphylactic shock", "hypovolaemic shock", "hypovolemic shock"), 1,
     "shock"),
    (("status epilepticus",), 1, "status epilepticus"),
    (("respiratory failure", "respiratory arrest"), 1, "respiratory failure"),
    (("myocardial infarction", "stemi", "nstemi", "acute coronary syndrome", "unstable angina",
      "heart attack"), 2, "acute coronary syndrome"),
    (("stroke", "cerebrovascular accident", "subarachnoid haemorrhage", "subarachnoid hemorrhage",
      "intracranial haemorrhage", "intracranial hemorrhage", "intracerebral haemorrhage", "intracerebral hemorrhage",
      "intracranial bleed", "transient ischaemic attack", "transient ischemic attack"), 2, "stroke / intracranial bleed"),
    (("sepsis", "septicaemia", "septicemia", "neutropenic fever", "febrile neutropenia"), 2, "sepsis"),
    (("meningitis", "encephalitis", "meningococcal"), 2, "meningitis / encephalitis"),
    (("anaphylaxis",), 2, "anaphylaxis"),
    (("pulmonary embolism",), 2, "pulmonary embolism"),
    (("aortic dissection", "ruptured aortic aneurysm", "ruptured aaa"), 2, "aortic dissection / rupture"),
    (("diabetic ketoacidosis", "hyperosmolar hyperglycaemic state", "hyperosmolar hyperglycemic state"), 2,
     "diabetic ketoacidosis"),
    (("suicidal ideation", "suicide attempt", "homicidal ideation", "intentional overdose", "overdose"), 2,
     "suicidal / homicidal ideation or overdose"),
    (("ectopic pregnancy",), 2, "ectopic pregnancy"),
    (("testicular torsion", "ovarian torsion"), 2, "torsion"),
    (("gastrointestinal bleeding", "upper gi bleed", "variceal bleed", "haematemesis", "hematemesis", "melaena",
      "melena"), 2, "gastrointestinal haemorrhage"),
    (("tension pneumothorax",), 1, "tension pneumothorax"),
    (("pneumothorax",), 2, "pneumothorax"),
    (("pre-eclampsia", "preeclampsia", "eclampsia"), 2, "pre-eclampsia / eclampsia"),
    (("necrotising fasciitis", "necrotizing fasciitis", "epiglottitis", "cauda equina syndrome",
      "compartment syndrome"), 2, "time-critical condition"),
)


def _urgent_words(assessment: str, level: int):
    """(worst level, condition, TermHit) of the most urgent condition affirmed in the assessment that needs a
    more urgent level than `level`, or None."""
    found = []
    for phrases, worst, condition in URGENT_WORDS:
        if level <= worst:
            continue
        hits = [h for h in find_terms(assessment, phrases) if h.affirmed]
        if hits:
            found.append((worst, condition, hits[0]))
    return min(found, key=lambda f: (f[0], f[2].start)) if found else None


def check_triage(draft: DraftContent, facts: EncounterFacts) -> list[Finding]:
    out = []
    level = facts.triage_level if facts.triage_level is not None else draft.triage_level
    if facts.triage_level is not None and draft.triage_level is not None and facts.triage_level != draft.triage_level:
        at = draft.assessment.find(f"ESI {draft.triage_level}")
        span = (at, at + 5) if at >= 0 else (0, 0)
        out.append(Finding("triage_consistency", "warning",
                           f"draft states ESI {draft.triage_level} but the encounter was triaged ESI "
                           f"{facts.triage_level}", f"encounter triage: ESI {facts.triage_level}", "assessment",
                           *span))
    if level is None:
        return out
    coded = False
    for i, c in enumerate(draft.icd_codes):
        row = acuity_floor(c.code)
        if row is not None and level > row.worst_esi:
            start = max(0, code_line(c).find(c.code.strip()))
            out.append(Finding("triage_consistency", "error",
                               f"assessment codes {c.code} ({row.condition}) but triage is ESI {level}; "
                               f"{row.condition} needs ESI {row.worst_esi} or more urgent",
                               f"{c.code}: {row.condition} (ICD-10-CM {row.first}"
                               f"{'-' + row.last if row.last != row.first else ''}); recorded triage ESI {level}",
                               "icd_codes", start, start + len(c.code.strip()), i))
            coded = True
    if not coded:
        hit = _urgent_words(draft.assessment, level)
        if hit is not None:
            worst, condition, term = hit
            out.append(Finding("triage_consistency", "error",
                               f"assessment names {term.surface!r} ({condition}) but triage is ESI {level}; "
                               f"it needs ESI {worst} or more urgent",
                               f"recorded triage ESI {level}", "assessment", term.start, term.end))
    if level == 1 and draft.icd_codes and all(is_minor(c.code) for c in draft.icd_codes):
        c = draft.icd_codes[0]
        out.append(Finding("triage_consistency", "warning",
                           f"triage is ESI 1 but every assessment code is a minor condition ({c.code} ...)",
                           f"{c.code}; recorded triage ESI 1", "icd_codes", 0, len(c.code.strip()), 0))
    return out

