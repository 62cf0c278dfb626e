"""Encounters: validated intake (pseudonymous patient ref, plausible vitals), creation, audited reads."""
from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.audit import audit_log
from apps.core.exceptions import ApplicationError
from apps.medical.clinical import TriageCase, Vitals, case_errors
from apps.medical.models import VITAL_FIELDS, Encounter, TriageAssessment

PATIENT_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")
MAX_LIST_ITEMS, MAX_ITEM_CHARS = 30, 100
MAX_TEXT_CHARS = 8000


def _clean_list(name: str, value, errors: dict[str, str]) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, str):  # "penicillin, sulfa" from a form
        value = value.replace("\n", ",").split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        errors[name] = f"{name} must be a list of strings"
        return []
    items = [v.strip() for v in value if v.strip()]
    if len(items) > MAX_LIST_ITEMS:
        errors[name] = f"{name} has {len(items)} entries; at most {MAX_LIST_ITEMS}"
    elif any(len(v) > MAX_ITEM_CHARS for v in items):
        errors[name] = f"each entry of {name} must be at most {MAX_ITEM_CHARS} characters"
    return items


def encounter_clean(data: dict) -> dict:
    """Validated encounter fields, or ValidationError with one message per bad field (impossible vitals too)."""
    errors: dict[str, str] = {}
    patient_ref = str(data.get("patient_ref") or "").strip()
    if not PATIENT_REF_RE.match(patient_ref):
        errors["patient_ref"] = (
            "patient_ref must be a pseudonymous id of 3-64 letters, digits, '-' or '_' (never a name)"
        )
    vitals = {f: data.get(f) for f in VITAL_FIELDS}
    vitals["consciousness"] = vitals["consciousness"] or None
    case = TriageCase(
        age=data.get("age"), sex=data.get("sex") or "", chief_complaint=str(data.get("chief_complaint") or "").strip(),
        vitals=Vitals(**vitals),
    )
    errors.update(case_errors(case))
    if len(case.chief_complaint) > 300:
        errors["chief_complaint"] = "chief_complaint must be at most 300 characters"
    allergies = _clean_list("allergies", data.get("allergies"), errors)
    medications = _clean_list("current_medications", data.get("current_medications"), errors)
    for name in ("history", "notes"):
        if len(str(data.get(name) or "")) > MAX_TEXT_CHARS:
            errors[name] = f"{name} must be at most {MAX_TEXT_CHARS} characters"
    if errors:
        raise ValidationError({k: [v] for k, v in errors.items()})
    return {
        "patient_ref": patient_ref, "age": case.age, "sex": case.sex, "chief_complaint": case.chief_complaint,
        **{f: vitals[f] for f in VITAL_FIELDS[:-1]}, "consciousness": vitals["consciousness"] or "",
        "history": str(data.get("history") or "").strip(), "notes": str(data.get("notes") or "").strip(),
        "allergies": allergies, "current_medications": medications,
    }


def _require_medical(actor) -> None:
    from apps.accounts.roles import ROLE_DOMAINS

    if "medical" not in ROLE_DOMAINS.get(actor.role or "", ()):
        raise ApplicationError("your role may not start medical work", status=403, code="forbidden")


@transaction.atomic
def encounter_create(*, created_by, data: dict, request=None) -> Encounter:
    _require_medical(created_by)
    encounter = Encounter.objects.create(created_by=created_by, **encounter_clean(data))
    audit_log(actor=created_by, action="medical_encounter.create", obj=encounter, request=request)
    return encounter


@transaction.atomic
def encounter_intake(*, created_by, data: dict, start_work: bool, request=None) -> Encounter:
    """Create an encounter and, when asked, start its triage and a model draft: all in one transaction."""
    from apps.medical.services.drafts import draft_request
    from apps.medical.services.triage import triage_request

    encounter = encounter_create(created_by=created_by, data=data, request=request)
    if start_work:
        triage_request(encounter=encounter, actor=created_by, request=request)
        draft_request(encounter=encounter, actor=created_by, request=request)
    return encounter


def latest_triage_level(encounter: Encounter) -> int | None:
    triage = encounter.triages.filter(status=TriageAssessment.Status.DONE).first()
    return triage.final_level if triage else None


def encounter_read_audit(*, encounter: Encounter, user, request=None) -> None:
    audit_log(actor=user, action="medical_encounter.read", obj=encounter, request=request)


def encounters_list_audit(*, encounter_ids: list[int], user, request=None) -> None:
    audit_log(actor=user, action="medical_encounter.list", object_type="medical.encounter", request=request,
              detail={"ids": encounter_ids[:200]})
