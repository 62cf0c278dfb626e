"""Medication checks against the drug knowledge base: known drug, dose range, allergy, interactions."""
from __future__ import annotations

import re

from apps.medical.knowledge import Drug, Knowledge
from apps.medical.verification.types import (
    DraftContent,
    EncounterFacts,
    Finding,
    MedicationOrder,
    _dose_label,
    _number,
    medication_line,
)

_DOSE = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|milligrams?|g|grams?|mcg|micrograms?|µg|ug)\b", re.I)
_UNIT_MG = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "gram": 1000.0, "grams": 1000.0,
            "mcg": 0.001, "microgram": 0.001, "micrograms": 0.001, "µg": 0.001, "ug": 0.001}
# frequency phrases -> times a day (checked in order; "every N hours" handled separately)
FREQUENCIES: tuple[tuple[str, int], ...] = (
    (r"\b(four times (a|per) day|four times daily|qds|qid|q\.i\.d\.?)\b", 4),
    (r"\b(three times (a|per) day|three times daily|tds|tid|t\.i\.d\.?)\b", 3),
    (r"\b(twice (a|per) day|twice daily|bd|bid|b\.i\.d\.?)\b", 2),
    (r"\b(once (a|per) day|once daily|daily|od|qd|nocte|mane|at night|in the morning|stat|once|single dose)\b", 1),
)
_EVERY_HOURS = re.compile(r"\b(?:every|q)\s*(\d+)(?:\s*(?:-|to)\s*(\d+))?\s*(?:h|hr|hrs|hours?|hourly)\b", re.I)
_HOURLY = re.compile(r"\b(\d+)(?:\s*-\s*(\d+))?[- ]hourly\b", re.I)


def dose_in_mg(m: MedicationOrder) -> tuple[float | None, tuple[int, int] | None]:
    """(single dose in mg, span of the dose in medication_line) from dose_mg, else parsed from dose_text."""
    line = medication_line(m)
    label = _dose_label(m)
    at = line.find(label, len(m.name)) if label else -1
    span = (at, at + len(label)) if at >= 0 else None
    if _number(m.dose_mg) is not None:
        return _number(m.dose_mg), span
    hit = _DOSE.search(m.dose_text or "")
    if not hit:
        return None, span
    return float(hit.group(1)) * _UNIT_MG[hit.group(2).lower()], span


def times_per_day(m: MedicationOrder) -> int | None:
    """times_per_day, else from the frequency ("every 4-6 hours" counts the most frequent: 6)."""
    given = _number(m.times_per_day)
    if given is not None and given >= 1:
        return int(given)
    text = m.frequency or ""
    hit = _EVERY_HOURS.search(text) or _HOURLY.search(text)
    if hit:
        hours = min(int(h) for h in hit.groups() if h)
        return max(1, 24 // hours) if hours else None
    for pattern, n in FREQUENCIES:
        if re.search(pattern, text, re.I):
            return n
    return None


def _fmt(mg: float) -> str:
    return f"{mg:g} mg"


def check_medications(draft: DraftContent, facts: EncounterFacts, kb: Knowledge) -> list[Finding]:
    out: list[Finding] = []
    known: list[tuple[int, MedicationOrder, Drug]] = []
    for i, m in enumerate(draft.medications):
        line = medication_line(m)
        name_span = dict(section="medications", start=0, end=len(m.name), item=i)
        drug = kb.find_drug(m.name)
        if drug is None:
            out.append(Finding("drug_known", "warning",
                               f"{m.name} is not in the drug knowledge base: dose, allergy and interaction checks "
                               "did not run", f"{m.name}: not among the {len(kb.drugs)} drugs of drugs.json",
                               **name_span))
            continue
        known.append((i, m, drug))
        out += _dose_findings(i, m, drug, facts, line)
        out += _allergy_findings(i, m, drug, facts, kb)
    out += _interaction_findings(known, facts, kb)
    return out


def _dose_findings(i, m: MedicationOrder, drug: Drug, facts: EncounterFacts, line: str) -> list[Finding]:
    out = []
    dose, span = dose_in_mg(m)
    low, high = drug.single_dose_mg
    written = m.name if m.name.lower() == drug.name else f"{m.name} ({drug.name})"
    usual = f"usual adult single dose {_fmt(low)}-{_fmt(high)}" + (
        f", max {_fmt(drug.max_daily_mg)}/day" if drug.max_daily_mg else ", no fixed daily maximum")
    evidence = f"{written}: {usual}. Source: {drug.source}"
    if dose is None:
        return [Finding("dose_range", "warning", f"{m.name}: dose not stated", evidence, "medications",
                        0, len(line), i)]
    start, end = span or (0, len(line))
    if dose <= 0:
        return [Finding("dose_range", "error", f"{m.name}: dose {_fmt(dose)} is not a positive amount", evidence,
                        "medications", start, end, i)]
    child = facts.age < 16
    if dose > high:
        out.append(Finding("dose_range", "error",
                           f"{m.name} {_fmt(dose)} is above the usual adult single dose ({_fmt(high)})",
                           evidence, "medications", start, end, i))
    elif dose < low and not child:
        out.append(Finding("dose_range", "warning",
                           f"{m.name} {_fmt(dose)} is below the usual adult single dose ({_fmt(low)})",
                           evidence, "medications", start, end, i))
    per_day = times_per_day(m)
    if drug.max_daily_mg is not None:
        if per_day is None:
            out.append(Finding("dose_range", "info", f"{m.name}: frequency not understood, daily total not checked",
                               evidence, "medications", start, len(line), i))
        elif dose * per_day > drug.max_daily_mg:
            out.append(Finding("dose_range", "error",
                               f"{m.name} {_fmt(dose)} x {per_day} a day = {_fmt(dose * per_day)} exceeds the "
                               f"maximum of {_fmt(drug.max_daily_mg)} a day",
                               evidence, "medications", start, len(line), i))
    if child:
        out.append(Finding("dose_range", "info",
                           f"patient is {facts.age}: ranges are adult doses (paediatric doses are weight-based)",
                           evidence, "medications", start, end, i))
    return out


def _allergy_findings(i, m: MedicationOrder, drug: Drug, facts: EncounterFacts, kb: Knowledge) -> list[Finding]:
    out = []
    klass = kb.classes[drug.drug_class]
    for allergy in facts.allergies:
        for mention in kb.mentions(allergy):
            allergen_class = kb.drugs[mention.key].drug_class if mention.kind == "drug" else mention.key
            written = allergy[mention.start:mention.end]
            evidence_base = f"{m.name} ({drug.name}) vs recorded allergy: {allergy!r}"
            if mention.kind == "drug" and mention.key == drug.name:
                out.append(Finding("allergy_conflict", "error", f"{m.name} is a recorded allergy ({written})",
                                   evidence_base, "medications", 0, len(m.name), i))
            elif allergen_class == drug.drug_class:
                note = f"; {klass.allergy_note}" if klass.allergy_note else ""
                out.append(Finding("allergy_conflict", klass.allergy_class_severity,
                                   f"{m.name} is one of the {klass.label}; recorded allergy to {written}",
                                   f"{evidence_base}; {drug.name} is one of the {klass.label}{note}",
                                   "medications", 0, len(m.name), i))
            else:
                for cross in kb.cross_reactivity:
                    if cross.allergy_class == allergen_class and cross.drug_class == drug.drug_class:
                        out.append(Finding("allergy_conflict", cross.severity,
                                           f"{m.name} ({klass.label}) may cross-react with the recorded allergy "
                                           f"to {written}",
                                           f"{evidence_base}; {cross.note}. Source: {cross.source}",
                                           "medications", 0, len(m.name), i))
    return out


def _interaction_findings(known, facts: EncounterFacts, kb: Knowledge) -> list[Finding]:
    out = []
    current = []
    for text in facts.current_medications:
        drug = kb.find_drug(text)
        if drug is not None and all(drug.name != d.name for _, d in current):
            current.append((text, drug))
    seen: set[frozenset] = set()
    for pos, (i, m, drug) in enumerate(known):
        others = [(o.name, d, "plan") for _, o, d in known[pos + 1:]] + [(t, d, "current") for t, d in current]
        for other_text, other, where in others:
            pair = frozenset((drug.name, other.name))
            if other.name == drug.name or pair in seen:
                continue
            for inter in kb.interactions_between(drug, other):
                seen.add(pair)
                source = "also in the plan" if where == "plan" else "a current medication"
                out.append(Finding(
                    "interaction", inter.severity,
                    f"{m.name} with {other_text} ({source}): {inter.reason}",
                    f"{m.name} + {other_text} ({drug.name} + {other.name}): {inter.reason}. Source: {inter.source}",
                    "medications", 0, len(m.name), i,
                ))
    return out

