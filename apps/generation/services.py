"""Writes of generation jobs: create, cancel, and the state changes a worker makes while running one.

A job may be delivered to a worker more than once (a lost worker, a broker redelivery). Each delivery
that starts the job gets a new attempt number, and only the current attempt may write progress or an
end state, so completion is idempotent and a stale delivery cannot overwrite a newer one.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.accounts.roles import ROLE_DOMAINS
from apps.core.domains import Domain
from apps.core.exceptions import ApplicationError
from apps.generation.models import TEXT_KIND, GenerationJob
from apps.generation.registry import kind_get
from apps.monitoring import metrics

Status = GenerationJob.Status
log = logging.getLogger(__name__)  # ids only


ACTIVE = "active"  # job_submit's default adapter: the domain's active one


@transaction.atomic
def job_submit(
    *,
    kind: str,
    owner,
    prompt: str,
    domain: str | None = None,
    adapter=ACTIVE,
    max_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | None = None,
    chat: bool = True,
    request=None,
    detail: dict | None = None,
    priority: int | None = None,
) -> GenerationJob:
    """The one way to ask for a job: check the owner may work in the kind's domain, write the queued row,
    audit it and enqueue the one job task once the transaction commits.

    `adapter`: ACTIVE (the domain's active adapter), None (the base model) or an AdapterVersion. Apps link
    their own rows to the returned job; they never create, lock or end job rows themselves. `priority`: the
    message's priority on queue gpu (0 first .. 9 last; None = the default, first), for background work such as
    monitoring's consistency samples.
    """
    from apps.generation.model_api import adapter_for_domain
    from apps.generation.tasks import run_job

    spec = kind_get(kind)
    if spec is None:
        raise ApplicationError(f"unknown job kind {kind!r}", field="kind")
    if spec.domain is not None:
        if domain not in (None, spec.domain):
            raise ValueError(f"a {kind} job is in domain {spec.domain}, not {domain}")
        domain = spec.domain
    domain = domain or Domain.GENERAL
    if domain not in ROLE_DOMAINS.get(owner.role or "", ()):
        raise ApplicationError(f"your role may not generate in domain {domain!r}", field="domain", status=403,
                               code="forbidden")
    job = GenerationJob.objects.create(
        kind=kind,
        owner=owner,
        adapter=adapter_for_domain(domain) if adapter == ACTIVE else adapter,
        prompt=prompt,
        domain=domain,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        chat=chat,
        model_name=settings.PLUMBLINE_MODEL,
    )
    audit_log(actor=owner, action="generation_job.create", obj=job, request=request,
              detail={"domain": domain, "kind": kind, **(detail or {})})
    if priority is None:
        transaction.on_commit(lambda: run_job.delay(job.pk))
    else:
        transaction.on_commit(lambda: run_job.apply_async((job.pk,), priority=priority))
    return job


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
    """A text-generation job (kind TEXT_KIND) from a prompt a person typed.

    `adapter`: None = the domain's active adapter; "base" = no adapter; "name" or "name@N" = that adapter,
    which must have passed evaluation and belong to the job's domain (or to "general").
    """
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
    return job_submit(
        kind=TEXT_KIND, owner=owner, prompt=prompt, domain=domain,
        adapter=_resolve_adapter(domain=domain, requested=adapter), max_tokens=max_tokens,
        temperature=temperature, top_p=top_p, seed=seed, chat=chat, request=request,
    )


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
    if version.domain not in (domain, Domain.GENERAL):
        raise ApplicationError(f"adapter {version.label} is for {version.domain}, not {domain}", field="adapter")
    return version


@transaction.atomic
def job_cancel(*, job: GenerationJob, actor, request=None) -> GenerationJob:
    job = GenerationJob.objects.select_for_update().get(pk=job.pk)
    if job.is_terminal:
        raise ApplicationError(f"job {job.pk} has already ended ({job.status})", status=409)
    job.cancel_requested = True
    job.save(update_fields=["cancel_requested", "updated_at"])
    if job.status == Status.QUEUED:  # no worker has it yet: it ends now, and its app settles its rows
        _end(job, Status.CANCELLED, finish_reason="cancelled")
    audit_log(actor=actor, action="generation_job.cancel", obj=job, request=request)
    return job


def job_read_audit(*, job: GenerationJob, user, request=None) -> None:
    """Reads of medical jobs (their owner's prompt and text, or an admin's view of their metadata) go to the
    audit log."""
    if job.domain == Domain.MEDICAL:
        audit_log(actor=user, action="generation_job.read", obj=job, request=request)


@transaction.atomic
def job_start(*, job_id: int) -> tuple[GenerationJob, int] | None:
    """Take the job for this delivery and bump its attempt. None when it has ended already (a redelivered
    finished job) or was cancelled before it started."""
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


def job_owned(*, job_id: int, attempt: int) -> GenerationJob | None:
    """The job locked (call inside a transaction) while `attempt` still owns it; None for a stale delivery or
    an ended job. Apps call this before they store a job's result, in the same transaction."""
    job = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.attempts != attempt or job.is_terminal:
        return None
    return job


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
    """End the job of this attempt; a no-op (None) for a stale attempt or an already ended job. A clinical kind's
    job ends with no output: its app stored the text in its own tables."""
    job = job_owned(job_id=job_id, attempt=attempt)
    if job is None:
        return None
    spec = kind_get(job.kind)
    if output and spec is not None and spec.clinical:
        raise ValueError(f"job {job_id} is of clinical kind {job.kind}: its text belongs in its app's tables")
    job.output, job.prompt_tokens, job.completion_tokens = output, prompt_tokens, completion_tokens
    if output and job.first_token_at is None:
        job.first_token_at = timezone.now()
    if finish_reason == "cancelled":
        status = Status.CANCELLED
    elif finish_reason == "error":
        status = Status.FAILED
    else:
        status = Status.SUCCEEDED
    _end(job, status, finish_reason=finish_reason, error=error, notify=False)  # the app stored its result
    if status == Status.SUCCEEDED:
        from apps.monitoring.services import observation_record

        observation_record(job=job)  # counts and durations, in this transaction
    return job


@transaction.atomic
def job_fail(*, job_id: int, error: str, attempt: int | None = None) -> GenerationJob | None:
    """Mark a job failed with its error, unless it already ended or a newer attempt owns it; its kind's
    on_end settles the app's rows in the same transaction."""
    job = GenerationJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None or job.is_terminal or (attempt is not None and job.attempts != attempt):
        return None
    _end(job, Status.FAILED, finish_reason="error", error=error)
    return job


@transaction.atomic
def job_settle(*, job_id: int, attempt: int) -> GenerationJob | None:
    """After a runner returned or stopped: a job this attempt still owns ends cancelled (when cancel was asked)
    or failed (the runner stored no result). A no-op for stale attempts and ended jobs."""
    job = job_owned(job_id=job_id, attempt=attempt)
    if job is None:
        return None
    if job.cancel_requested:
        _end(job, Status.CANCELLED, finish_reason="cancelled")
    else:
        _end(job, Status.FAILED, finish_reason="error", error="the job ended without storing a result")
    return job


def jobs_requeue_stale(*, older_than_s: float | None = None, held: set[int] | None = None) -> list[int]:
    """Enqueue the job task again for every queued or running job whose row has not changed for `older_than_s`
    (default PLUMBLINE_JOB_REQUEUE_AFTER_S) and whose message the broker no longer holds (`held`: the job ids
    it holds, apps.generation.broker; None = unknown, go by age alone): the message was lost (a broker restart
    without persistence, a worker killed after the broker forgot its unacked message). Returns the job ids.

    A running job's delivery writes the row at least every PROGRESS_INTERVAL_S while it generates and ends by
    its deadline, so a row older than the time limit has no live delivery. An extra message is harmless: the
    delivery takes a new attempt (an older one stops at its next write) or finds the job ended and does
    nothing, so a job still completes once. Each requeued row is touched, so it is requeued again only after
    another `older_than_s`."""
    from apps.generation.tasks import run_job

    if older_than_s is None:
        older_than_s = settings.PLUMBLINE_JOB_REQUEUE_AFTER_S
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            GenerationJob.objects.select_for_update(skip_locked=True)
            .filter(status__in=(Status.QUEUED, Status.RUNNING), updated_at__lt=now - timedelta(seconds=older_than_s))
            .exclude(pk__in=held or ())
            .order_by("created_at", "id")
            .values_list("pk", flat=True)
        )
        if ids:
            GenerationJob.objects.filter(pk__in=ids).update(updated_at=now)
            for job_id in ids:
                transaction.on_commit(lambda job_id=job_id: run_job.delay(job_id))
    if ids:
        log.warning("requeued %d stale job(s): %s", len(ids), ids)
    return ids


def _end(job: GenerationJob, status: str, *, finish_reason: str, error: str = "", notify: bool = True) -> None:
    job.status = status
    job.finish_reason = finish_reason
    job.error = error[:4000]
    job.finished_at = timezone.now()
    job.save()
    metrics.job_ended(kind=job.kind, status=status, created_at=job.created_at, started_at=job.started_at,
                      finished_at=job.finished_at)
    audit_log(
        actor=None,
        action=f"generation_job.{status}",
        obj=job,
        via="worker",
        detail={"attempt": job.attempts, "finish_reason": finish_reason},
    )
    spec = kind_get(job.kind)
    if notify and status != Status.SUCCEEDED and spec is not None and spec.on_end is not None:
        spec.on_end(job=job, error=job.error)
