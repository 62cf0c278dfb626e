"""The production image's web process, for real: the Dockerfile's static build, then gunicorn with production settings.

The static files are built exactly as the Dockerfile's collectstatic step says (its environment, its settings
module) into a temporary STATIC_ROOT, and a gunicorn process (platform/gunicorn.conf.py, production settings)
serves the test database. A page that names a static file the manifest lacks is a 500, so the login page and a
signed-in dashboard answering 200, with every hashed static URL they name answering 200, prove the image serves.
Also: the image keeps secrets and local files out, every entry point defaults to production settings, and
/healthz says 503 when the manifest is missing.
"""
from __future__ import annotations

import http.client
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from tests.processes import terminate

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "platform" / "docker" / "Dockerfile"
PRODUCTION = "config.settings.production"
PROD_ENV = {
    "DJANGO_SECRET_KEY": "test-production-secret-" + "k" * 40,
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
}
HASHED = re.compile(r"""(?:href|src)="(/static/[^"]+\.[0-9a-f]{12}\.(?:css|js))\"""")


def _clean_env(**extra: str) -> dict[str, str]:
    # Nothing of the test process's Django setup leaks into the child: it gets only what a container gets.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PLUMBLINE_TEST"))}
    env.pop("STATIC_ROOT", None)
    return {**env, **extra}


def dockerfile_collectstatic() -> tuple[dict[str, str], list[str]]:
    """The environment assignments and the command of the Dockerfile's `RUN ... collectstatic` step."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line for line in text.splitlines() if line.startswith("RUN ") and "collectstatic" in line]
    assert len(lines) == 1, f"one RUN step builds the static files, found {lines}"
    words = shlex.split(lines[0][len("RUN "):])
    env = {}
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


def collect_static(static_root: Path) -> subprocess.CompletedProcess:
    build_env, command = dockerfile_collectstatic()
    assert command[:3] == ["python", "manage.py", "collectstatic"], command
    env = _clean_env(**build_env, DJANGO_STATIC_ROOT=str(static_root))
    return subprocess.run([sys.executable, *command[1:]], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn with the image's config file and production settings, on the test database."""

    def __init__(self, static_root: Path, log_path: Path):
        from django.conf import settings

        db = settings.DATABASES["default"]
        self.port = _free_port()
        env = _clean_env(
            **PROD_ENV,
            DJANGO_SETTINGS_MODULE=PRODUCTION,
            DJANGO_STATIC_ROOT=str(static_root),
            DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
            GUNICORN_BIND=f"127.0.0.1:{self.port}",
            GUNICORN_WORKERS="1",
            GUNICORN_THREADS="2",
        )
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "platform/gunicorn.conf.py", "config.wsgi:application"],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not listen after 60 s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        terminate(self.proc)
        self._log.close()


class Browserless:
    """A cookie-keeping HTTP client that speaks to the server as a TLS-terminating proxy would."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        origin = f"https://127.0.0.1:{self.port}"
        headers = {"Host": f"127.0.0.1:{self.port}", "X-Forwarded-Proto": "https"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "Origin": origin,
                            "Referer": f"{origin}{path}"})
        conn.request(method, path, body=data, headers=headers)
        resp = conn.getresponse()
        content = resp.read()
        for value in resp.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(value).items():
                self.cookies[name] = morsel.value
        result = resp.status, {k.lower(): v for k, v in resp.getheaders()}, content
        conn.close()
        return result


@pytest.fixture(scope="module")
def built_static(tmp_path_factory):
    root = tmp_path_factory.mktemp("staticfiles")
    result = collect_static(root)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return root


def _hashed_urls_resolve(client: Browserless, html: str) -> list[str]:
    urls = HASHED.findall(html)
    for url in urls:
        status, headers, body = client.request("GET", url)
        assert status == 200 and body, f"{url}: {status}"
        assert headers["content-type"].startswith("text/css" if url.endswith(".css") else "text/javascript"), url
        assert "immutable" in headers.get("cache-control", ""), f"{url}: not served as a hashed file"
    return urls


def test_dockerfile_builds_static_files_with_production_settings_and_bakes_no_secret():
    build_env, _ = dockerfile_collectstatic()
    assert build_env.get("DJANGO_SETTINGS_MODULE") == PRODUCTION
    text = DOCKERFILE.read_text()
    env_lines = [line for line in text.replace("\\\n", " ").splitlines() if line.startswith("ENV ")]
    assert any(f"DJANGO_SETTINGS_MODULE={PRODUCTION}" in line for line in env_lines), env_lines
    for secret in ("DJANGO_SECRET_KEY", "DATABASE_URL", "POSTGRES_PASSWORD"):
        assert not any(secret in line for line in env_lines), f"{secret} is baked into the image's ENV"
        assert not any(line.startswith("ARG ") and secret in line for line in text.splitlines())


def test_dockerignore_keeps_local_state_out_of_the_image():
    path = REPO / ".dockerignore"
    assert path.is_file(), "no .dockerignore: .venv, var/ and the demo logins go into the image"
    patterns = {line.strip().rstrip("/") for line in path.read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for needed in (".git", ".venv", "var", "staticfiles", "**/__pycache__", "**/*.sqlite3", "**/demo-logins.txt",
                   ".pytest_cache", "bench/results/*.json", "tests"):
        assert needed in patterns, f"{needed} is not in .dockerignore"
    assert not any(p.startswith("!") for p in patterns), "nothing ignored is taken back in"


@pytest.mark.slow
def test_production_server_serves_pages_and_hashed_static_files(transactional_db, make_user, built_static,
                                                                  tmp_path):
    manifest = built_static / "staticfiles.json"
    assert manifest.is_file() and (built_static / "css").is_dir()
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    user = make_user("analyst")
    # The test settings hash with MD5 for speed; production knows only its default hashers.
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode("a-long-test-password", hasher.salt())
    user.save(update_fields=["password"])
    server = Gunicorn(built_static, tmp_path / "gunicorn.log")
    try:
        client = Browserless(server.port)
        # Plain HTTP is redirected to HTTPS; behind the proxy (X-Forwarded-Proto: https) the page is served.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("GET", "/login/", headers={"Host": f"127.0.0.1:{server.port}"})
        plain = conn.getresponse()
        assert plain.status == 301 and plain.headers["Location"].startswith("https://")
        conn.close()

        status, headers, body = client.request("GET", "/healthz")
        assert status == 200, body
        status, headers, body = client.request("GET", "/login/")
        assert status == 200, server.log()[-3000:]
        html = body.decode()
        urls = _hashed_urls_resolve(client, html)
        assert any("/static/css/plumbline." in u for u in urls) and any("/static/js/confirm." in u for u in urls)
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert headers["strict-transport-security"].startswith("max-age=")

        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        status, headers, _ = client.request(
            "POST", "/login/", {"csrfmiddlewaretoken": token, "username": user.username,
                                "password": "a-long-test-password"})
        assert status == 302 and headers["location"] == "/", server.log()[-3000:]
        status, _, body = client.request("GET", "/")
        assert status == 200, server.log()[-3000:]
        html = body.decode()
        assert f">{user.username} · analyst<" in html
        assert _hashed_urls_resolve(client, html)
    finally:
        server.stop()


@pytest.mark.slow
def test_healthz_is_503_when_the_static_manifest_is_missing(db, tmp_path):
    empty = tmp_path / "empty-static"
    empty.mkdir()
    server = Gunicorn(empty, tmp_path / "gunicorn.log")
    try:
        client = Browserless(server.port)
        status, _, body = client.request("GET", "/healthz")
        assert status == 503, body
        assert b"static" in body and b"collectstatic" in body
        status, _, _ = client.request("GET", "/login/")
        assert status == 500  # what the health check now reports before a user meets it
    finally:
        server.stop()


@pytest.mark.parametrize("module", ["config.celery", "config.wsgi", "config.asgi"])
def test_entry_points_default_to_production_settings(module):
    # Without DJANGO_SETTINGS_MODULE, a worker, beat or web process must not fall back to DEBUG and a public key.
    code = (f"import {module}; from django.conf import settings; "
            "print(settings.SETTINGS_MODULE, settings.DEBUG, settings.SECURE_SSL_REDIRECT)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_clean_env(**PROD_ENV),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [PRODUCTION, "False", "True"]
    # ... and with no secret in the environment it refuses to start instead of using a default one.
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=_clean_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


def test_compose_runs_web_workers_and_beat_with_production_settings():
    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    for name in ("web", "worker-gpu", "worker-cpu", "beat"):
        assert services[name]["environment"]["DJANGO_SETTINGS_MODULE"] == PRODUCTION, name


def test_compose_vllm_profile_points_a_pool_worker_at_the_vllm_service():
    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    vllm, pool = services["vllm"], services["worker-pool"]
    assert vllm["profiles"] == pool["profiles"] == ["vllm"] and "profiles" not in services["worker-gpu"]
    assert "--enable-lora" in vllm["command"] and vllm["environment"]["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    assert pool["environment"]["PLUMBLINE_BACKEND"] == "openai" and "-Q" in pool["command"]
    assert pool["environment"]["PLUMBLINE_BACKEND_URL"].endswith("http://vllm:8000/v1}")
    assert "model-data:/data" in vllm["volumes"] and "deploy" not in pool  # adapters at the workers' paths; no GPU
