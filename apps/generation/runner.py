"""Run one generation job on this process's engine, streaming its output into the job row."""
from __future__ import annotations

import logging
import time

from django.conf import settings

from apps.generation import services
from apps.generation.model_api import generate_text
from apps.generation.runtime import get_engine

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.2  # how often partial output is written for the live page


def job_run(*, job_id: int) -> None:
    claimed = services.job_start(job_id=job_id)
    if claimed is None:
        log.info("job %s already ended or cancelled; nothing to do", job_id)
        return
    job, attempt = claimed
    log.info("job %s attempt %s started", job_id, attempt)

    progress = {"tokens": 0, "last_flush": time.monotonic()}

    def on_text(text: str) -> bool:
        """Write partial output for the live page every FLUSH_INTERVAL_S; False (stop) once the job was
        cancelled."""
        progress["tokens"] += 1
        if time.monotonic() - progress["last_flush"] < FLUSH_INTERVAL_S:
            return True
        progress["last_flush"] = time.monotonic()
        return services.job_progress(
            job_id=job_id, attempt=attempt, output=text, completion_tokens=progress["tokens"], prompt_tokens=0
        )

    # The gpu workers use Celery's thread pool, which enforces no time limits: the runner keeps its own,
    # counted from when the model is loaded (the first job of a worker process loads it).
    get_engine()
    result = generate_text(
        prompt=job.prompt,
        adapter=job.adapter,
        chat=job.chat,
        max_tokens=job.max_tokens,
        temperature=job.temperature,
        top_p=job.top_p,
        seed=job.seed,
        on_text=on_text,
        deadline=time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT,
    )
    if result.finish_reason == "deadline":
        services.job_fail(job_id=job_id, attempt=attempt, error="the job ran past its time limit")
        return
    if result.finish_reason == "error" and result.prompt_tokens == 0:  # the engine refused the request
        services.job_fail(job_id=job_id, attempt=attempt, error=result.error)
        return
    services.job_finish(
        job_id=job_id,
        attempt=attempt,
        output=result.text,
        finish_reason=result.finish_reason,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        error=result.error,
    )
    log.info("job %s attempt %s ended: %s", job_id, attempt, result.finish_reason)
