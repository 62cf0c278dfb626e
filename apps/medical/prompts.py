"""What the medical model is asked: the triage proposal (structured) and the SOAP draft (prose + coded JSON).

Prompts carry the encounter's clinical facts but never its pseudonymous patient id. Every structured
output is bounded (maxLength / maxItems) so the JSON can close within a small token budget.
"""
from __future__ import annotations

import json

SYSTEM = (
    "You are an emergency department clinical assistant. Be brief and factual. Use only the facts given. "
    "Your output is a draft for a clinician and is checked before use."
)

DEPARTMENTS = (
    "resuscitation", "majors", "minors", "cardiology", "respiratory", "surgery", "orthopaedics", "paediatrics",
    "obstetrics", "psychiatry", "neurology", "general_medicine",
)

TRIAGE_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "esi_level": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
        "department": {"type": "string", "enum": list(DEPARTMENTS)},
        "rationale": {"type": "string", "maxLength": 80},
    },
    "required": ["esi_level", "department", "rationale"],
    "additionalProperties": False,
}

CODES_LISTED = 15  # candidate codes named in the prompt (the schema allows all of them)

SOAP_SECTIONS: tuple[tuple[str, str], ...] = (
    ("subjective", "Write the Subjective section: the patient's complaint and history in two sentences."),
    ("objective", "Write the Objective section: the recorded vital signs and observations, with their numbers."),
    ("assessment", "Write the Assessment section: the most likely diagnosis and its severity, in one sentence."),
    ("plan", "Write the Plan section: investigations, treatment with drug doses, and disposition, briefly."),
)


def _vitals_line(vitals) -> str:
    parts = []
    labels = (
        ("heart_rate", "HR", "/min"), ("systolic_bp", "SBP", " mmHg"), ("diastolic_bp", "DBP", " mmHg"),
        ("respiratory_rate", "RR", "/min"), ("spo2", "SpO2", "%"), ("temperature_c", "Temp", " C"),
        ("pain_score", "Pain", "/10"),
    )
    for name, label, unit in labels:
        value = getattr(vitals, name)
        if value is not None:
            parts.append(f"{label} {value}{unit}")
    if vitals.consciousness:
        parts.append(f"AVPU/confusion: {vitals.consciousness.replace('_', ' ')}")
    return ", ".join(parts) or "not recorded"


def encounter_facts_text(encounter) -> str:
    """The clinical facts of an encounter (or a clinical.TriageCase) as the model sees them (no patient id)."""
    lines = [
        f"Age {encounter.age}, sex {encounter.sex}.",
        f"Chief complaint: {encounter.chief_complaint}",
        f"Vital signs: {_vitals_line(encounter.vitals)}",
    ]
    if encounter.history:
        lines.append(f"History: {encounter.history[:600]}")
    lines.append(f"Allergies: {', '.join(getattr(encounter, 'allergies', ())) or 'none known'}")
    lines.append(f"Current medications: {', '.join(getattr(encounter, 'current_medications', ())) or 'none'}")
    if encounter.notes:
        lines.append(f"Notes: {encounter.notes[:800]}")
    return "\n".join(lines)


def triage_prompt(encounter) -> str:
    return (
        f"{encounter_facts_text(encounter)}\n\n"
        "Assign an Emergency Severity Index level (1 = immediate life-saving intervention, 2 = high risk or "
        "danger-zone vitals, 3 = many resources, 4 = one resource, 5 = none), the department, and a one-sentence "
        "rationale. Answer in JSON."
    )


def section_prompt(encounter, instruction: str, *, triage_level: int | None) -> str:
    level = f"\nTriage level: ESI {triage_level}." if triage_level else ""
    return f"{encounter_facts_text(encounter)}{level}\n\n{instruction}"


def codes_prompt(encounter, *, assessment: str, candidates) -> str:
    """The ICD-10-CM request: the model picks from `candidates` (IcdEntry; the schema allows no other code)."""
    listed = "\n".join(f"{e.code} {e.description}" for e in candidates[:CODES_LISTED])
    return (
        f"{encounter_facts_text(encounter)}\n\nAssessment: {assessment[:400]}\n\n"
        f"Candidate ICD-10-CM codes:\n{listed or 'none'}\n\n"
        "List the ICD-10-CM codes of the assessment, most specific first. Answer in JSON."
    )


def medications_prompt(encounter, *, plan: str) -> str:
    """The medication request: drugs of the knowledge base only, each with a dose in its usual range."""
    return (
        f"{encounter_facts_text(encounter)}\n\nPlan: {plan[:400]}\n\n"
        "List the medications of the plan (generic name, single dose, unit, route, frequency). Answer in JSON."
    )


def parse_json_object(text: str) -> dict | None:
    """The JSON object the model wrote, or None when it is not one (cut off, malformed)."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) else None
