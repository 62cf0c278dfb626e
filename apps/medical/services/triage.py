"""Triage: a job of kind "medical.triage" asks the model for an ESI level; the rules always run too, and the
final level is never below what the rules say. A failed or unusable proposal leaves the rules' level standing."""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.medical.models import Encounter, TriageAssessment
from apps.medical.prompts import DEPARTMENTS, parse_json_object
from apps.medical.services.encounters import _require_medical

TRIAGE_JOB_KIND = "medical.triage"


@transaction.atomic
def triage_request(*, encounter: Encounter, actor, request=None) -> TriageAssessment:
    """Write a pending triage and submit its job (apps.generation; enqueued when the transaction commits)."""
    from apps.generation.services import job_submit

    _require_medical(actor)
    # The job's prompt names the work by ids only: the patient's facts are read by the runner.
    job = job_submit(kind=TRIAGE_JOB_KIND, owner=actor, prompt=f"Medical triage of encounter {encounter.pk}",
                     max_tokens=settings.PLUMBLINE_MEDICAL_TRIAGE_TOKENS, request=request,
                     detail={"encounter": encounter.pk})
    triage = TriageAssessment.objects.create(encounter=encounter, job=job)
    audit_log(actor=actor, action="medical_triage.request", obj=triage, request=request,
              detail={"encounter": encounter.pk, "job": job.pk})
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
    from apps.generation.services import job_finish, job_owned

    if job_owned(job_id=job_id, attempt=attempt) is None:
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
    # The proposal stays in the triage record: the job (a clinical kind) ends with ids, state and counts only.
    job_finish(job_id=job_id, attempt=attempt, output="", finish_reason=finish_reason,
               prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, error=error)
    if outcome != TriageAssessment.ModelOutcome.FAILED:  # the model's level (0: none usable) for drift monitoring
        from apps.monitoring.services import observation_outcome

        observation_outcome(job_id=job_id, triage_level=level or 0)
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


def triage_job_ended(*, job, error: str) -> None:
    """on_end of triage jobs (failed, timed out, cancelled): the rules' level stands on its own, and the record
    says why the model's proposal is missing. Called in the transaction that ended the job."""
    triage = TriageAssessment.objects.select_for_update().select_related("encounter").filter(job_id=job.pk).first()
    if triage is None or triage.status != TriageAssessment.Status.PENDING:
        return
    _triage_combine(triage, model_level=None, outcome=TriageAssessment.ModelOutcome.FAILED,
                    why=error or f"the model request was {job.status}", department="", rationale="")
    triage.save()
    _triage_audit(triage)
