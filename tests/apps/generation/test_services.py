"""Job state changes: each delivery is an attempt, and only the current attempt may write."""
import pytest

from apps.generation import services
from apps.generation.models import GenerationJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(make_user):
    return services.job_create(owner=make_user("analyst"), prompt="hello", domain="finance")


def test_a_redelivered_job_gets_a_new_attempt_and_the_stale_one_cannot_write(job):
    _, first = services.job_start(job_id=job.pk)
    assert services.job_progress(job_id=job.pk, attempt=first, output="Hel", completion_tokens=1, prompt_tokens=3)
    _, second = services.job_start(job_id=job.pk)  # the worker died; the broker delivered it again
    assert (first, second) == (1, 2)
    job.refresh_from_db()
    assert job.output == "" and job.status == "running"  # the new attempt starts clean
    # The first attempt (still running somewhere) can neither write progress nor end the job.
    assert not services.job_progress(job_id=job.pk, attempt=first, output="stale", completion_tokens=9, prompt_tokens=3)
    assert services.job_finish(
        job_id=job.pk, attempt=first, output="stale", finish_reason="stop", prompt_tokens=3, completion_tokens=9
    ) is None
    assert services.job_fail(job_id=job.pk, attempt=first, error="boom") is None
    done = services.job_finish(
        job_id=job.pk, attempt=second, output="Hello", finish_reason="length", prompt_tokens=3, completion_tokens=2
    )
    assert done.status == "succeeded" and done.output == "Hello" and done.attempts == 2


def test_completion_is_idempotent(job):
    _, attempt = services.job_start(job_id=job.pk)
    kwargs = dict(job_id=job.pk, attempt=attempt, output="x", finish_reason="stop", prompt_tokens=1, completion_tokens=1)
    assert services.job_finish(**kwargs) is not None
    finished_at = GenerationJob.objects.get(pk=job.pk).finished_at
    assert services.job_finish(**kwargs) is None
    assert services.job_start(job_id=job.pk) is None  # a late redelivery of a finished job does nothing
    job.refresh_from_db()
    assert job.finished_at == finished_at and job.attempts == 1


def test_finish_reasons_map_to_statuses(make_user):
    owner = make_user("analyst")
    for reason, status in [("stop", "succeeded"), ("length", "succeeded"), ("cancelled", "cancelled"), ("error", "failed")]:
        job = services.job_create(owner=owner, prompt="p")
        _, attempt = services.job_start(job_id=job.pk)
        ended = services.job_finish(
            job_id=job.pk, attempt=attempt, output="", finish_reason=reason, prompt_tokens=1, completion_tokens=0,
            error="engine error" if reason == "error" else "",
        )
        assert ended.status == status


def test_cancel_requested_while_running_stops_progress(job):
    _, attempt = services.job_start(job_id=job.pk)
    services.job_cancel(job=job, actor=job.owner)
    assert GenerationJob.objects.get(pk=job.pk).status == "running"  # the worker ends it
    assert not services.job_progress(job_id=job.pk, attempt=attempt, output="a", completion_tokens=1, prompt_tokens=1)


def test_a_cancelled_queued_job_is_never_started(job):
    services.job_cancel(job=job, actor=job.owner)
    assert services.job_start(job_id=job.pk) is None
    assert GenerationJob.objects.get(pk=job.pk).attempts == 0


def test_soft_time_limit_leaves_room_before_the_hard_limit():
    from django.conf import settings

    assert 0 < settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    # Redelivery must never hit a task that is still running (the broker's visibility timeout).
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > 2 * settings.CELERY_TASK_TIME_LIMIT
