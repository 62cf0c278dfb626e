"""A real `modelcore serve` for the tests of the openai backend (started once per test process, on first use)."""
from __future__ import annotations

import pytest

from tests.serve_process import ServeProcess

SERVE_API_KEY = "test-backend-key-0123456789"


@pytest.fixture(scope="session")
def model_server(model_cache_dir, tmp_path_factory):
    """`python -m modelcore serve` over the deployed model, under the name the workers ask for (PLUMBLINE_MODEL), with
    the workers' context (PLUMBLINE_ENGINE_MAX_SEQ_LEN=1024 in tests/conftest.py's WorkerProcess)."""
    from django.conf import settings

    from modelcore.gguf_import import ensure_smollm2

    server = ServeProcess(ensure_smollm2(model_cache_dir), log_path=tmp_path_factory.mktemp("serve") / "serve.log",
                          api_key=SERVE_API_KEY, model_name=settings.PLUMBLINE_MODEL,
                          args=("--max-seq-len", "1024", "--max-adapters", "2"))
    yield server
    server.stop()


@pytest.fixture
def openai_backend(settings, model_server):
    """This process's settings pointed at the model server (PLUMBLINE_BACKEND=openai); returns the server."""
    settings.PLUMBLINE_BACKEND = "openai"
    settings.PLUMBLINE_BACKEND_URL = model_server.url
    settings.PLUMBLINE_BACKEND_API_KEY = SERVE_API_KEY
    return model_server


def backend_env(server) -> dict[str, str]:
    """The same settings for a worker process (start_worker's env overrides)."""
    return {"PLUMBLINE_BACKEND": "openai", "PLUMBLINE_BACKEND_URL": server.url,
            "PLUMBLINE_BACKEND_API_KEY": SERVE_API_KEY}
