"""Which runner runs which kind of job. Each app registers its kinds in its AppConfig.ready().

A kind is a runner (`run(ctx)`, given an attempt-fenced JobContext) and, optionally, `on_end(job=, error=)`:
called in the transaction that ends the job without the runner storing a result (failed, cancelled, timed
out, given up), so the app can settle its own rows (a report's sections, a draft's status). It must be
idempotent and must not end the job itself.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class JobKind:
    name: str  # "<app>.<what>", stored in GenerationJob.kind
    run: Callable[..., None]
    domain: str | None = None  # None: the submitter chooses (plain text generation)
    on_end: Callable[..., None] | None = None
    # True: the work is over patient data, whose text lives only in its app's tables. The job row then holds ids,
    # states and counts: no model text (progress is counted in tokens, the output stays empty) and, when the runner
    # crashes, only the exception's type (in the row, the log and what the task raises).
    clinical: bool = False
    what: str = "job"  # how errors name the work: "the report ran past its time limit"
    uses_model: bool = True  # load the worker's engine before the deadline starts counting


_KINDS: dict[str, JobKind] = {}


def kind_register(kind: JobKind) -> None:
    existing = _KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"job kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind


def kind_get(name: str) -> JobKind | None:
    return _KINDS.get(name)


def registered_kinds() -> list[str]:
    return sorted(_KINDS)
