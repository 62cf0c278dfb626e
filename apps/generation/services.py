"""Writes of generation jobs: create, cancel, and the state changes a worker makes while running one.

A job may be delivered to a worker more than once (a lost worker, a broker redelivery). Each delivery
that starts the job gets a new attempt number, and only the current attempt may write progress or an
end state, so completion is idempotent and a stale delivery cannot overwrite a newer one.
"""
from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.accounts.roles import ROLE_DOMAINS
from apps.core.exceptions import ApplicationError
from apps.generation.models import GenerationJob

Status = GenerationJob.Status


@transaction.atomic
def job_create(
    *,
    owner,
    prompt: str,
    domain: str = "general",
    max_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    chat: bool = True,
    adapter: str | None = None,
    request=None,
) -> GenerationJob:
    """Write a queued job and enqueue its task once the transaction commits.

    `adapter`: None = the domain's active adapter; "base" = no adapter; "name" or "name@N" = that adapter,
    which must have passed evaluation and belong to the job's domain (or to "general").
    """
    from apps.generation.tasks import run_generation_job

    if domain not in ROLE_DOMAINS.get(owner.role or "", ()):
        raise ApplicationError(f"your role may not generate in domain {domain!r}", field="domain", status=403)
    if not prompt.strip():
        raise ApplicationError("prompt must not be empty", field="prompt")
    if len(prompt) > settings.PLUMBLINE_MAX_PROMPT_CHARS:
        raise ApplicationError(
            f"prompt is {len(prompt)} characters; the limit is {settings.PLUMBLINE_MAX_PROMPT_CHARS}", field="prompt"
        )
    if not 1 <= max_tokens <= settings.PLUMBLINE_MAX_NEW_TOKENS:
        raise ApplicationError(f"max_tokens must be 1..{settings.PLUMBLINE_MAX_NEW_TOKENS}", field="max_tokens")
    job = GenerationJob.objects.create(
        owner=owner,
        adapter=_resolve_adapter(domain=domain, requested=adapter),
        prompt=prompt,
        domain=domain,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        chat=chat,
        model_name=settings.PLUMBLINE_MODEL,
    )
    audit_log(actor=owner, action="generation_job.create", obj=job, request=request, detail={"domain": domain})
    transaction.on_commit(lambda: run_generation_job.delay(job.pk))
    return job


def _resolve_adapter(*, domain: str, requested: str | None):
    from apps.adapters.models import AdapterVersion
    from apps.adapters.selectors import active_adapter, adapter_by_label

    if requested is None:
        return active_adapter(domain=domain)
    if requested == "base":
        return None
    version = adapter_by_label(requested)
    if version is None:
        raise ApplicationError(f"no adapter {requested!r}", field="adapter")
    if version.eval_status != AdapterVersion.EvalStatus.DONE:
        raise ApplicationError(f"adapter {version.label} has not passed evaluation", field="adapter")
    if version.domain not in (domain, AdapterVersion.Domain.GENERAL):
        raise ApplicationError(f"adapter {version.label} is for {version.domain}, not {domain}", field="adapter")
    return version


@transaction.atomic
def job_cancel(*, job: GenerationJob, actor, request=None) -> GenerationJob:
    job = GenerationJob.objects.select_for_update().get(pk=job.pk)
    if job.is_terminal:
        raise ApplicationError(f"job {job.pk} has already ended ({job.status})", status=409)
    job.cancel_requested = True
    if job.status == Status.QUEUED:
        job.status = Status.CANCELLED
        job.finish_reason = "cancelled"
        job.finished_at = timezone.now()
    job.save()
    audit_log(actor=actor, action="generation_job.cancel", obj=job, request=request)
    return job


def job_read_audit(*, job: GenerationJob, user, request=None) -> None:
    """Reads of medical jobs may show patient data: each one goes to the audit log."""
    if job.domain == GenerationJob.Domain.MEDICAL:
        audit_log(actor=user, action="generation_job.read", obj=job, request=request)


@transaction.atomic
def job_start(*, job_id: int) -> tuple[GenerationJob, int] | None:
    """Claim a job for this delivery. None when it has ended already (a redelivered finished job)."""
    job = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.is_terminal:
        return None
    if job.cancel_requested:
        _end(job, Status.CANCELLED, finish_reason="cancelled")
        return None
    job.attempts += 1
    job.status = Status.RUNNING
    job.started_at = timezone.now()
    job.output, job.error, job.finish_reason = "", "", ""
    job.completion_tokens, job.first_token_at = 0, None
    job.save()
    return job, job.attempts


def job_progress(*, job_id: int, attempt: int, output: str, completion_tokens: int, prompt_tokens: int) -> bool:
    """Store partial output. Returns False when the job should stop (cancelled, or a newer attempt owns it)."""
    now = timezone.now()
    live = GenerationJob.objects.filter(pk=job_id, attempts=attempt, status=Status.RUNNING)
    updated = live.filter(first_token_at__isnull=True).update(first_token_at=now) if output else 0
    updated = live.update(
        output=output, completion_tokens=completion_tokens, prompt_tokens=prompt_tokens, updated_at=now
    ) or updated
    if not updated:
        return False
    return not live.filter(cancel_requested=True).exists()


@transaction.atomic
def job_finish(
    *,
    job_id: int,
    attempt: int,
    output: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    error: str = "",
) -> GenerationJob | None:
    """End the job of this attempt; a no-op (None) for a stale attempt or an already ended job."""
    job = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.attempts != attempt or job.is_terminal:
        return None
    job.output, job.prompt_tokens, job.completion_tokens = output, prompt_tokens, completion_tokens
    if output and job.first_token_at is None:
        job.first_token_at = timezone.now()
    if finish_reason == "cancelled":
        status = Status.CANCELLED
    elif finish_reason == "error":
        status = Status.FAILED
    else:
        status = Status.SUCCEEDED
    _end(job, status, finish_reason=finish_reason, error=error)
    return job


@transaction.atomic
def job_fail(*, job_id: int, error: str, attempt: int | None = None) -> GenerationJob | None:
    """Mark a job failed with its error, unless it already ended or a newer attempt owns it."""
    job = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.is_terminal or (attempt is not None and job.attempts != attempt):
        return None
    _end(job, Status.FAILED, finish_reason="error", error=error)
    return job


def _end(job: GenerationJob, status: str, *, finish_reason: str, error: str = "") -> None:
    job.status = status
    job.finish_reason = finish_reason
    job.error = error[:4000]
    job.finished_at = timezone.now()
    job.save()
    audit_log(
        actor=None,
        action=f"generation_job.{status}",
        obj=job,
        via="worker",
        detail={"attempt": job.attempts, "finish_reason": finish_reason},
    )
