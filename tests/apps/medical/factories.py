"""Fictional encounters and draft content for the medical tests (no real patient data)."""
from __future__ import annotations

ENCOUNTER = {
    "patient_ref": "PT-TEST-0001",
    "age": 58,
    "sex": "male",
    "chief_complaint": "central chest pain for 40 minutes",
    "heart_rate": 96,
    "systolic_bp": 148,
    "diastolic_bp": 90,
    "respiratory_rate": 18,
    "spo2": 97,
    "temperature_c": 36.8,
    "pain_score": 7,
    "consciousness": "alert",
    "history": "Hypertension. Smoker.",
    "allergies": ["penicillin"],
    "current_medications": ["ramipril"],
    "notes": "Pain radiates to the left arm.",
}

# Danger-zone vitals but a complaint a model may under-triage.
DANGER = {
    **ENCOUNTER, "patient_ref": "PT-TEST-0002", "age": 40, "chief_complaint": "cough",
    "heart_rate": 138, "respiratory_rate": 30, "spo2": 91, "pain_score": 2, "history": "", "notes": "",
    "allergies": [], "current_medications": [],
}


def encounter(user, **overrides):
    from apps.medical.services import encounter_create

    return encounter_create(created_by=user, data={**ENCOUNTER, **overrides})


CLEAN_CONTENT = {
    "subjective": "58-year-old man with central chest pain for 40 minutes radiating to the left arm.",
    "objective": "HR 96, BP 148/90, RR 18, SpO2 97%, temperature 36.8 C. Alert.",
    "assessment": "Chest pain, possible acute coronary syndrome.",
    "plan": "ECG and troponin. Aspirin 300 mg oral once. Cardiology review.",
    "icd_codes": [{"code": "R07.9", "description": "Chest pain, unspecified"}],
    "medications": [{"name": "aspirin", "dose_mg": 300, "route": "oral", "frequency": "once", "times_per_day": 1}],
}

# The same note with planted errors: an allergy conflict (amoxicillin, a penicillin), a dose far above the
# usual range, an ICD code that does not exist, and an Objective that contradicts the recorded vitals.
PLANTED_CONTENT = {
    **CLEAN_CONTENT,
    "objective": "HR 60, BP 148/90, RR 18, SpO2 97%, temperature 36.8 C. Alert.",
    "plan": "ECG and troponin. Amoxicillin 500 mg oral three times a day. Paracetamol 10000 mg oral once.",
    "icd_codes": [{"code": "Z99.999", "description": "made-up code"}],
    "medications": [
        {"name": "amoxicillin", "dose_mg": 500, "route": "oral", "frequency": "three times a day", "times_per_day": 3},
        {"name": "paracetamol", "dose_mg": 10000, "route": "oral", "frequency": "once", "times_per_day": 1},
    ],
}
