"""The runner side of the one job mechanism: the attempt-fenced context a runner gets, its throttled progress
writer, and the guarded dispatch the one Celery task calls.

A delivery of a job (there may be several: acks_late, a lost worker) takes the row and bumps its attempt
(`job_start`); only the current attempt may write progress or end the job. The runner registered for the
job's kind gets a JobContext and either stores its result (its app's service ends the job with `job_finish`
inside the transaction that stores the result, after `job_owned`) or raises. Every other ending is the
dispatcher's: JobStale/cancel -> cancelled, JobTimeLimit -> failed "ran past its time limit", JobFailed ->
failed with its message, transient errors -> retried then failed, anything else -> failed with the error and
re-raised. Each of those calls the kind's on_end hook.

Kinds over patient data (JobKind.clinical) keep their text in their app's tables only: the progress writer
counts their tokens without writing text, `job_finish` refuses an output for them, and a crash stores, logs and
raises only the exception's type (JobCrashed), so no message that may quote a record reaches the job row, the
worker's log or the task's result.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from apps.generation import services
from apps.generation.models import GenerationJob
from apps.generation.registry import JobKind, kind_get

log = logging.getLogger(__name__)  # ids and kinds only: never prompts or model text

TRANSIENT = (OperationalError, InterfaceError, ConnectionError)

JOB_TASK_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": 2,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}

PROGRESS_INTERVAL_S = 0.25  # how often streamed text is written for the live pages


class JobStale(Exception):
    """This delivery no longer owns the job (cancel was asked, or a newer attempt took it)."""


class JobTimeLimit(Exception):
    """The runner's deadline passed."""


class JobFailed(Exception):
    """The work failed in a way the runner can name; the message is stored as the job's error as is, so it must
    not quote patient data."""


class JobCrashed(Exception):
    """What the task raises when the runner of a clinical kind crashed: it names the job and the exception's type
    only, and does not chain the original (whose message may quote patient data)."""


@dataclass
class JobContext:
    """One attempt of one job, as its runner sees it."""

    job: GenerationJob
    attempt: int
    kind: JobKind
    deadline: float = field(default=float("inf"))
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def job_id(self) -> int:
        return self.job.pk

    def progress(self, *, label: str = "", also=None, show=None) -> ProgressWriter:
        return ProgressWriter(self, label=label, also=also, show=show)

    def generate(self, *, step: str = "", label: str = "", also=None, show=None, **kwargs):
        """generate_text with this attempt's deadline and a throttled progress writer; the result's tokens are
        counted on the context. `show` turns the text so far into what people see (e.g. fact references
        rendered) before it is written. Raises JobStale (cancelled), JobTimeLimit, or JobFailed (the model
        refused or failed: "step: why")."""
        return self.generate_many([{"step": step, "label": label, "also": also, "show": show, **kwargs}])[0]

    def generate_many(self, requests: list[dict]):
        """Independent requests decoded in one engine batch (each a dict of `generate`'s keywords: step, label,
        also, show and generate_text's request); results in request order, checked as `generate` checks one."""
        from apps.generation.model_api import generate_texts

        steps, writers, plain = [], [], []
        for request in requests:
            request = dict(request)
            steps.append(request.pop("step", ""))
            writers.append(self.progress(label=request.pop("label", ""), also=request.pop("also", None),
                                         show=request.pop("show", None)))
            plain.append(request)
        results = generate_texts(plain, on_text=writers, deadline=self.deadline)
        for result in results:
            self.prompt_tokens += result.prompt_tokens
            self.completion_tokens += result.completion_tokens
        for step, result in zip(steps, results, strict=True):
            if result.finish_reason == "cancelled":
                raise JobStale
            if result.finish_reason == "deadline":
                raise JobTimeLimit
            if result.finish_reason == "error":
                why = result.error or "the model request failed"
                raise JobFailed(f"{step}: {why}" if step else why)
        return results

    def finish(self, *, output: str, finish_reason: str = "stop") -> GenerationJob | None:
        """End the job successfully (for kinds whose result is the job's own output)."""
        return services.job_finish(job_id=self.job_id, attempt=self.attempt, output=output,
                                   finish_reason=finish_reason, prompt_tokens=self.prompt_tokens,
                                   completion_tokens=self.completion_tokens)


class ProgressWriter:
    """on_text for generate_text: writes the text so far, as `show` presents it, to the job row at most every
    PROGRESS_INTERVAL_S (and hands it to `also`, an app's live view); returns False once the attempt should
    stop. For clinical kinds only the token count is written: the text stays with the runner until its app
    stores it."""

    def __init__(self, ctx: JobContext, *, label: str = "", also=None, show=None):
        self.ctx, self.label, self.also, self.show = ctx, label, also, show
        self.calls, self.last = 0, 0.0

    def __call__(self, text: str) -> bool:
        self.calls += 1
        if time.monotonic() - self.last < PROGRESS_INTERVAL_S:
            return True
        self.last = time.monotonic()
        if self.show is not None:
            text = self.show(text)
        if self.ctx.kind.clinical:
            shown = ""
        else:
            shown = f"[{self.label}] {text}" if self.label else text
        ok = services.job_progress(
            job_id=self.ctx.job_id, attempt=self.ctx.attempt, output=shown,
            completion_tokens=self.ctx.completion_tokens + self.calls, prompt_tokens=self.ctx.prompt_tokens,
        )
        if ok and self.also is not None:
            self.also(text)
        return ok


def job_dispatch(*, job_id: int, retries: int = 0, max_retries: int = JOB_TASK_OPTIONS["max_retries"]) -> None:
    """Run one delivery of a job with the runner of its kind; every bad ending becomes a job the user sees
    failed (see the module doc)."""
    kind_name = GenerationJob.objects.filter(pk=job_id).values_list("kind", flat=True).first()
    if kind_name is None:
        log.warning("job %s does not exist; nothing to do", job_id)
        return
    kind = kind_get(kind_name)
    if kind is None:
        services.job_fail(job_id=job_id, error=f"no runner is registered for job kind {kind_name!r}")
        return
    attempt = None

    def fail(error: str) -> None:
        services.job_fail(job_id=job_id, attempt=attempt, error=error)

    try:
        claimed = services.job_start(job_id=job_id)
        if claimed is None:
            log.info("job %s (%s) already ended or cancelled; nothing to do", job_id, kind_name)
            return
        job, attempt = claimed
        log.info("job %s (%s) attempt %s started", job_id, kind_name, attempt)
        ctx = JobContext(job=job, attempt=attempt, kind=kind)
        if kind.uses_model:
            # The gpu workers use Celery's thread pool, which enforces no time limits: the runner keeps its own,
            # counted from when the model is loaded (the first job of a worker process loads it).
            from apps.generation.model_api import backend_prepare

            backend_prepare()
        ctx.deadline = time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT
        kind.run(ctx)
        services.job_settle(job_id=job_id, attempt=attempt)  # a no-op once the runner stored its result
    except JobStale:
        services.job_settle(job_id=job_id, attempt=attempt)
    except (JobTimeLimit, SoftTimeLimitExceeded):
        fail(f"the {kind.what} ran past its time limit")
    except JobFailed as exc:
        fail(str(exc) or type(exc).__name__)
    except TRANSIENT:
        if retries >= max_retries:
            fail("gave up after repeated database/broker errors")
        raise
    except Exception as exc:  # a bug or a model failure: the job fails, visibly
        if kind.clinical:  # the message may quote the record: its type only, and the original is not chained
            fail(type(exc).__name__)
            log.error("job %s (%s) attempt %s failed: %s", job_id, kind_name, attempt, type(exc).__name__)
            raise JobCrashed(f"job {job_id} ({kind_name}) failed: {type(exc).__name__}") from None
        fail(f"{type(exc).__name__}: {exc}")
        raise
    log.info("job %s (%s) attempt %s ended", job_id, kind_name, attempt)
