"""Writes of the medical app: encounters, triage, EMR drafts and their versions, verification, expert review.

Triage and drafting each run as one GenerationJob on queue gpu. A job may be delivered more than once
(acks_late); each delivery that starts it gets a new attempt number (apps.generation.services.job_start), and
a result is stored only by the job's current attempt while the job has not ended, so a redelivered task can
neither store twice nor overwrite a newer attempt. Verification runs on queue default after a draft version
is written; it stores findings once per version (a redelivery finds the version verified and does nothing).

A draft version is final only when verification passed, a reviewer scored it above 0.8 and that reviewer is
not the version's author. Final versions never change; an edit writes a new version that is verified and
reviewed again. Verification is "unverifiable" when its only errors say a check could not run
(ACKNOWLEDGEABLE_CHECKS); it passes once a reviewer other than the author acknowledges each of them.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.core.exceptions import ApplicationError
from apps.generation.models import GenerationJob
from apps.medical.clinical import TriageCase, Vitals, case_errors
from apps.medical.models import VITAL_FIELDS, Draft, Encounter, Finding, Review, TriageAssessment
from apps.medical.prompts import DEPARTMENTS, SOAP_SECTIONS, parse_json_object
from apps.medical.verification.types import ACKNOWLEDGEABLE_CHECKS

DraftStatus = Draft.Status
Verification = Draft.Verification

PATIENT_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")
MAX_LIST_ITEMS, MAX_ITEM_CHARS = 30, 100
MAX_TEXT_CHARS = 8000
MAX_ACKNOWLEDGE_NOTE_CHARS = 300
FINAL_SCORE_ABOVE = Decimal("0.80")  # a score must be strictly above this to approve
SECTION_NAMES = tuple(name for name, _ in SOAP_SECTIONS)


# --- encounters ----------------------------------------------------------------------------------------
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


# --- jobs ---------------------------------------------------------------------------------------------------
def _new_job(*, owner, encounter: Encounter, what: str, max_tokens: int) -> GenerationJob:
    from apps.generation.model_api import adapter_for_domain

    # The job's prompt field names the work by ids only: the patient's facts are read by the worker.
    return GenerationJob.objects.create(
        owner=owner, domain=GenerationJob.Domain.MEDICAL, adapter=adapter_for_domain("medical"),
        prompt=f"Medical {what} of encounter {encounter.pk}", max_tokens=max_tokens,
        model_name=settings.PLUMBLINE_MODEL,
    )


def _claim_current(job_id: int, attempt: int) -> GenerationJob | None:
    """The job locked, when this attempt still owns it; None for a stale or ended delivery."""
    job = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.attempts != attempt or job.is_terminal:
        return None
    return job


# --- triage ---------------------------------------------------------------------------------------------
@transaction.atomic
def triage_request(*, encounter: Encounter, actor, request=None) -> TriageAssessment:
    """Write a pending triage and its gpu job; the job is enqueued when the transaction commits."""
    from apps.medical.tasks import run_triage

    _require_medical(actor)
    job = _new_job(owner=actor, encounter=encounter, what="triage", max_tokens=settings.PLUMBLINE_MEDICAL_TRIAGE_TOKENS)
    triage = TriageAssessment.objects.create(encounter=encounter, job=job)
    audit_log(actor=actor, action="medical_triage.request", obj=triage, request=request,
              detail={"encounter": encounter.pk, "job": job.pk})
    transaction.on_commit(lambda: run_triage.delay(job.pk))
    return triage


def parse_triage_output(text: str) -> tuple[int | None, str, str, str]:
    """(level, department, rationale, why unusable) from the model's JSON; level None when it is unusable."""
    data = parse_json_object(text.strip())
    if data is None:
        return None, "", "", "the model's answer was not a complete JSON object"
    level = data.get("esi_level")
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        return None, "", "", f"the model's esi_level {level!r} is not 1-5"
    department = data.get("department") if data.get("department") in DEPARTMENTS else ""
    rationale = str(data.get("rationale") or "")[:500]
    return level, department, rationale, ""


@transaction.atomic
def triage_record(
    *, job_id: int, attempt: int, text: str, finish_reason: str, error: str = "", prompt_tokens: int = 0,
    completion_tokens: int = 0, adapter_label: str = "",
) -> TriageAssessment | None:
    """Store the model's proposal combined with the rules; None for a stale delivery. A failed or unusable
    proposal leaves the rules' level standing, and the record says why."""
    from apps.generation.services import job_finish

    if _claim_current(job_id, attempt) is None:
        return None
    triage = TriageAssessment.objects.select_for_update().select_related("encounter").get(job_id=job_id)
    if finish_reason in ("error", "deadline", "cancelled"):
        outcome, why = TriageAssessment.ModelOutcome.FAILED, error or f"the model request ended: {finish_reason}"
        level, department, rationale = None, "", ""
    else:
        level, department, rationale, why = parse_triage_output(text)
        outcome = TriageAssessment.ModelOutcome.OK if level is not None else TriageAssessment.ModelOutcome.UNUSABLE
    _triage_combine(triage, model_level=level, outcome=outcome, why=why, department=department, rationale=rationale)
    triage.adapter_label = adapter_label
    triage.save()
    job_finish(job_id=job_id, attempt=attempt, output=text, finish_reason=finish_reason,
               prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, error=error)
    _triage_audit(triage)
    return triage


def _triage_combine(triage: TriageAssessment, *, model_level, outcome, why, department, rationale) -> None:
    from apps.medical.triage_rules import combine, rules_triage

    rules = rules_triage(triage.encounter.triage_case())
    final = combine(model_level, rules)
    triage.status = TriageAssessment.Status.DONE
    triage.model_outcome, triage.model_error = outcome, why[:300]
    triage.model_level, triage.rules_level, triage.final_level = model_level, rules.level, final.level
    triage.rule_fired, triage.rules_reason = final.rule_fired or rules.rule, rules.reason[:300]
    triage.raised_by_rules = final.raised_by_rules
    triage.department, triage.rationale = department, rationale
    note = "" if outcome == TriageAssessment.ModelOutcome.OK else f"Model proposal {outcome}: {why}. "
    triage.explanation = (note + final.explanation)[:2000]
    triage.finished_at = timezone.now()


def _triage_audit(triage: TriageAssessment) -> None:
    audit_log(actor=None, action="medical_triage.complete", obj=triage, via="worker", detail={
        "encounter": triage.encounter_id, "final_level": triage.final_level, "model_level": triage.model_level,
        "rules_level": triage.rules_level, "rule": triage.rule_fired, "model_outcome": triage.model_outcome,
    })


@transaction.atomic
def triage_fail(*, job_id: int, error: str, attempt: int | None = None) -> TriageAssessment | None:
    """The task failed (a bug, a time limit): the job fails, and the rules' level stands on its own."""
    from apps.generation.services import job_fail

    job = job_fail(job_id=job_id, error=error, attempt=attempt)
    if job is None:
        return None
    triage = TriageAssessment.objects.select_for_update().select_related("encounter").get(job_id=job_id)
    if triage.status != TriageAssessment.Status.PENDING:
        return triage
    _triage_combine(triage, model_level=None, outcome=TriageAssessment.ModelOutcome.FAILED,
                    why=error, department="", rationale="")
    triage.save()
    _triage_audit(triage)
    return triage


# --- drafts -----------------------------------------------------------------------------------------------
def _next_version(encounter: Encounter) -> int:
    Encounter.objects.select_for_update().filter(pk=encounter.pk).first()  # serialises version numbers
    return (encounter.drafts.aggregate(v=Max("version"))["v"] or 0) + 1


@transaction.atomic
def draft_request(*, encounter: Encounter, actor, request=None) -> Draft:
    """A new draft version written by the model (gpu job, enqueued on commit); verified when it is written."""
    from apps.medical.tasks import generate_draft

    _require_medical(actor)
    section_tokens, codes_tokens = settings.PLUMBLINE_MEDICAL_SECTION_TOKENS, settings.PLUMBLINE_MEDICAL_CODES_TOKENS
    job = _new_job(owner=actor, encounter=encounter, what="draft", max_tokens=4 * section_tokens + codes_tokens)
    draft = Draft.objects.create(
        encounter=encounter, version=_next_version(encounter), job=job, author=actor, source="model",
        triage_level=latest_triage_level(encounter), section_tokens=section_tokens,
        codes_tokens=codes_tokens,
    )
    audit_log(actor=actor, action="medical_draft.request", obj=draft, request=request,
              detail={"encounter": encounter.pk, "job": job.pk, "version": draft.version})
    transaction.on_commit(lambda: generate_draft.delay(job.pk))
    return draft


def draft_progress(*, job_id: int, attempt: int, section: str, text: str, completion_tokens: int) -> bool:
    """Live text of the section being written (on the job row); False when this delivery should stop."""
    from apps.generation.services import job_progress

    return job_progress(job_id=job_id, attempt=attempt, output=f"[{section}] {text}",
                        completion_tokens=completion_tokens, prompt_tokens=0)


def parse_codes_output(text: str) -> tuple[list[dict], list[dict], str]:
    """(icd codes, medications, why unusable) from the model's coded JSON."""
    data = parse_json_object(text.strip())
    if data is None:
        return [], [], "the coded part (ICD codes, medications) was not a complete JSON object"
    codes = [
        {"code": str(c.get("code", "")).strip().upper(), "description": str(c.get("description", "")).strip()}
        for c in data.get("icd_codes") or [] if isinstance(c, dict) and c.get("code")
    ]
    meds = []
    for m in data.get("medications") or []:
        if not isinstance(m, dict) or not m.get("name"):
            continue
        dose = m.get("dose_mg")
        dose = float(dose) if isinstance(dose, int | float) and not isinstance(dose, bool) else None
        meds.append({
            "name": str(m["name"]).strip(), "dose_mg": dose,
            "dose_text": f"{dose:g} mg" if dose is not None else "", "route": str(m.get("route") or ""),
            "frequency": str(m.get("frequency") or ""),
            "times_per_day": m.get("times_per_day") if isinstance(m.get("times_per_day"), int) else None,
        })
    return codes, meds, ""


@transaction.atomic
def draft_record(
    *, job_id: int, attempt: int, sections: dict[str, str], codes_text: str, finish_reason: str,
    prompt_tokens: int = 0, completion_tokens: int = 0, adapter_label: str = "",
) -> Draft | None:
    """Store the generated version (once, by the current attempt) and enqueue its verification on commit."""
    from apps.generation.services import job_finish

    if _claim_current(job_id, attempt) is None:
        return None
    draft = Draft.objects.select_for_update().get(job_id=job_id)
    if draft.triage_level is None:  # triage may have ended while the draft was being written
        draft.triage_level = latest_triage_level(draft.encounter)
    for name in SECTION_NAMES:
        setattr(draft, name, (sections.get(name) or "").strip()[:MAX_TEXT_CHARS])
    draft.icd_codes, draft.medications, note = parse_codes_output(codes_text)
    draft.generation_note = note[:300]
    draft.adapter_label = adapter_label
    draft.status = DraftStatus.VERIFYING
    draft.save()
    output = "\n\n".join(f"{n.upper()}: {getattr(draft, n)}" for n in SECTION_NAMES) + f"\n\nCODES: {codes_text}"
    job_finish(job_id=job_id, attempt=attempt, output=output, finish_reason=finish_reason,
               prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    audit_log(actor=None, action="medical_draft.generated", obj=draft, via="worker",
              detail={"encounter": draft.encounter_id, "version": draft.version, "job": job_id})
    _enqueue_verification(draft)
    return draft


@transaction.atomic
def draft_generation_fail(*, job_id: int, error: str, attempt: int | None = None) -> Draft | None:
    from apps.generation.services import job_fail

    if job_fail(job_id=job_id, error=error, attempt=attempt) is None:
        return None
    draft = Draft.objects.select_for_update().get(job_id=job_id)
    if draft.status == DraftStatus.GENERATING:
        draft.status, draft.error = DraftStatus.FAILED, error[:2000]
        draft.save(update_fields=["status", "error"])
        audit_log(actor=None, action="medical_draft.failed", obj=draft, via="worker",
                  detail={"encounter": draft.encounter_id, "job": job_id})
    return draft


def _enqueue_verification(draft: Draft) -> None:
    from apps.medical.tasks import verify_draft_version

    transaction.on_commit(lambda: verify_draft_version.delay(draft.pk))


def draft_content(draft: Draft):
    """The version as verification's DraftContent."""
    from apps.medical.verification import CodedDiagnosis, DraftContent, MedicationOrder

    return DraftContent(
        subjective=draft.subjective, objective=draft.objective, assessment=draft.assessment, plan=draft.plan,
        icd_codes=[CodedDiagnosis(code=c["code"], description=c.get("description", "")) for c in draft.icd_codes],
        medications=[
            MedicationOrder(name=m["name"], dose_mg=m.get("dose_mg"), dose_text=m.get("dose_text", ""),
                            route=m.get("route", ""), frequency=m.get("frequency", ""),
                            times_per_day=m.get("times_per_day"))
            for m in draft.medications
        ],
        triage_level=draft.triage_level,
    )


def encounter_facts(encounter: Encounter):
    from apps.medical.verification import EncounterFacts

    return EncounterFacts(
        age=encounter.age, sex=encounter.sex, vitals=encounter.vitals, allergies=list(encounter.allergies),
        current_medications=list(encounter.current_medications),
        triage_level=latest_triage_level(encounter),
    )


def verification_state(error_checks: list[str]) -> str:
    """FAILED if any error is outside ACKNOWLEDGEABLE_CHECKS, else UNVERIFIABLE if any error is left, else PASSED."""
    if any(check not in ACKNOWLEDGEABLE_CHECKS for check in error_checks):
        return Verification.FAILED
    return Verification.UNVERIFIABLE if error_checks else Verification.PASSED


@transaction.atomic
def draft_verify(*, draft_id: int) -> Draft | None:
    """Run the knowledge-base checks on a version and store its findings (once: a verified version is left as is)."""
    from apps.medical.verification import verify_draft

    draft = Draft.objects.select_for_update().select_related("encounter").filter(pk=draft_id).first()
    if draft is None or draft.verification != Verification.PENDING or draft.status != DraftStatus.VERIFYING:
        return None
    findings = verify_draft(draft_content(draft), encounter_facts(draft.encounter))
    Finding.objects.filter(draft=draft).delete()
    Finding.objects.bulk_create(
        Finding(draft=draft, check_name=f.check[:32], severity=f.severity, message=f.message[:500],
                evidence=(f.evidence or "")[:500], section=f.section[:16], start=max(0, f.start), end=max(0, f.end),
                item=getattr(f, "item", None))
        for f in findings
    )
    draft.verification = verification_state([f.check for f in findings if f.severity == "error"])
    draft.status = DraftStatus.IN_REVIEW
    draft.verified_at = timezone.now()
    draft.save(update_fields=["verification", "status", "verified_at"])
    audit_log(actor=None, action="medical_draft.verify", obj=draft, via="worker", detail={
        "encounter": draft.encounter_id, "version": draft.version, "verification": draft.verification,
        "errors": sum(f.severity == "error" for f in findings), "findings": len(findings),
        "unverifiable": sum(f.severity == "error" and f.check in ACKNOWLEDGEABLE_CHECKS for f in findings),
    })
    return draft


@transaction.atomic
def draft_verify_fail(*, draft_id: int, error: str) -> Draft | None:
    """Verification could not run: the version fails it (fail closed) with one error finding saying so."""
    draft = Draft.objects.select_for_update().filter(pk=draft_id).first()
    if draft is None or draft.verification != Verification.PENDING or draft.status != DraftStatus.VERIFYING:
        return None
    Finding.objects.create(draft=draft, check_name="verification", severity="error", section="plan",
                           message=f"the checks could not run ({error[:200]}); the draft cannot be approved")
    draft.verification, draft.status, draft.verified_at = Verification.FAILED, DraftStatus.IN_REVIEW, timezone.now()
    draft.save(update_fields=["verification", "status", "verified_at"])
    audit_log(actor=None, action="medical_draft.verify", obj=draft, via="worker",
              detail={"encounter": draft.encounter_id, "version": draft.version, "verification": "failed",
                      "errors": 1, "findings": 1})
    return draft


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


# --- review -----------------------------------------------------------------------------------------------
def _score(value) -> Decimal:
    try:
        score = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ApplicationError(f"score must be a number 0-1, got {value!r}", field="score") from None
    if not score.is_finite() or not Decimal(0) <= score <= Decimal(1):
        raise ApplicationError(f"score must be between 0 and 1, got {value}", field="score")
    if score != score.quantize(Decimal("0.01")):
        raise ApplicationError(f"score has at most two decimals, got {value}", field="score")
    return score


@transaction.atomic
def review_submit(
    *, draft: Draft, reviewer, score, decision: str, comments: str = "", request=None
) -> Review:
    """Score a version and approve (final) or send it back. Every refusal is a 4xx and writes nothing."""
    if not reviewer.has_perm("medical.add_review"):
        raise ApplicationError("only reviewers may review drafts", status=403, code="forbidden")
    if decision not in Review.Decision.values:
        raise ApplicationError(f"decision must be one of {', '.join(Review.Decision.values)}", field="decision")
    score = _score(score)
    comments = (comments or "").strip()
    if len(comments) > MAX_TEXT_CHARS:
        raise ApplicationError(f"comments must be at most {MAX_TEXT_CHARS} characters", field="comments")
    draft = Draft.objects.select_for_update().get(pk=draft.pk)
    if draft.status == DraftStatus.FINAL:
        raise ApplicationError(f"version {draft.version} is final and cannot be reviewed again", status=409,
                               code="final")
    if draft.status != DraftStatus.IN_REVIEW:
        why = {
            DraftStatus.GENERATING: "is still being generated",
            DraftStatus.VERIFYING: "has not finished verification",
            DraftStatus.SUPERSEDED: "has been replaced by a newer version; review the latest",
            DraftStatus.SENT_BACK: "was sent back; an edit makes a new version to review",
            DraftStatus.FAILED: "failed to generate",
        }.get(draft.status, f"is {draft.status}")
        raise ApplicationError(f"version {draft.version} {why}", status=409, code="not_reviewable")
    if decision == Review.Decision.APPROVE:
        if draft.author_id == reviewer.pk:
            raise ApplicationError("you are this version's author; another reviewer must approve it", status=403,
                                   code="own_draft")
        if draft.verification == Verification.UNVERIFIABLE:
            n = waiting_findings(draft).count()
            raise ApplicationError(
                f"{n} finding(s) of checks that could not run wait for acknowledgement by a reviewer who is not "
                "the author; acknowledge each one before approving", status=409, code="unverifiable",
            )
        if draft.verification != Verification.PASSED:
            n = draft.findings.filter(severity="error").count()
            raise ApplicationError(
                f"verification failed with {n} error finding(s); it cannot be approved — send it back",
                status=409, code="unverified",
            )
        if score <= FINAL_SCORE_ABOVE:
            raise ApplicationError(f"approval needs a score above {FINAL_SCORE_ABOVE}; got {score}", field="score")
    elif not comments:
        raise ApplicationError("say what to change: comments are required to send a draft back", field="comments")
    review = Review.objects.create(draft=draft, reviewer=reviewer, score=score, decision=decision, comments=comments)
    if decision == Review.Decision.APPROVE:
        draft.status, draft.finalized_by, draft.finalized_at = DraftStatus.FINAL, reviewer, timezone.now()
        draft.save(update_fields=["status", "finalized_by", "finalized_at"])
    else:
        draft.status = DraftStatus.SENT_BACK
        draft.save(update_fields=["status"])
    audit_log(actor=reviewer, action=f"medical_review.{decision}", obj=review, request=request,
              detail={"draft": draft.pk, "encounter": draft.encounter_id, "version": draft.version,
                      "score": str(score)})
    if draft.status == DraftStatus.FINAL:
        audit_log(actor=reviewer, action="medical_draft.finalize", obj=draft, request=request,
                  detail={"encounter": draft.encounter_id, "version": draft.version})
    return review


# --- acknowledgement of findings whose check could not run ---------------------------------------------
def waiting_findings(draft: Draft):
    """The version's acknowledgeable errors that no reviewer has acknowledged yet."""
    return draft.findings.filter(severity="error", check_name__in=ACKNOWLEDGEABLE_CHECKS,
                                 acknowledged_at__isnull=True)


@transaction.atomic
def finding_acknowledge(*, finding: Finding, actor, note: str, request=None) -> Finding:
    """A reviewer who is not the version's author acknowledges an error whose check could not run, saying why.

    The draft row is locked first, so a double click waits for the first and is answered 409; when the last
    waiting finding is acknowledged and no other error remains, the version's verification passes (audited).
    Every refusal is a 4xx and writes nothing.
    """
    if not actor.has_perm("medical.add_review"):
        raise ApplicationError("only reviewers may acknowledge findings", status=403, code="forbidden")
    note = note.strip() if isinstance(note, str) else ""
    if not note:
        raise ApplicationError("note is required: say why the finding is acceptable", field="note")
    if len(note) > MAX_ACKNOWLEDGE_NOTE_CHARS:
        raise ApplicationError(f"note must be at most {MAX_ACKNOWLEDGE_NOTE_CHARS} characters, got {len(note)}",
                               field="note")
    draft = Draft.objects.select_for_update().get(pk=finding.draft_id)
    finding = Finding.objects.select_for_update().get(pk=finding.pk)  # as of now, after the draft lock
    if draft.author_id == actor.pk:
        raise ApplicationError("you are this version's author; another reviewer must acknowledge its findings",
                               status=403, code="own_draft")
    latest = draft.encounter.drafts.order_by("-version").values_list("version", flat=True).first()
    if draft.status != DraftStatus.IN_REVIEW or draft.version != latest:
        raise ApplicationError(
            f"version {draft.version} is not the current version in review (it is {draft.status}; latest v{latest})",
            status=409, code="not_reviewable",
        )
    if not finding.acknowledgeable:
        raise ApplicationError(
            f"finding {finding.pk} ({finding.severity} of check {finding.check_name}) is not one a reviewer can "
            "acknowledge; only errors of checks that could not run are", status=409, code="not_acknowledgeable",
        )
    if finding.acknowledged_at is not None:
        raise ApplicationError(f"finding {finding.pk} is already acknowledged", status=409,
                               code="already_acknowledged")
    finding.acknowledged_by, finding.acknowledged_at, finding.acknowledge_note = actor, timezone.now(), note
    finding.save(update_fields=["acknowledged_by", "acknowledged_at", "acknowledge_note"])
    ids = {"draft": draft.pk, "encounter": draft.encounter_id, "version": draft.version}
    audit_log(actor=actor, action="medical_finding.acknowledge", obj=finding, request=request,
              detail={**ids, "check": finding.check_name})
    errors = list(draft.findings.filter(severity="error", acknowledged_at__isnull=True)
                  .values_list("check_name", flat=True))
    if draft.verification == Verification.UNVERIFIABLE and verification_state(errors) == Verification.PASSED:
        draft.verification = Verification.PASSED
        draft.save(update_fields=["verification"])
        audit_log(actor=actor, action="medical_draft.verify", obj=draft, request=request,
                  detail={**ids, "verification": draft.verification, "via": "acknowledgement"})
    return finding


# --- training export --------------------------------------------------------------------------------------
def training_export(*, actor=None, via: str = "worker") -> list[dict]:
    """Reviewed versions as training rows (final = approved, sent back = rejected), free text de-identified."""
    from apps.medical.deid import deidentify
    from apps.medical.prompts import encounter_facts_text

    drafts = (Draft.objects.filter(status__in=[DraftStatus.FINAL, DraftStatus.SENT_BACK])
              .select_related("encounter").prefetch_related("reviews").order_by("id"))
    rows = []
    for d in drafts:
        review = list(d.reviews.all())[-1] if d.reviews.all() else None
        rows.append({
            "draft": d.pk, "version": d.version, "label": "approved" if d.is_final else "rejected",
            "score": float(review.score) if review else None,
            "prompt": deidentify(encounter_facts_text(d.encounter)),
            **{n: deidentify(getattr(d, n)) for n in SECTION_NAMES},
            "icd_codes": [c["code"] for c in d.icd_codes],
            "medications": [{k: m.get(k) for k in ("name", "dose_mg", "route", "frequency", "times_per_day")}
                            for m in d.medications],
            "review_comments": deidentify(review.comments) if review else "",
        })
    audit_log(actor=actor, action="medical_draft.export", object_type="medical.draft", via=via,
              detail={"ids": [r["draft"] for r in rows][:500], "rows": len(rows)})
    return rows
