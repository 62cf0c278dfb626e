"""Demo data for the medical app, created by `manage.py seed_demo` (idempotent).

Three FICTIONAL encounters (pseudonymous ids DEMO-ED-000n; no real patient) by demo-clinician, one of them
with a hand-written SOAP note that is verified at once and waits in demo-reviewer's review queue.
"""
from __future__ import annotations

from collections.abc import Callable

DEMO_CLINICIAN = "demo-clinician"

DEMO_ENCOUNTERS = (
    {
        "patient_ref": "DEMO-ED-0001", "age": 67, "sex": "female", "chief_complaint": "shortness of breath and wheeze",
        "heart_rate": 112, "systolic_bp": 150, "diastolic_bp": 88, "respiratory_rate": 26, "spo2": 91,
        "temperature_c": 37.4, "pain_score": 3, "consciousness": "alert",
        "history": "COPD, two admissions last year. Ex-smoker.", "allergies": ["sulfonamides"],
        "current_medications": ["salbutamol inhaler", "tiotropium"],
        "notes": "Worse over two days, more sputum. Speaking in short sentences.",
    },
    {
        "patient_ref": "DEMO-ED-0002", "age": 34, "sex": "male", "chief_complaint": "laceration to left forearm",
        "heart_rate": 84, "systolic_bp": 128, "diastolic_bp": 80, "respiratory_rate": 14, "spo2": 99,
        "temperature_c": 36.6, "pain_score": 4, "consciousness": "alert", "history": "", "allergies": [],
        "current_medications": [], "notes": "Cut on glass 1 hour ago, 3 cm, bleeding controlled.",
    },
    {
        "patient_ref": "DEMO-ED-0003", "age": 58, "sex": "male", "chief_complaint": "central chest pain for 40 minutes",
        "heart_rate": 96, "systolic_bp": 148, "diastolic_bp": 90, "respiratory_rate": 18, "spo2": 97,
        "temperature_c": 36.8, "pain_score": 7, "consciousness": "alert", "history": "Hypertension. Smoker.",
        "allergies": ["penicillin"], "current_medications": ["ramipril"],
        "notes": "Pain radiates to the left arm, sweaty.",
    },
)

DEMO_NOTE = {
    "subjective": "58-year-old man with central chest pain for 40 minutes radiating to the left arm, sweaty.",
    "objective": "HR 96, BP 148/90, RR 18, SpO2 97%, temperature 36.8 C. Alert.",
    "assessment": "Chest pain, possible acute coronary syndrome.",
    "plan": "ECG and troponin. Aspirin 300 mg oral once. Cardiology review.",
    "icd_codes": [{"code": "R07.9", "description": "Chest pain, unspecified"}],
    "medications": [{"name": "aspirin", "dose_mg": 300, "route": "oral", "frequency": "once", "times_per_day": 1}],
}


def demo_medical_seed(*, log: Callable[[str], object]) -> bool:
    """Create the demo encounters that are missing (and the note of the third); True when something was created."""
    from django.db import transaction

    from apps.accounts.models import User
    from apps.medical import services
    from apps.medical.models import Encounter

    clinician = User.objects.filter(username=DEMO_CLINICIAN).first()
    if clinician is None:
        log(f"No {DEMO_CLINICIAN} user; demo medical data skipped.")
        return False
    created = False
    for data in DEMO_ENCOUNTERS:
        if Encounter.objects.filter(patient_ref=data["patient_ref"]).exists():
            continue
        with transaction.atomic():
            encounter = services.encounter_create(created_by=clinician, data=data)
            if data["patient_ref"] == "DEMO-ED-0003":
                draft = services.draft_write(encounter=encounter, author=clinician, content=DEMO_NOTE)
        if data["patient_ref"] == "DEMO-ED-0003":
            services.draft_verify(draft_id=draft.pk)  # at once; the queued task then finds it verified
        created = True
        log(f"Demo encounter {data['patient_ref']} (fictional): {data['chief_complaint']}.")
    return created
