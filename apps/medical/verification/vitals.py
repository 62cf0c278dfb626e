"""Objective section against the recorded vitals: stated numbers and claims ("afebrile", "normotensive")."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from apps.medical.clinical import Vitals
from apps.medical.text import find_terms
from apps.medical.verification.types import DraftContent, EncounterFacts, Finding


@dataclass(frozen=True)
class _Number:
    field: str
    pattern: re.Pattern
    tolerance: float
    label: str


_SEP = r"\s*(?:of|was|is|at|:|=)?\s*"
NUMBERS: tuple[_Number, ...] = (
    _Number("heart_rate", re.compile(r"\b(?:HR|heart rate|pulse(?: rate)?)" + _SEP + r"(\d{1,3})\b", re.I),
            10, "heart rate"),
    _Number("respiratory_rate",
            re.compile(r"\b(?:RR|resp(?:iratory)? rate|respirations|resps)" + _SEP + r"(\d{1,2})\b", re.I),
            4, "respiratory rate"),
    _Number("spo2", re.compile(r"(?:\bSpO2|\bSpO₂|\bO2 sat(?:uration)?s?|\bsats|\boxygen saturations?|\bsaturations?)"
                               + _SEP + r"(\d{2,3})\s*%?", re.I), 2, "SpO2"),
    _Number("temperature_c",
            re.compile(r"\b(?:T|temp|temperature)" + _SEP + r"(\d{2,3}(?:\.\d+)?)\s*(?:°|º|deg(?:rees)?)?\s*([CF])?\b",
                       re.I), 0.3, "temperature"),
    _Number("pain_score", re.compile(r"\bpain(?: score)?" + _SEP + r"(\d{1,2})\s*/\s*10\b", re.I), 1, "pain score"),
)
_BP = re.compile(r"\b(?:BP|blood pressure)" + _SEP + r"(\d{2,3})\s*/\s*(\d{2,3})\b", re.I)
BP_TOLERANCE = 10


def _abnormal(v: Vitals) -> list[str]:
    found = []
    if v.heart_rate is not None and not 50 <= v.heart_rate <= 100:
        found.append(f"HR {v.heart_rate}")
    if v.systolic_bp is not None and v.systolic_bp < 90:
        found.append(f"SBP {v.systolic_bp}")
    if v.respiratory_rate is not None and not 10 <= v.respiratory_rate <= 20:
        found.append(f"RR {v.respiratory_rate}")
    if v.spo2 is not None and v.spo2 < 94:
        found.append(f"SpO2 {v.spo2}%")
    if v.temperature_c is not None and not 35.5 <= v.temperature_c < 38.0:
        found.append(f"T {v.temperature_c} C")
    if v.consciousness not in (None, "alert"):
        found.append(f"consciousness {v.consciousness}")
    return found


# (claim pattern, contradicted when(vitals) -> recorded-fact string or None)
# Claims that carry their own negation ("not tachycardic", "RR normal"): matched as written, not through
# ConText (which would read "not tachycardic" as a negated "tachycardic").
NEGATIVE_CLAIMS: tuple[tuple[re.Pattern, Callable[[Vitals], str | None]], ...] = (
    (re.compile(r"\bnormotherm(?:ic|ia)\b", re.I),
     lambda v: f"recorded temperature {v.temperature_c} C"
     if v.temperature_c is not None and not 35.5 <= v.temperature_c < 38.0 else None),
    (re.compile(r"\b(?:not|no longer|non-?)\s*tachycardi(?:c|a)\b", re.I),
     lambda v: f"recorded HR {v.heart_rate}" if v.heart_rate is not None and v.heart_rate > 100 else None),
    (re.compile(r"\b(?:not|non-?)\s*bradycardi(?:c|a)\b", re.I),
     lambda v: f"recorded HR {v.heart_rate}" if v.heart_rate is not None and v.heart_rate < 60 else None),
    (re.compile(r"\bnot\s+hypotensive\b", re.I),
     lambda v: f"recorded BP {v.systolic_bp}/{v.diastolic_bp}" if v.systolic_bp is not None and v.systolic_bp < 90
     else None),
    (re.compile(r"\b(?:not|no)\s+(?:tachypno?eic|tachypno?ea|in respiratory distress)\b", re.I),
     lambda v: f"recorded RR {v.respiratory_rate}" if v.respiratory_rate is not None and v.respiratory_rate > 20
     else None),
    (re.compile(r"\bnot\s+(?:febrile|pyrexial)\b|\bno fever\b", re.I),
     lambda v: f"recorded temperature {v.temperature_c} C" if v.temperature_c is not None and v.temperature_c >= 38.0
     else None),
    (re.compile(r"\b(?:respiratory rate|resp(?:iratory)? rate|RR|breathing rate)\s+(?:is\s+|was\s+)?normal\b|"
                r"\bnormal (?:respiratory|resp) rate\b", re.I),
     lambda v: f"recorded RR {v.respiratory_rate}" if v.respiratory_rate is not None and not 12 <= v.respiratory_rate <= 20
     else None),
    (re.compile(r"\b(?:heart rate|HR|pulse)\s+(?:is\s+|was\s+)?normal\b|\bnormal heart rate\b", re.I),
     lambda v: f"recorded HR {v.heart_rate}" if v.heart_rate is not None and not 50 <= v.heart_rate <= 100 else None),
)
CLAIMS: tuple[tuple[re.Pattern, Callable[[Vitals], str | None]], ...] = (
    (re.compile(r"\bnormotherm(?:ic|ia)\b", re.I),
     lambda v: f"recorded temperature {v.temperature_c} C"
     if v.temperature_c is not None and not 35.5 <= v.temperature_c < 38.0 else None),
    (re.compile(r"(?<!normo)(?<!non-)(?<!non)\bhypertensi(?:ve|on)\b(?! (?:history|hx))", re.I),
     lambda v: f"recorded BP {v.systolic_bp}/{v.diastolic_bp}"
     if v.systolic_bp is not None and v.systolic_bp < 140 and (v.diastolic_bp or 0) < 90 else None),
    (re.compile(r"\bafebrile\b|\bapyrexial\b", re.I),
     lambda v: f"recorded temperature {v.temperature_c} C" if v.temperature_c is not None and v.temperature_c >= 38.0
     else None),
    (re.compile(r"(?<!a)\bfebrile\b|(?<!a)\bpyrexial\b", re.I),
     lambda v: f"recorded temperature {v.temperature_c} C" if v.temperature_c is not None and v.temperature_c < 37.5
     else None),
    (re.compile(r"\btachycardi(?:c|a)\b", re.I),
     lambda v: f"recorded HR {v.heart_rate}" if v.heart_rate is not None and v.heart_rate <= 100 else None),
    (re.compile(r"\bbradycardi(?:c|a)\b", re.I),
     lambda v: f"recorded HR {v.heart_rate}" if v.heart_rate is not None and v.heart_rate >= 60 else None),
    (re.compile(r"\bhypotensi(?:ve|on)\b", re.I),
     lambda v: f"recorded BP {v.systolic_bp}/{v.diastolic_bp}" if v.systolic_bp is not None and v.systolic_bp >= 100
     else None),
    (re.compile(r"\bnormotensive\b", re.I),
     lambda v: f"recorded BP {v.systolic_bp}/{v.diastolic_bp}"
     if v.systolic_bp is not None and not 90 <= v.systolic_bp < 160 else None),
    (re.compile(r"\btachypno?eic\b|\btachypno?ea\b", re.I),
     lambda v: f"recorded RR {v.respiratory_rate}" if v.respiratory_rate is not None and v.respiratory_rate <= 20
     else None),
    (re.compile(r"\bhypox(?:ic|ia|aemic|emic|aemia|emia)\b", re.I),
     lambda v: f"recorded SpO2 {v.spo2}%" if v.spo2 is not None and v.spo2 >= 95 else None),
    (re.compile(r"\bsaturating well\b|\bgood saturations?\b|\bnormal saturations?\b|\bnot hypoxic\b", re.I),
     lambda v: f"recorded SpO2 {v.spo2}%" if v.spo2 is not None and v.spo2 < 94 else None),
    (re.compile(r"\b(?:vital signs|vitals|observations|obs)\s+(?:are\s+|were\s+)?(?:normal|stable|unremarkable|"
                r"within normal limits)\b|\bnormal (?:vital signs|vitals|observations|obs)\b|\bVSS\b|"
                r"\bhae?modynamically stable\b", re.I),
     lambda v: "recorded " + ", ".join(_abnormal(v)) if _abnormal(v) else None),
    (re.compile(r"\balert and orie?ntated\b|\balert and oriented\b|\bGCS 15\b|\bA\s?&\s?O\s?x\s?[34]\b|"
                r"\bfully conscious\b", re.I),
     lambda v: f"recorded consciousness {v.consciousness}" if v.consciousness not in (None, "alert") else None),
    (re.compile(r"\bpain[- ]free\b|\bno pain\b", re.I),
     lambda v: f"recorded pain score {v.pain_score}/10" if v.pain_score is not None and v.pain_score >= 4
     else None),
)
_NEGATED_BEFORE = re.compile(r"\b(?:not|no|non|never)\s+(?:\w+\s+){0,1}$", re.I)


# A value measured again after treatment or later in the stay ("repeat HR 88 after 1 L saline", "HR now 92",
# "improved to 96%") is not the triage value: the check compares only values that claim to be the triage set.
_LATER = re.compile(
    r"\b(?:repeat(?:ed)?|re-?check(?:ed)?|re-?assess(?:ed|ment)?|second set|subsequent(?:ly)?|later|now|"
    r"after|following|improved|improving|came down|come down|down to|up to|settled|on discharge|"
    r"at discharge|responded|post[- ](?:fluids?|bolus|treatment|nebs?|nebuli[sz]ers?|analgesia|antipyretics?))\b",
    re.I)
_CLAUSE_START = re.compile(r"[.;\n]|,\s*(?=(?:repeat|re-?check|after|post|following|now|then|on)\b)", re.I)


def _clause_around(text: str, start: int, end: int) -> str:
    """The clause a value sits in: from the last sentence/clause break before it to the next after it."""
    before = max((m.end() for m in _CLAUSE_START.finditer(text, 0, start)), default=0)
    after = re.search(r"[.;\n]", text[end:])
    return text[before:end + (after.start() if after else len(text) - end)]


def is_later_value(text: str, start: int, end: int) -> bool:
    """True when the value at text[start:end] is labelled as a repeat or post-treatment measurement."""
    return _LATER.search(_clause_around(text, start, end)) is not None


def _claim_is_asserted(text: str, start: int, end: int) -> bool:
    """The claim at text[start:end] is made about the patient now: not negated, historical or hypothetical."""
    for hit in find_terms(text, (text[start:end].lower(),), fuzzy=False):
        if hit.start <= start < hit.end or start <= hit.start < end:
            return hit.affirmed
    return _NEGATED_BEFORE.search(text[:start]) is None


def check_vitals(draft: DraftContent, facts: EncounterFacts) -> list[Finding]:
    text, v = draft.objective or "", facts.vitals
    out = []
    for num in NUMBERS:
        recorded = getattr(v, num.field)
        if recorded is None:
            continue
        for hit in num.pattern.finditer(text):
            if is_later_value(text, hit.start(), hit.end()):
                continue
            stated = float(hit.group(1))
            if num.field == "temperature_c":
                unit = (hit.group(2) or "").upper()
                if unit == "F" or (not unit and stated > 50):
                    stated = round((stated - 32) * 5 / 9, 1)
            if abs(stated - recorded) > num.tolerance:
                out.append(Finding("vitals_mismatch", "error",
                                   f"Objective says {hit.group(0).strip()!r} but the recorded {num.label} is "
                                   f"{recorded:g}", f"recorded {num.label}: {recorded:g}", "objective",
                                   hit.start(), hit.end()))
    if v.systolic_bp is not None and v.diastolic_bp is not None:
        for hit in _BP.finditer(text):
            if is_later_value(text, hit.start(), hit.end()):
                continue
            sbp, dbp = int(hit.group(1)), int(hit.group(2))
            if abs(sbp - v.systolic_bp) > BP_TOLERANCE or abs(dbp - v.diastolic_bp) > BP_TOLERANCE:
                out.append(Finding("vitals_mismatch", "error",
                                   f"Objective says {hit.group(0)!r} but the recorded BP is "
                                   f"{v.systolic_bp}/{v.diastolic_bp}",
                                   f"recorded BP: {v.systolic_bp}/{v.diastolic_bp}", "objective",
                                   hit.start(), hit.end()))
    claims = [(p, c, False) for p, c in CLAIMS] + [(p, c, True) for p, c in NEGATIVE_CLAIMS]
    for pattern, contradicted, negative in claims:
        for hit in pattern.finditer(text):
            negative_claim = negative or "not hypoxic" in hit.group(0).lower()
            if not negative_claim and not _claim_is_asserted(text, hit.start(), hit.end()):
                continue
            if is_later_value(text, hit.start(), hit.end()):
                continue
            fact = contradicted(v)
            if fact:
                out.append(Finding("vitals_mismatch", "error",
                                   f"Objective says {hit.group(0)!r}, but {fact}", fact, "objective",
                                   hit.start(), hit.end()))
    return out
