"""The OpenAPI schema is generated and validated in the suite, so that it cannot drift from the code again."""
import subprocess
import sys

from tests.conftest import REPO


def test_spectacular_validates_without_a_single_warning(tmp_path):
    out = tmp_path / "schema.yaml"
    run = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Warning" not in run.stderr and "Error" not in run.stderr, run.stderr[-3000:]
    assert out.stat().st_size > 10_000


def test_every_operation_documents_its_success_body_and_the_error_envelope():
    from tests.apps.core.openapi_check import openapi

    spec = openapi()
    assert spec["components"]["schemas"]["ErrorOutput"]["required"] == ["code", "detail", "errors"]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            codes = op["responses"]
            success = [c for c in codes if c.startswith("2")]
            assert success, f"{method} {path}: no success response"
            for code in success:
                assert codes[code].get("content"), f"{method} {path} {code}: no body documented"
            for code in ("401", "403"):
                ref = codes[code]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorOutput", f"{method} {path} {code}"
            for param in op.get("parameters", []):
                if param["in"] == "path" and param["name"].endswith("_id"):
                    assert param["schema"]["type"] == "integer", f"{path}: {param['name']} is not an integer"


def test_every_list_is_paginated_with_a_capped_limit():
    from tests.apps.core.openapi_check import openapi

    lists = {path for path, item in openapi()["paths"].items()
             if "get" in item and any(p["name"] == "limit" for p in item["get"].get("parameters", []))}
    assert lists == {
        "/api/v1/auth/tokens/", "/api/v1/jobs/", "/api/v1/adapters/", "/api/v1/finance/companies/",
        "/api/v1/finance/companies/{company_id}/statements/", "/api/v1/finance/reports/",
        "/api/v1/medical/encounters/", "/api/v1/medical/review-queue/",
        "/api/v1/medical/drafts/{draft_id}/findings/", "/api/v1/monitoring/snapshots/",
        "/api/v1/monitoring/alerts/",
    }
    for path in lists:
        op = openapi()["paths"][path]["get"]
        limit = next(p for p in op["parameters"] if p["name"] == "limit")
        assert limit["schema"]["maximum"] == 200
        body = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert set(openapi()["components"]["schemas"][body]["properties"]) == {"count", "next", "previous",
                                                                                "results"}
