"""Jobs end to end through a real Celery worker process on the real Redis broker and the real model."""
import pytest

from tests.conftest import wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_api_job_runs_to_success_on_a_real_worker(celery_worker, api_client_for, transactional_db):
    client = api_client_for("analyst")
    resp = client.post(
        "/api/v1/jobs/",
        {"prompt": "Name three things a balance sheet shows.", "domain": "finance", "max_tokens": 24},
        format="json",
    )
    assert resp.status_code == 202
    job = wait_for_job(resp.json()["id"], worker=celery_worker)
    assert job.status == "succeeded", job.error
    assert job.output.strip() and job.completion_tokens > 0 and job.prompt_tokens > 0
    assert job.finish_reason in {"stop", "length"} and job.attempts == 1
    assert job.started_at <= job.first_token_at <= job.finished_at
    body = client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["status"] == "succeeded" and body["output"] == job.output


def test_greedy_job_output_is_reproducible(celery_worker, api_client_for, transactional_db):
    client = api_client_for("clinician")
    payload = {"prompt": "List two vital signs.", "domain": "medical", "max_tokens": 12, "temperature": 0}
    ids = [client.post("/api/v1/jobs/", payload, format="json").json()["id"] for _ in range(2)]
    a, b = (wait_for_job(i, worker=celery_worker) for i in ids)
    assert a.status == b.status == "succeeded"
    assert a.output == b.output


def test_job_whose_generation_raises_ends_failed_with_the_error(celery_worker, api_client_for, transactional_db):
    # The worker's engine holds at most 1024 tokens per request (PLUMBLINE_ENGINE_MAX_SEQ_LEN in conftest):
    # this prompt fits the API's character limit but not the engine, which raises when it is submitted.
    client = api_client_for("analyst")
    prompt = " ".join(f"item{i}" for i in range(1500))
    resp = client.post("/api/v1/jobs/", {"prompt": prompt, "chat": False}, format="json")
    assert resp.status_code == 202
    job = wait_for_job(resp.json()["id"], worker=celery_worker)
    assert job.status == "failed"
    assert "1024" in job.error and "token" in job.error
    body = client.get(f"/api/v1/jobs/{job.pk}/").json()
    assert body["status"] == "failed" and body["error"] == job.error


def test_cancelling_a_running_job_stops_it(celery_worker, api_client_for, transactional_db):
    client = api_client_for("analyst")
    payload = {"prompt": "1, 2, 3, 4, 5, 6,", "chat": False, "max_tokens": 800}
    job_id = client.post("/api/v1/jobs/", payload, format="json").json()["id"]
    wait_for_job(job_id, statuses=("running",), worker=celery_worker)
    assert client.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 200
    job = wait_for_job(job_id, worker=celery_worker)
    assert job.status == "cancelled" and job.completion_tokens < 800


# A worker killed mid-job, a raising runner and the time limit: tests/apps/generation/test_job_faults.py, once
# for every registered kind of job.
