"""An adapter's whole life on real processes: upload -> evaluation on a worker -> activation -> jobs use it."""
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.adapters.datasets import DATA_DIR, rows
from apps.adapters.models import AdapterVersion
from apps.generation.models import GenerationJob
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def wait_for_evaluation(version_id: int, worker, timeout: float = 240) -> AdapterVersion:
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        version = AdapterVersion.objects.get(pk=version_id)
        if version.eval_status in ("done", "failed"):
            return version
        time.sleep(0.3)
    raise AssertionError(f"evaluation still {version.eval_status}\n{worker.log()[-3000:]}")


def test_upload_evaluate_activate_and_generate_with_the_adapter(celery_worker, api_client_for, transactional_db):
    admin, analyst = api_client_for("admin"), api_client_for("analyst")
    source = DATA_DIR / "finance" / "adapter"
    resp = admin.post(
        "/api/v1/adapters/",
        {
            "name": "fin-house-style", "domain": "finance",
            "config": SimpleUploadedFile("adapter_config.json", (source / "adapter_config.json").read_bytes()),
            "weights": SimpleUploadedFile("adapter_model.safetensors", (source / "adapter_model.safetensors").read_bytes()),
        },
        format="multipart",
    )
    assert resp.status_code == 201, resp.json()
    version = wait_for_evaluation(resp.json()["id"], celery_worker)
    assert version.eval_status == "done", version.eval_error
    # The shipped adapter learned the finance house style and barely moved the general set.
    assert version.domain_loss_adapter < 0.5 * version.domain_loss_base
    assert abs(version.general_regression) < 0.25
    assert admin.post(f"/api/v1/adapters/{version.pk}/activate/", {}, format="json").status_code == 200

    prompt = next(m["content"] for m in rows("finance")[0]["messages"] if m["role"] == "user")
    ids = [
        analyst.post("/api/v1/jobs/", {"prompt": prompt, "domain": "finance", "max_tokens": 24, **extra}, format="json").json()["id"]
        for extra in ({}, {"adapter": "base"})
    ]
    with_adapter, base = (wait_for_job(i, worker=celery_worker) for i in ids)
    assert with_adapter.status == base.status == "succeeded", (with_adapter.error, base.error)
    assert with_adapter.adapter == version and base.adapter is None
    assert with_adapter.output != base.output  # the worker really applied the adapter
    body = analyst.get(f"/api/v1/jobs/{with_adapter.pk}/").json()
    assert body["adapter"] == "fin-house-style@1"
    assert GenerationJob.objects.filter(adapter=version).count() == 1
