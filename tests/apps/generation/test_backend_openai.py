"""PLUMBLINE_BACKEND=openai end to end: a real Celery worker whose generation goes to a real `modelcore serve`
subprocess; its greedy output equals this process's in-process engine for the same request."""
import json
import time
import urllib.request

import pytest
from django.core.files import File

from apps.adapters.datasets import DATA_DIR
from apps.adapters.models import AdapterVersion
from apps.adapters.services import adapter_activate, adapter_upload
from apps.generation.model_api import generate_text
from tests.apps.generation.conftest import SERVE_API_KEY, backend_env
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.slow]

PROMPT = "Name three things a balance sheet shows."


def served_models(server) -> set[str]:
    request = urllib.request.Request(f"{server.url}/models", headers={"Authorization": f"Bearer {SERVE_API_KEY}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return {m["id"] for m in json.loads(response.read())["data"]}


def submit(client, **payload) -> int:
    resp = client.post("/api/v1/jobs/", {"prompt": PROMPT, "max_tokens": 16, "temperature": 0, **payload},
                       format="json")
    assert resp.status_code == 202, resp.content
    return resp.json()["id"]


def same_request_in_process(job, adapter=None):
    return generate_text(prompt=job.prompt, adapter=adapter, chat=job.chat, max_tokens=job.max_tokens,
                         temperature=job.temperature, top_p=job.top_p, seed=job.seed)


def test_jobs_through_modelcore_serve_equal_the_in_process_engine_base_and_pushed_adapter(
        start_worker, model_server, api_client_for, make_user, transactional_db, settings):
    """One worker for both parts (a worker start is most of the time): the base model, then an activated adapter."""
    worker = start_worker(**backend_env(model_server))
    analyst = api_client_for("analyst")
    job = wait_for_job(submit(analyst, domain="finance"), worker=worker)
    assert job.status == "succeeded", job.error
    assert job.adapter_id is None and "POST /v1/chat/completions" in model_server.log()  # the worker asked the server
    base = same_request_in_process(job)
    assert job.output == base.text and job.finish_reason == base.finish_reason
    assert (job.prompt_tokens, job.completion_tokens) == (base.prompt_tokens, base.completion_tokens)

    admin = make_user("admin")
    source = DATA_DIR / "finance" / "adapter"
    with open(source / "adapter_config.json", "rb") as cfg, open(source / "adapter_model.safetensors", "rb") as w:
        version, _ = adapter_upload(uploaded_by=admin, name="fin-served", domain="finance", queue_evaluation=False,
                                    config=File(cfg, name="adapter_config.json"),
                                    weights=File(w, name="adapter_model.safetensors"))
    # Evaluation is tested elsewhere (it runs the model twice): mark it evaluated without a regression.
    AdapterVersion.objects.filter(pk=version.pk).update(
        eval_status=AdapterVersion.EvalStatus.DONE, domain_loss_base=3.0, domain_loss_adapter=2.0,
        general_loss_base=2.0, general_loss_adapter=2.0)
    version.refresh_from_db()
    assert version.label not in served_models(model_server)

    settings.PLUMBLINE_BACKEND = "openai"  # activation pushes the adapter (a task the worker runs) once committed
    adapter_activate(version=version, actor=admin)
    settings.PLUMBLINE_BACKEND = "inproc"
    end = time.monotonic() + 30
    while version.label not in served_models(model_server) and time.monotonic() < end:
        time.sleep(0.2)
    assert version.label in served_models(model_server), worker.log()[-3000:]

    job = wait_for_job(submit(analyst, domain="finance"), worker=worker)
    assert job.status == "succeeded", job.error
    assert job.adapter_id == version.pk
    ref = same_request_in_process(job, adapter=version)
    assert ref.text != base.text  # the adapter changes this answer, so equal output proves the server used it
    assert job.output == ref.text
