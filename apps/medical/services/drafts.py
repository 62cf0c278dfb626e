"""EMR drafts and their versions: a model draft (a job of kind "medical.draft"), hand-written and edited
versions. Every version is verified (queue default) when it is written; final versions never change."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from apps.accounts.audit import audit_log
from apps.core.exceptions import ApplicationError
from apps.medical.models import Draft, Encounter
from apps.medical.prompts import SOAP_SECTIONS, parse_json_object
from apps.medical.services.encounters import MAX_TEXT_CHARS, _require_medical, latest_triage_level

DRAFT_JOB_KIND = "medical.draft"
DraftStatus = Draft.Status

SECTION_NAMES = tuple(name for name, _ in SOAP_SECTIONS)


def _next_version(encounter: Encounter) -> int:
    Encounter.objects.select_for_update().filter(pk=encounter.pk).first()  # serialises version numbers
    return (encounter.drafts.aggregate(v=Max("version"))["v"] or 0) + 1


@transaction.atomic
def draft_request(*, encounter: Encounter, actor, request=None) -> Draft:
    """A new draft version written by the model (a job submitted through apps.generation, enqueued on commit);
    verified when it is written."""
    from apps.generation.services import job_submit

    _require_medical(actor)
    section_tokens, codes_tokens = settings.PLUMBLINE_MEDICAL_SECTION_TOKENS, settings.PLUMBLINE_MEDICAL_CODES_TOKENS
    # The job's prompt names the work by ids only: the patient's facts are read by the runner.
    # four sections, the codes and the medications, each JSON answer possibly asked again with twice its budget
    job = job_submit(kind=DRAFT_JOB_KIND, owner=actor, prompt=f"Medical draft of encounter {encounter.pk}",
                     max_tokens=4 * section_tokens + 6 * codes_tokens, request=request,
                     detail={"encounter": encounter.pk})
    draft = Draft.objects.create(
        encounter=encounter, version=_next_version(encounter), job=job, author=actor, source="model",
        triage_level=latest_triage_level(encounter), section_tokens=section_tokens,
        codes_tokens=codes_tokens,
    )
    audit_log(actor=actor, action="medical_draft.request", obj=draft, request=request,
              detail={"encounter": encounter.pk, "job": job.pk, "version": draft.version})
    return draft


def parse_codes_output(text: str, medications_text: str | None = None) -> tuple[list[dict], list[dict], str]:
    """(icd codes, medications, why unusable) from the model's coded JSON: the codes answer and the medications
    answer (apps.medical.closed_sets shapes), or one object holding both (`medications_text` None). A code's
    description is the ICD-10-CM table's. An answer that is not a complete JSON object gives nothing."""
    from apps.medical.closed_sets import icd_description, medication_order

    notes = []
    data = parse_json_object(text.strip())
    if data is None:
        notes.append("the ICD codes were not a complete JSON object" if medications_text is not None else
                     "the coded part (ICD codes, medications) was not a complete JSON object")
        data = {}
    meds_data = data
    if medications_text is not None:
        meds_data = parse_json_object(medications_text.strip())
        if meds_data is None:
            notes.append("the medications were not a complete JSON object")
            meds_data = {}
    codes = []
    for c in data.get("icd_codes") or []:
        if isinstance(c, dict) and c.get("code"):
            code = str(c["code"]).strip().upper()
            description = str(c.get("description") or "").strip() or icd_description(code)
            codes.append({"code": code, "description": description})
    meds = []
    for m in meds_data.get("medications") or []:
        if not isinstance(m, dict) or not m.get("name"):
            continue
        if "unit" in m:  # the closed-set shape: dose in the drug's unit, frequency from an enumeration
            order = medication_order(m)
            if order is not None:
                meds.append(order)
            continue
        dose = m.get("dose_mg")
        dose = float(dose) if isinstance(dose, int | float) and not isinstance(dose, bool) else None
        meds.append({
            "name": str(m["name"]).strip(), "dose_mg": dose,
            "dose_text": f"{dose:g} mg" if dose is not None else "", "route": str(m.get("route") or ""),
            "frequency": str(m.get("frequency") or ""),
            "times_per_day": m.get("times_per_day") if isinstance(m.get("times_per_day"), int) else None,
        })
    return codes, meds, "; ".join(notes)


@transaction.atomic
def draft_record(
    *, job_id: int, attempt: int, sections: dict[str, str], codes_text: str, finish_reason: str,
    medications_text: str | None = None, prompt_tokens: int = 0, completion_tokens: int = 0, adapter_label: str = "",
) -> Draft | None:
    """Store the generated version (once, by the current attempt) and enqueue its verification on commit."""
    from apps.generation.services import job_finish, job_owned

    if job_owned(job_id=job_id, attempt=attempt) is None:
        return None
    draft = Draft.objects.select_for_update().get(job_id=job_id)
    if draft.triage_level is None:  # triage may have ended while the draft was being written
        draft.triage_level = latest_triage_level(draft.encounter)
    for name in SECTION_NAMES:
        setattr(draft, name, (sections.get(name) or "").strip()[:MAX_TEXT_CHARS])
    draft.icd_codes, draft.medications, note = parse_codes_output(codes_text, medications_text)
    draft.generation_note = note[:300]
    draft.adapter_label = adapter_label
    draft.status = DraftStatus.VERIFYING
    draft.save()
    # The text stays in the draft: the job (a clinical kind) ends with ids, state and counts only.
    job_finish(job_id=job_id, attempt=attempt, output="", finish_reason=finish_reason,
               prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    audit_log(actor=None, action="medical_draft.generated", obj=draft, via="worker",
              detail={"encounter": draft.encounter_id, "version": draft.version, "job": job_id})
    _enqueue_verification(draft)
    return draft


def draft_job_ended(*, job, error: str) -> None:
    """on_end of draft jobs (failed, timed out, cancelled): the version fails to generate. Called in the
    transaction that ended the job; `error` is an exception type or a message free of patient data."""
    draft = Draft.objects.select_for_update().filter(job_id=job.pk).first()
    if draft is None or draft.status != DraftStatus.GENERATING:
        return
    draft.status, draft.error = DraftStatus.FAILED, (error or f"the generation job was {job.status}")[:2000]
    draft.save(update_fields=["status", "error"])
    audit_log(actor=None, action="medical_draft.failed", obj=draft, via="worker",
              detail={"encounter": draft.encounter_id, "job": job.pk})


def _enqueue_verification(draft: Draft) -> None:
    from apps.medical.tasks import verify_draft_version

    transaction.on_commit(lambda: verify_draft_version.delay(draft.pk))


def draft_read_audit(*, draft: Draft, user, request=None) -> None:
    audit_log(actor=user, action="medical_draft.read", obj=draft, request=request,
              detail={"encounter": draft.encounter_id, "version": draft.version})


def _clean_content(content: dict) -> dict:
    errors: dict[str, str] = {}
    out: dict = {}
    for name in SECTION_NAMES:
        value = content.get(name, "")
        if not isinstance(value, str):
            errors[name] = f"{name} must be text"
        elif len(value) > MAX_TEXT_CHARS:
            errors[name] = f"{name} must be at most {MAX_TEXT_CHARS} characters"
        else:
            out[name] = value.strip()
    codes = content.get("icd_codes") or []
    if not isinstance(codes, list) or not all(isinstance(c, dict) and str(c.get("code", "")).strip() for c in codes):
        errors["icd_codes"] = "icd_codes must be a list of {code, description}, each with a code"
    else:
        out["icd_codes"] = [{"code": str(c["code"]).strip().upper(), "description": str(c.get("description") or "")}
                            for c in codes]
    meds = content.get("medications") or []
    if not isinstance(meds, list) or not all(isinstance(m, dict) and str(m.get("name", "")).strip() for m in meds):
        errors["medications"] = "medications must be a list of {name, dose_mg, route, frequency, times_per_day}"
    else:
        out["medications"] = []
        for m in meds:
            dose = m.get("dose_mg")
            if dose is not None and (isinstance(dose, bool) or not isinstance(dose, int | float) or dose <= 0):
                errors["medications"] = f"dose_mg of {m['name']} must be a positive number of mg"
                continue
            tpd = m.get("times_per_day")
            if tpd is not None and (isinstance(tpd, bool) or not isinstance(tpd, int) or not 1 <= tpd <= 24):
                errors["medications"] = f"times_per_day of {m['name']} must be 1-24"
                continue
            out["medications"].append({
                "name": str(m["name"]).strip(), "dose_mg": float(dose) if dose is not None else None,
                "dose_text": str(m.get("dose_text") or (f"{float(dose):g} mg" if dose is not None else "")),
                "route": str(m.get("route") or ""), "frequency": str(m.get("frequency") or ""), "times_per_day": tpd,
            })
    if errors:
        raise ValidationError({k: [v] for k, v in errors.items()})
    return out


@transaction.atomic
def draft_write(*, encounter: Encounter, author, content: dict, request=None) -> Draft:
    """A hand-written version (no model): verified and reviewed like any other."""
    _require_medical(author)
    clean = _clean_content(content)
    draft = Draft.objects.create(
        encounter=encounter, version=_next_version(encounter), author=author, source="edit",
        status=DraftStatus.VERIFYING, triage_level=latest_triage_level(encounter), **clean,
    )
    audit_log(actor=author, action="medical_draft.write", obj=draft, request=request,
              detail={"encounter": encounter.pk, "version": draft.version})
    _enqueue_verification(draft)
    return draft


@transaction.atomic
def draft_edit(*, draft: Draft, actor, content: dict, request=None) -> Draft:
    """A new version from an edit of `draft` (the latest version); it is verified and reviewed again."""
    clean = _clean_content(content)
    base = Draft.objects.select_for_update().get(pk=draft.pk)
    latest = base.encounter.drafts.order_by("-version").values_list("version", flat=True).first()
    if base.version != latest:
        raise ApplicationError(
            f"version {base.version} is not the latest (v{latest}); edit the latest version", status=409, code="stale"
        )
    if base.status in (DraftStatus.GENERATING, DraftStatus.VERIFYING):
        raise ApplicationError(f"version {base.version} is still {base.status}; wait until it ends", status=409,
                               code="busy")
    new = Draft.objects.create(
        encounter=base.encounter, version=_next_version(base.encounter), parent=base, author=actor, source="edit",
        status=DraftStatus.VERIFYING, triage_level=base.triage_level, **clean,
    )
    if base.status != DraftStatus.FINAL:  # a final version stays final (and unchanged); others are superseded
        base.status = DraftStatus.SUPERSEDED
        base.save(update_fields=["status"])
    audit_log(actor=actor, action="medical_draft.edit", obj=new, request=request,
              detail={"encounter": new.encounter_id, "version": new.version, "parent": base.pk})
    _enqueue_verification(new)
    return new
