"""run_guarded: every way a job can end badly becomes a failed job with a message (pure: no worker needed)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import OperationalError

from apps.generation.job_tasks import JOB_TASK_OPTIONS, run_guarded


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, *, job_id, error):
        self.calls.append((job_id, error))


def _task(retries: int):
    return SimpleNamespace(request=SimpleNamespace(retries=retries), max_retries=JOB_TASK_OPTIONS["max_retries"])


def _raising(exc):
    def run(*, job_id):
        raise exc

    return run


def test_success_marks_nothing():
    fail, ran = Recorder(), []
    run_guarded(_task(0), 7, lambda *, job_id: ran.append(job_id), fail)
    assert ran == [7] and fail.calls == []


def test_transient_error_is_retried_and_fails_only_on_the_last_retry():
    fail = Recorder()
    with pytest.raises(OperationalError):
        run_guarded(_task(0), 7, _raising(OperationalError("db down")), fail)
    assert fail.calls == []
    with pytest.raises(OperationalError):
        run_guarded(_task(JOB_TASK_OPTIONS["max_retries"]), 7, _raising(OperationalError("db down")), fail)
    assert fail.calls == [(7, "gave up after repeated database/broker errors")]


def test_soft_time_limit_fails_without_raising():
    fail = Recorder()
    run_guarded(_task(0), 3, _raising(SoftTimeLimitExceeded()), fail, what="report")
    assert fail.calls == [(3, "the report ran past its time limit")]


def test_other_errors_fail_with_detail_or_only_the_type():
    fail = Recorder()
    with pytest.raises(ValueError):
        run_guarded(_task(0), 1, _raising(ValueError("patient Jane Roe")), fail)
    with pytest.raises(ValueError):
        run_guarded(_task(0), 2, _raising(ValueError("patient Jane Roe")), fail, error_detail=False)
    assert fail.calls == [(1, "ValueError: patient Jane Roe"), (2, "ValueError")]
