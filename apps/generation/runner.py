"""The runner of plain text-generation jobs (kind "generation.text"): the prompt as typed, streamed into the
job row."""
from __future__ import annotations

from apps.generation.jobs import JobContext


def text_run(ctx: JobContext) -> None:
    job = ctx.job
    result = ctx.generate(
        prompt=job.prompt, adapter=job.adapter, chat=job.chat, max_tokens=job.max_tokens,
        temperature=job.temperature, top_p=job.top_p, seed=job.seed,
    )
    ctx.finish(output=result.text, finish_reason=result.finish_reason)
