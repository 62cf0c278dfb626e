"""A job whose broker message is lost (Redis restarted without persistence, a killed worker's unacked message
gone with it) is enqueued again by the periodic sweep and runs once, on a real worker and the real broker."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.generation.models import GenerationJob
from apps.generation.services import job_create, jobs_requeue_stale
from tests.conftest import purge_test_broker, wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def _age(job_id: int, seconds: float, **fields) -> None:
    GenerationJob.objects.filter(pk=job_id).update(updated_at=timezone.now() - timedelta(seconds=seconds), **fields)



@pytest.fixture(autouse=True)
def _no_shared_worker(worker_pool):
    """These tests read the gpu queue's messages: the session's shared worker must not be consuming it."""
    worker_pool.stop_shared()

def test_the_sweep_runs_on_the_default_queue_every_minute():
    from django.conf import settings

    from config.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["generation-requeue-stale-jobs"]
    assert entry["task"] == "apps.generation.tasks.requeue_stale_jobs" and entry["schedule"] == 60
    assert app.amqp.router.route({}, entry["task"])["queue"].name == "default"
    assert app.amqp.router.route({}, "apps.generation.tasks.run_job")["queue"].name == "gpu"


def test_jobs_whose_message_was_lost_run_once_after_the_sweep(start_worker, make_user, transactional_db):
    owner = make_user("analyst")
    queued = job_create(owner=owner, prompt="1, 2, 3,", chat=False, max_tokens=4, domain="finance")
    running = job_create(owner=owner, prompt="4, 5, 6,", chat=False, max_tokens=4, domain="finance")
    fresh = job_create(owner=owner, prompt="7, 8, 9,", chat=False, max_tokens=4, domain="finance")
    purge_test_broker()  # the broker forgets every message, as a Redis restart without persistence does
    # One job lost while queued; one whose worker died mid-run (attempt 1 started, nothing acknowledged); both
    # untouched for longer than the threshold. The fresh one is younger than the threshold: not requeued.
    _age(queued.pk, 120)
    _age(running.pk, 120, status="running", attempts=1, started_at=timezone.now() - timedelta(seconds=120))
    worker = start_worker(PLUMBLINE_JOB_REQUEUE_AFTER_S="60")  # the default is the time limit + 60 s

    from apps.generation.tasks import requeue_stale_jobs

    requeue_stale_jobs.delay()  # as beat sends it: the worker's default queue runs the sweep
    for job in (queued, running):
        done = wait_for_job(job.pk, timeout=180, worker=worker)
        assert done.status == "succeeded", f"{done.error}\n{worker.log()[-1500:]}"
    assert GenerationJob.objects.get(pk=queued.pk).attempts == 1
    assert GenerationJob.objects.get(pk=running.pk).attempts == 2  # the lost attempt 1 is fenced out
    assert GenerationJob.objects.get(pk=fresh.pk).status == "queued"  # its message is gone, but it is young
    assert "requeued 2 stale job(s)" in worker.log()


def test_the_sweep_leaves_live_and_ended_jobs_alone(make_user, transactional_db):
    owner = make_user("analyst")
    jobs = [job_create(owner=owner, prompt="1, 2,", chat=False, max_tokens=4, domain="finance") for _ in range(3)]
    purge_test_broker()
    _age(jobs[0].pk, 120, status="succeeded")
    _age(jobs[1].pk, 120, status="cancelled")
    _age(jobs[2].pk, 10, status="running", attempts=1)  # wrote its row 10 s ago: alive
    assert jobs_requeue_stale(older_than_s=60) == []
    _age(jobs[2].pk, 61)
    assert jobs_requeue_stale(older_than_s=60) == [jobs[2].pk]
    assert jobs_requeue_stale(older_than_s=60) == []  # touched: not requeued again until another 60 s pass
    import redis
    from django.conf import settings

    assert redis.Redis.from_url(settings.CELERY_BROKER_URL).llen("gpu") == 1  # exactly one message enqueued



def test_a_stale_job_whose_message_the_broker_still_holds_gets_no_second_one(make_user, settings,
                                                                              transactional_db):
    # Waiting behind a backlog, or delivered to a worker that was killed (its unacked message comes back after
    # the visibility timeout): the broker still holds the message, so the sweep leaves the job alone however
    # old its row is. Only the job whose message is gone gets a new one.
    import json

    import redis

    from apps.generation.broker import job_ids_held
    from apps.generation.tasks import requeue_stale_jobs

    settings.PLUMBLINE_JOB_REQUEUE_AFTER_S = 60
    purge_test_broker()
    owner = make_user("analyst")
    waiting, delivered, lost = (
        job_create(owner=owner, prompt=f"{i}, {i + 1},", chat=False, max_tokens=4, domain="finance") for i in range(3)
    )
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    assert broker.llen("gpu") == 3
    broker.lpop("gpu")  # kombu pushes on the left: the newest message, lost's, is gone
    unacked = broker.lpop("gpu")  # delivered's: moved to the unacked hash, as a worker's delivery does
    broker.hset("unacked", "tag-1", json.dumps([json.loads(unacked), "", "gpu"]))
    assert job_ids_held() == {waiting.pk, delivered.pk}
    for job in (waiting, delivered, lost):
        _age(job.pk, 120)
    assert requeue_stale_jobs() == [lost.pk]  # as the worker runs it
    assert job_ids_held() == {waiting.pk, delivered.pk, lost.pk} and broker.llen("gpu") == 2
