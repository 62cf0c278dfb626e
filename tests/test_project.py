"""The project as a whole: deploy checks, migrations, OpenAPI, compose file, layout pitfalls."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # The browser tests allow sync ORM calls beside Playwright's loop in this process; a deployment never does.
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, capture_output=True, text=True, env={**base, **(env or {})}
    )


def test_check_deploy_with_production_settings_is_clean():
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-0123456789",
        "DJANGO_ALLOWED_HOSTS": "plumbline.example.org",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    }
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr and "no issues" in result.stdout


def test_production_refuses_to_start_without_its_secret():
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.production", "DJANGO_SECRET_KEY": "", "DJANGO_ALLOWED_HOSTS": "x"}
    result = manage("check", env=env)
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


def test_no_missing_migrations():
    result = manage("makemigrations", "--check", "--dry-run", env={"DJANGO_SETTINGS_MODULE": "config.settings.test"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_platform_folder_is_not_a_package():
    # A package named `platform` shadows the standard library module and breaks torch and celery.
    assert not (REPO / "platform" / "__init__.py").exists()
    import platform

    assert hasattr(platform, "python_version")


def test_compose_services_and_commands_exist_in_the_tree():
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) >= {"web", "worker-gpu", "worker-cpu", "beat", "redis", "postgres"}
    for name, svc in services.items():
        assert "healthcheck" in svc, f"{name} has no health check"
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["driver"] == "nvidia" and "gpu" in gpu["capabilities"]
    for name, queue in (("worker-gpu", "gpu"), ("worker-cpu", "default")):
        command = services[name]["command"]
        assert command[command.index("-Q") + 1] == queue
    for name in ("web", "worker-gpu", "worker-cpu", "beat"):
        build = services[name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).is_file()
        command = services[name]["command"]
        # Every module or config file the command names must exist in the tree.
        for word in command:
            if word.startswith("config.") or word == "config":
                assert (REPO / "config").is_dir()
            if word.endswith(".py") and "/" in word:
                assert (REPO / word).is_file(), f"{name}: {word} is not in the tree"


@pytest.mark.django_db
def test_openapi_schema_and_swagger_ui_are_served_without_a_cdn(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/v1/jobs/", "/api/v1/jobs/{job_id}/", "/api/v1/auth/tokens/"):
        assert path in text
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn.jsdelivr" not in docs.content and b"/static/drf_spectacular_sidecar/" in docs.content


def test_modelcore_does_not_import_django():
    code = "import sys, modelcore; assert not any(m == 'django' or m.startswith('django.') for m in sys.modules), 'django imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_routed_queue_has_a_worker_in_compose_and_under_make_run():
    """A task routed to a queue nobody consumes waits forever: compose (default profile) and `make run`'s rundev
    each start a worker for every queue in CELERY_TASK_ROUTES."""
    import re

    from django.conf import settings

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert "eval" in routed  # adapter evaluation runs apart from the serving Engine
    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    in_compose = {queue for svc in services.values() if "profiles" not in svc and "worker" in svc.get("command", [])
                  for queue in svc["command"][svc["command"].index("-Q") + 1].split(",")}
    rundev = (REPO / "apps" / "core" / "management" / "commands" / "rundev.py").read_text()
    in_rundev = {q for group in re.findall(r'"-Q", "([a-z,]+)"', rundev) for q in group.split(",")}
    assert routed <= in_compose, routed - in_compose
    assert routed <= in_rundev, routed - in_rundev
