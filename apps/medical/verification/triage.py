"""Triage consistency: the assessment's codes and words against the recorded ESI level."""
from __future__ import annotations

import re

from apps.medical.verification.types import DraftContent, EncounterFacts, Finding, code_line

# ICD-10-CM prefix -> (least urgent ESI consistent with it, condition)
URGENT_CODES: tuple[tuple[str, int, str], ...] = (
    ("I46", 1, "cardiac arrest"), ("R57", 1, "shock"), ("R40.2", 1, "coma"), ("T78.2", 2, "anaphylactic shock"),
    ("I21", 2, "acute myocardial infarction"), ("I22", 2, "subsequent myocardial infarction"),
    ("I24", 2, "acute ischaemic heart disease"), ("I60", 2, "subarachnoid haemorrhage"),
    ("I61", 2, "intracerebral haemorrhage"), ("I62", 2, "intracranial haemorrhage"), ("I63", 2, "cerebral infarction"),
    ("I71.0", 2, "aortic dissection"), ("I26", 2, "pulmonary embolism"), ("A41", 2, "sepsis"),
    ("R65.2", 2, "severe sepsis"), ("J96.0", 2, "acute respiratory failure"), ("E10.1", 2, "diabetic ketoacidosis"),
    ("E11.1", 2, "diabetic ketoacidosis"), ("R45.851", 2, "suicidal ideation"), ("T14.91", 2, "suicide attempt"),
    ("N44.0", 2, "testicular torsion"), ("O00", 2, "ectopic pregnancy"), ("K92.0", 2, "haematemesis"),
    ("S06", 3, "intracranial injury"),
)
URGENT_WORDS: tuple[tuple[re.Pattern, int, str], ...] = (
    (re.compile(r"\bcardiac arrest\b", re.I), 1, "cardiac arrest"),
    (re.compile(r"\b(?:n?stemi|myocardial infarction|acute coronary syndrome|ACS)\b", re.I), 2,
     "acute coronary syndrome"),
    (re.compile(r"\b(?:stroke|CVA|subarachnoid|intracranial (?:haemorrhage|hemorrhage|bleed))\b", re.I), 2, "stroke"),
    (re.compile(r"\b(?:sepsis|septic shock)\b", re.I), 2, "sepsis"),
    (re.compile(r"\banaphylaxis\b", re.I), 2, "anaphylaxis"),
    (re.compile(r"\bpulmonary embol(?:ism|us)\b", re.I), 2, "pulmonary embolism"),
    (re.compile(r"\baortic dissection\b", re.I), 2, "aortic dissection"),
    (re.compile(r"\b(?:diabetic ketoacidosis|DKA)\b", re.I), 2, "diabetic ketoacidosis"),
    (re.compile(r"\bsuicidal\b", re.I), 2, "suicidal ideation"),
)
MINOR_CODES = ("J00", "J02.9", "J06.9", "H10", "H66.9", "L30.9", "S93.4", "Z76.0", "K08.8", "W57", "S60")
_NEGATED_WORD = re.compile(r"\b(?:no|not|without|ruled out|excluded|negative for)\b[^.;\n]*$", re.I)


def _code_key(code: str) -> str:
    code = code.strip().upper()
    return code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"


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
        key = _code_key(c.code)
        for prefix, worst, condition in URGENT_CODES:
            if key.startswith(prefix) and level > worst:
                start = max(0, code_line(c).find(c.code.strip()))
                out.append(Finding("triage_consistency", "error",
                                   f"assessment codes {c.code} ({condition}) but triage is ESI {level}; "
                                   f"{condition} needs ESI {worst} or more urgent",
                                   f"{c.code}: {condition}; recorded triage ESI {level}", "icd_codes",
                                   start, start + len(c.code.strip()), i))
                coded = True
                break
    if not coded:
        for pattern, worst, condition in URGENT_WORDS:
            for hit in pattern.finditer(draft.assessment):
                clause = draft.assessment[:hit.start()]
                if _NEGATED_WORD.search(clause) or level <= worst:
                    continue
                out.append(Finding("triage_consistency", "error",
                                   f"assessment names {hit.group(0)!r} ({condition}) but triage is ESI {level}; "
                                   f"it needs ESI {worst} or more urgent",
                                   f"recorded triage ESI {level}", "assessment", hit.start(), hit.end()))
                break
    if level == 1 and draft.icd_codes and all(_code_key(c.code).startswith(MINOR_CODES) for c in draft.icd_codes):
        c = draft.icd_codes[0]
        out.append(Finding("triage_consistency", "warning",
                           f"triage is ESI 1 but every assessment code is a minor condition ({c.code} ...)",
                           f"{c.code}; recorded triage ESI 1", "icd_codes", 0, len(c.code.strip()), 0))
    return out

