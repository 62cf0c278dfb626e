"""Value types of draft verification: the draft, the encounter facts it is checked against, findings and spans."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from apps.medical.clinical import Vitals

Severity = Literal["error", "warning", "info"]
TEXT_SECTIONS = ("subjective", "objective", "assessment", "plan")


@dataclass(frozen=True)
class CodedDiagnosis:
    code: str
    description: str = ""


@dataclass(frozen=True)
class MedicationOrder:
    name: str
    dose_mg: float | None = None
    dose_text: str = ""
    route: str = ""
    frequency: str = ""
    times_per_day: int | None = None


@dataclass(frozen=True)
class DraftContent:
    subjective: str = ""
    objective: str = ""
    assessment: str = ""
    plan: str = ""
    icd_codes: list[CodedDiagnosis] = field(default_factory=list)
    medications: list[MedicationOrder] = field(default_factory=list)
    triage_level: int | None = None


@dataclass(frozen=True)
class EncounterFacts:
    age: int
    sex: str
    vitals: Vitals
    allergies: list[str] = field(default_factory=list)
    current_medications: list[str] = field(default_factory=list)
    triage_level: int | None = None


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    message: str
    evidence: str
    section: str
    start: int
    end: int
    item: int | None = None  # index into icd_codes / medications for those sections


# Error-level findings that say a check could NOT run (the drug or the recorded fact is unknown to the
# knowledge base). They block "verification passed" until a reviewer acknowledges each one (audited).
ACKNOWLEDGEABLE_CHECKS = frozenset({"drug_unverifiable", "medication_unrecognised", "allergy_unrecognised"})


def verified(findings: list[Finding]) -> bool:
    """True when no finding is an error."""
    return not any(f.severity == "error" for f in findings)


def code_line(c: CodedDiagnosis) -> str:
    """The line a code's spans point into."""
    return f"{c.code} {c.description}".strip()


def medication_line(m: MedicationOrder) -> str:
    """The line a medication's spans point into: name, dose, route, frequency."""
    return " ".join(p for p in (m.name, _dose_label(m), m.route, m.frequency) if p)


def _dose_label(m: MedicationOrder) -> str:
    if m.dose_text:
        return str(m.dose_text)
    mg = _number(m.dose_mg)
    return f"{mg:g} mg" if mg is not None else ("" if m.dose_mg is None else str(m.dose_mg))


def _number(value) -> float | None:
    """A float from model output that may be a number, a numeric string, or junk (None)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def finding_text(draft: DraftContent, f: Finding) -> str:
    """The text a finding's span covers."""
    if f.section in TEXT_SECTIONS:
        text = getattr(draft, f.section)
    elif f.section == "icd_codes":
        text = code_line(draft.icd_codes[f.item])
    elif f.section == "medications":
        text = medication_line(draft.medications[f.item])
    else:
        return ""
    return text[f.start:f.end]

