"""Fixtures shared by the whole suite: users by role, API clients, a real Celery worker, a real browser."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.processes import terminate

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"

# `make test` runs the suite in two pytest-xdist processes on two cores: each (and the Celery workers it starts,
# which inherit the variable) computes on one OpenMP thread, so two processes never fight over the same two cores
# (two threads per process collapse under such contention). Set before anything imports torch.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")


# --- users and clients -------------------------------------------------------------------------
@pytest.fixture
def make_user(db):
    from apps.accounts.services import user_create

    def make(role: str, username: str | None = None, password: str = "a-long-test-password"):
        return user_create(username=username or f"{role}-{uuid.uuid4().hex[:6]}", password=password, role=role)

    return make


@pytest.fixture
def api_client_for(make_user):
    """An APIClient authenticated with a real hashed token of a new user of `role`."""
    from rest_framework.test import APIClient

    from apps.accounts.services import api_token_create

    def make(role: str):
        user = make_user(role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=user, name='tests')}")
        client.user = user
        return client

    return make


# --- the model cache: converted once per test session ---------------------------------------------
@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    from django.conf import settings

    path = Path(settings.PLUMBLINE_DATA_DIR)
    path.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PLUMBLINE_DATA_DIR", str(path))
    from modelcore.gguf_import import ensure_smollm2

    ensure_smollm2(path)  # tens of seconds the first time, then reused
    return path


@pytest.fixture(scope="session")
def grammar_accepts(model_cache_dir):
    """accepts(text, **constraint) -> bool: whether the real xgrammar matcher of a constraint (json_schema=,
    grammar=, regex=, choices=), compiled for the real SmolLM2 tokenizer, takes every token of `text`."""
    import json

    from modelcore.gguf_import import ensure_smollm2
    from modelcore.sampling import SamplingParams
    from modelcore.structured import GrammarError, Grammars
    from modelcore.tokenizer import Tokenizer

    model_dir = ensure_smollm2(model_cache_dir)
    tokenizer = Tokenizer.from_dir(model_dir)
    grammars = Grammars(tokenizer, json.loads((model_dir / "config.json").read_text())["vocab_size"])

    def accepts(text: str, **constraint) -> bool:
        state = grammars.state(SamplingParams(max_tokens=64, **constraint))
        try:
            for token in tokenizer.encode(text):
                state.accept(token)
        except GrammarError:
            return False
        return True

    return accepts


# --- a real Celery worker on the real Redis broker ---------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcess:
    def __init__(self, env_overrides: dict[str, str], log_path: Path, concurrency: int = 2):
        from django.conf import settings

        db = settings.DATABASES["default"]
        self.metrics_port = free_port()  # its service metrics: http://127.0.0.1:<metrics_port>/metrics
        env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            # The worker writes to the database the tests read: the test database.
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PLUMBLINE_ENGINE_MAX_SEQ_LEN": "1024",
            "PLUMBLINE_ADAPTER_EVAL_ROWS": "6",
            "PLUMBLINE_METRICS_PORT": str(self.metrics_port),
            **env_overrides,
        }
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "gpu,default,eval", "--pool", "threads",
             "--concurrency", str(concurrency), "--loglevel", "INFO", "--without-mingle", "--without-gossip",
             "-n", f"test-{uuid.uuid4().hex[:8]}@%h"],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if "ready." in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited early:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready after {timeout}s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        terminate(self.proc)
        if not self._log.closed:
            self._log.close()


def purge_test_broker() -> None:
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


# The shared worker's own settings. Report jobs read their token budgets in the worker (its env): small ones, so
# the report tests on the shared worker write a whole report in seconds on a CPU.
SHARED_WORKER_ENV = {"PLUMBLINE_REPORT_SECTION_TOKENS": "8", "PLUMBLINE_REPORT_RATING_TOKENS": "64"}


class WorkerPool:
    """The suite's worker processes: one shared worker for tests that only need jobs to run, and workers
    that a test starts itself (to kill them, say). Everything started is stopped at the end."""

    def __init__(self, log_dir_factory):
        self._log_dir_factory = log_dir_factory
        self._started: list[WorkerProcess] = []
        self._shared: WorkerProcess | None = None

    def start(self, concurrency: int = 2, **env_overrides: str) -> WorkerProcess:
        worker = WorkerProcess(env_overrides, self._log_dir_factory.mktemp("worker") / "worker.log", concurrency)
        self._started.append(worker)
        return worker

    def shared(self) -> WorkerProcess:
        if self._shared is None or self._shared.proc.poll() is not None:
            self._shared = self.start(**SHARED_WORKER_ENV)
        return self._shared

    def stop_shared(self) -> None:
        """For a test whose jobs must reach only the workers it starts itself."""
        if self._shared is not None:
            self._shared.stop()
            self._shared = None

    def stop_all(self) -> None:
        for worker in self._started:
            worker.stop()


@pytest.fixture(scope="session")
def worker_pool(django_db_setup, model_cache_dir, tmp_path_factory):
    purge_test_broker()
    pool = WorkerPool(tmp_path_factory)
    yield pool
    pool.stop_all()


@pytest.fixture
def start_worker(worker_pool):
    """Start a worker of this test's own (with extra env settings and `concurrency` threads, 2 unless given); no
    shared worker competes for its jobs. The workers a test starts are stopped when it ends, so they never take
    a later test's jobs. These tests run first (pytest_collection_modifyitems): the shared worker starts once."""
    worker_pool.stop_shared()
    mine: list[WorkerProcess] = []

    def start(concurrency: int = 2, **env_overrides: str) -> WorkerProcess:
        worker = worker_pool.start(concurrency, **env_overrides)
        mine.append(worker)
        return worker

    yield start
    for worker in mine:
        worker.stop()


@pytest.fixture
def celery_worker(worker_pool, request):
    """The shared worker (SHARED_WORKER_ENV), for tests that only need jobs to run. A test that fails stops it:
    a job it left running must not hold the worker (and fail the next test); the next test gets a fresh one."""
    yield worker_pool.shared()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        worker_pool.stop_shared()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (celery_worker reads whether the test failed)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# Under pytest-xdist (`make test`: --dist loadgroup) each file runs whole in one process (its module fixtures load
# once); the files named here run in the same process as each other, sharing a costly session fixture: transformers'
# reference model read from the GGUF (~30 s each time it loads).
XDIST_SHARED_GROUPS = {
    "tests/modelcore/test_gguf_import.py": "hf-gguf-reference",
    "tests/modelcore/test_smollm2.py": "hf-gguf-reference",
    "tests/modelcore/test_tokenizer.py": "hf-gguf-reference",
}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Files with tests that start workers of their own run first, in their usual order: each such test stops the
    shared worker, which then starts (and loads the model) once for the rest. First rather than last: they are the
    longest files and spend much of their time waiting (a visibility timeout, a killed worker), which the other
    xdist process fills with work; last, they would make a long tail."""
    def starts_workers(item) -> bool:
        return "start_worker" in getattr(item, "fixturenames", ())

    files = {item.nodeid.split("::")[0] for item in items if starts_workers(item)}
    items.sort(key=lambda item: (item.nodeid.split("::")[0] not in files, not starts_workers(item)))
    for item in items:
        path = item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(XDIST_SHARED_GROUPS.get(path, path)))


def wait_for_job(job_id: int, *, statuses=("succeeded", "failed", "cancelled"), timeout: float = 120, worker=None):
    from apps.generation.models import GenerationJob

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = GenerationJob.objects.get(pk=job_id)
        if job.status in statuses:
            return job
        time.sleep(0.2)
    tail = worker.log()[-3000:] if worker else ""
    raise AssertionError(f"job {job_id} still {job.status} after {timeout}s\n{tail}")


# --- a real browser ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the tests are still sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def login(page, live_server):
    def do_login(username: str, password: str = "a-long-test-password"):
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page

    return do_login
