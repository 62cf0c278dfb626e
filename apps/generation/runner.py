"""Run one generation job on this process's engine, streaming its output into the job row."""
from __future__ import annotations

import logging
import time

from django.conf import settings

from apps.generation import services
from apps.generation.runtime import get_engine

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.2  # how often partial output is written for the live page


def _adapter_ref(job) -> tuple[str, str] | None:
    """(name, directory) of the job's adapter for the engine, which loads it on first use (LRU-bounded)."""
    if job.adapter is None:
        return None
    from apps.adapters.storage import adapter_dir

    version = job.adapter
    return version.label, str(adapter_dir(config_sha256=version.config_sha256, weights_sha256=version.sha256))


def job_run(*, job_id: int) -> None:
    claimed = services.job_start(job_id=job_id)
    if claimed is None:
        log.info("job %s already ended or cancelled; nothing to do", job_id)
        return
    job, attempt = claimed
    log.info("job %s attempt %s started", job_id, attempt)

    import modelcore

    engine = get_engine()
    prompt = job.prompt
    if job.chat:
        prompt = engine.tokenizer.apply_chat_template([{"role": "user", "content": job.prompt}])
    params = modelcore.SamplingParams(
        temperature=job.temperature, top_p=job.top_p, seed=job.seed, max_tokens=job.max_tokens
    )
    try:
        handle = engine.submit(prompt, params, adapter=_adapter_ref(job))
    except ValueError as exc:  # the engine refuses the request (prompt too long, bad parameters)
        services.job_fail(job_id=job_id, attempt=attempt, error=str(exc))
        return

    # The gpu workers use Celery's thread pool, which enforces no time limits: the runner keeps its own.
    deadline = time.monotonic() + settings.CELERY_TASK_SOFT_TIME_LIMIT
    text, n_tokens, last_flush = "", 0, time.monotonic()
    try:
        for delta in handle:
            text += delta
            n_tokens += 1
            if time.monotonic() > deadline:
                handle.cancel()
                handle.wait()
                services.job_fail(job_id=job_id, attempt=attempt, error="the job ran past its time limit")
                return
            if time.monotonic() - last_flush >= FLUSH_INTERVAL_S:
                last_flush = time.monotonic()
                keep_going = services.job_progress(
                    job_id=job_id, attempt=attempt, output=text, completion_tokens=n_tokens, prompt_tokens=0
                )
                if not keep_going:
                    handle.cancel()
    except BaseException:
        handle.cancel()  # free the engine slot whatever stopped us (time limit, shutdown)
        raise
    completion = handle.wait()
    services.job_finish(
        job_id=job_id,
        attempt=attempt,
        output=completion.text,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        error=completion.error or "",
    )
    log.info("job %s attempt %s ended: %s", job_id, attempt, completion.finish_reason)
