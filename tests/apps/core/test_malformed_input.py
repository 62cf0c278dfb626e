"""Malformed input never makes a server error, and nothing is written when it is refused.

A hand-written corpus of bad bodies is sent to every write endpoint of the OpenAPI schema (the way an outside
probe found 60 server errors in 2,175 malformed requests); then every GET endpoint and page gets absurd ids and
query parameters. Every answer must be < 500, no row of any app model may appear, change count or vanish, and
no Celery message may be queued (on-commit callbacks are run, so an enqueue would reach Redis)."""
from __future__ import annotations

import json
import re

import pytest
import redis
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

from apps.accounts.models import AuditEvent
from tests.apps.core.openapi_check import openapi
from tests.apps.core.test_api_contract import world  # noqa: F401  (the fixture: one object of each kind)

APP_LABELS = ("accounts", "adapters", "finance", "generation", "medical", "monitoring")
DEEP = 5000
HUGE = "9" * 5000

# name -> (content type, raw body). Raw bytes, so that what a client library would refuse to encode is sent too.
CORPUS: dict[str, tuple[str, bytes]] = {
    "deep object": ("application/json", b'{"a":' * DEEP + b"1" + b"}" * DEEP),
    "deep array": ("application/json", b"[" * 100_000 + b"]" * 100_000),
    "deep array in a field": ("application/json", b'{"periods": ' + b"[" * DEEP + b"]" * DEEP + b"}"),
    "lone surrogate key": ("application/json", b'{"\\ud800": 1}'),
    "lone surrogate value": ("application/json", b'{"name": "\\udfff", "prompt": "\\ud800", "text": "\\ud800", '
                                                 b'"note": "\\ud800", "notes": "\\ud800", "comments": "\\ud800"}'),
    "lone surrogate nested key": ("application/json", b'{"periods": [{"\\ud800": 1, "fiscal_year": 2020}]}'),
    "NUL byte": ("application/json", b'{"name": "a\\u0000b", "prompt": "a\\u0000", "text": "\\u0000", '
                                     b'"note": "\\u0000", "adapter": "\\u0000"}'),
    "NUL byte key": ("application/json", b'{"na\\u0000me": "x"}'),
    "5000-digit integer": ("application/json", ('{"max_tokens": H, "company": H, "score": H, "seed": H, "age": H, '
                                                '"price_per_share": H}').replace("H", HUGE).encode()),
    "5000-digit integer in a period": ("application/json",
                                       ('{"periods": [{"fiscal_year": 2020, "revenue": H}]}').replace("H", HUGE).encode()),
    "20-digit integers": ("application/json", b'{"company": 99999999999999999999, "peers": [99999999999999999999],'
                                              b' "max_tokens": 99999999999999999999, "forecast_years": -99999999999}'),
    "1e400": ("application/json", b'{"wacc": 1e400, "temperature": 1e400, "score": 1e400, "terminal_growth": -1e400}'),
    "NaN and Infinity": ("application/json", b'{"wacc": NaN, "temperature": Infinity, "score": -Infinity}'),
    "wrong types": ("application/json", b'{"name": 5, "prompt": [], "company": "x", "score": {}, "peers": "1", '
                                        b'"periods": {"a": 1}, "text": true, "decision": 7, "domain": null}'),
    "array for object": ("application/json", b"[1, 2]"),
    "array of objects": ("application/json", b'[{"name": "x"}]'),
    "scalar body": ("application/json", b'"just a string"'),
    "unknown keys": ("application/json", b'{"zzz": 1, "__proto__": {}, "constructor": "x"}'),
    "empty body": ("application/json", b""),
    "whitespace body": ("application/json", b"   "),
    "truncated JSON": ("application/json", b'{"name": '),
    "trailing garbage": ("application/json", b'{"name": "x"} {"name": "y"}'),
    "wrong content type": ("text/plain", b"name=x"),
    "xml": ("application/xml", b"<name>x</name>"),
    "invalid UTF-8": ("application/json", b'{"name": "\xff\xfe\xed\xa0\x80"}'),
    "UTF-16 JSON": ("application/json", '{"name": "x"}'.encode("utf-16")),
    "sec: facts as a list": ("application/json", b'{"facts": [1, 2]}'),
    "sec: tag as a list": ("application/json", b'{"facts": {"us-gaap": {"Revenues": [1, 2]}}}'),
    "sec: units as a list": ("application/json", b'{"facts": {"us-gaap": {"Revenues": {"units": [1, 2]}}}}'),
    "sec: entries not a list": ("application/json", b'{"facts": {"us-gaap": {"Revenues": {"units": {"USD": 5}}}}}'),
    "sec: end not a date": ("application/json", b'{"facts": {"us-gaap": {"Revenues": {"units": {"USD": [{"form": '
                                                b'"10-K", "fp": "FY", "fy": 2023, "end": "not-a-date", '
                                                b'"start": "2023-01-01", "val": 5}]}}}}}'),
    "sec: instant end not a date": ("application/json", b'{"facts": {"us-gaap": {"Assets": {"units": {"USD": [{"form":'
                                                        b' "10-K", "fp": "FY", "fy": 2023, "end": "not-a-date", '
                                                        b'"val": 5}]}}}}}'),
    "sec: huge fy": ("application/json", ('{"facts": {"us-gaap": {"Assets": {"units": {"USD": [{"form": "10-K", '
                                          '"fp": "FY", "fy": H, "end": "2023-12-31", "val": 5}]}}}}}').replace("H", HUGE).encode()),
    "sec: huge val": ("application/json", ('{"facts": {"us-gaap": {"Assets": {"units": {"USD": [{"form": "10-K", '
                                           '"fp": "FY", "fy": 2023, "end": "2023-12-31", "val": H}]}}}}}'
                                           ).replace("H", HUGE).encode()),
}


def role_for(path: str) -> str:
    """A role that may call `path`, so that the body is read (a 403 would say nothing about parsing)."""
    if "/reviews/" in path:
        return "reviewer"
    if path.startswith("/api/v1/medical/"):
        return "clinician"
    return "admin"


def path_values(world: dict, user) -> dict[str, str]:  # noqa: F811
    from apps.accounts.models import ApiToken
    from apps.accounts.services import api_token_create

    api_token_create(user=user, name="to-revoke")
    draft = world["draft"]
    return {"company_id": world["company"].pk, "report_id": world["report"].pk, "draft_id": draft.pk,
            "encounter_id": draft.encounter_id, "finding_id": draft.findings.first().pk, "job_id": world["job"],
            "adapter_id": world["adapter"], "kind": "valuation",
            "token_id": ApiToken.objects.filter(user=user, name="to-revoke").latest("pk").pk}


def write_operations() -> list[tuple[str, str, bool]]:
    """(method, path, body_required) of every write; body_required is None where the operation takes no body
    (it ignores one: the corpus may only not make it fail)."""
    ops = []
    for path, item in openapi()["paths"].items():
        for method, op in item.items():
            if method in ("post", "put", "patch", "delete"):
                body = op.get("requestBody")
                ops.append((method.upper(), path, None if body is None else bool(body.get("required"))))
    return sorted(ops)


def snapshot() -> dict[str, int]:
    """Row counts of every app model (one query), and the length of every Redis list (Celery's queues are lists)."""
    models = [m for m in apps.get_models() if m._meta.app_label in APP_LABELS]
    tables = sorted({m._meta.db_table for m in models})
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(f"(SELECT count(*) FROM {connection.ops.quote_name(t)})"
                                             for t in tables))
        counts = dict(zip(tables, cursor.fetchone(), strict=True))
    r = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    counts.update({f"redis:{k.decode()}": r.llen(k) for k in r.keys("*") if r.type(k) == b"list"})
    return counts


def changes(before: dict, after: dict) -> dict:
    return {k: (before.get(k, 0), after.get(k, 0)) for k in set(before) | set(after)
            if before.get(k, 0) != after.get(k, 0)}


@pytest.fixture
def callers(world):  # noqa: F811
    """The world's API clients, answering a server error as a 500 response instead of raising it."""
    for caller in world["callers"].values():
        caller.client.raise_request_exception = False
    return world["callers"]


def logged_in(user):
    from django.test import Client

    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def test_every_write_endpoint_refuses_the_corpus_without_writing(world, callers,  # noqa: F811
                                                                  django_capture_on_commit_callbacks):
    operations = write_operations()
    assert len(operations) >= 15, operations  # the schema really was read
    values = {role: path_values(world, caller.user) for role, caller in callers.items()}
    failures = []
    for method, template, body_required in operations:
        role = role_for(template)
        path = re.sub(r"\{(\w+)\}", lambda m, role=role: str(values[role][m.group(1)]), template)
        client = callers[role].client
        for name, (content_type, body) in CORPUS.items():
            before = snapshot()
            with django_capture_on_commit_callbacks(execute=True) as callbacks:
                response = client.generic(method, path, body, content_type=content_type)
            after = snapshot()
            if response.status_code >= 500:
                failures.append(f"{method} {path} [{name}]: {response.status_code}")
                continue
            body_text = response.content.decode("utf-8")  # must be valid UTF-8: nothing unencodable echoed
            if body_required is None or (name == "empty body" and not body_required):
                continue  # no body, or an optional one left out: the operation may run
            if response.status_code < 400:
                failures.append(f"{method} {path} [{name}]: accepted with {response.status_code}")
            changed = changes(before, after)
            if path == "/api/v1/adapters/" and changed.get("accounts_auditevent", (0, 0))[1] - \
                    changed.get("accounts_auditevent", (0, 0))[0] == 1:
                # a refused upload writes its one audit event (and nothing else): the README's promise
                refusal = AuditEvent.objects.order_by("-pk").first()
                assert refusal.action == "adapter.upload_rejected", (name, refusal.action)
                del changed["accounts_auditevent"]
            if changed:
                failures.append(f"{method} {path} [{name}]: wrote {changed}")
            if callbacks:
                failures.append(f"{method} {path} [{name}]: {len(callbacks)} on-commit callbacks")
            if response["Content-Type"].startswith("application/json"):
                data = json.loads(body_text)
                assert set(data) >= {"detail", "code", "errors"}, (method, path, name, data)
    assert not failures, "\n".join(failures)


def test_refusals_name_the_field_path(world, callers):  # noqa: F811
    client = callers["admin"].client
    url = f"/api/v1/finance/companies/{world['company'].pk}/"
    cases = {
        b'{"ticker": "a\\u0000b"}': "ticker",
        b'{"ticker": "\\ud800"}': "ticker",
        b'{"peers": [1, "\\udc00"]}': "peers[1]",
        b'{"peers": {"\\ud800": 1}}': "peers",
        b'{"ticker": "x", "price_per_share": %s}' % HUGE.encode(): "price_per_share",
        b'{"price_per_share": 1e400}': "price_per_share",
        b'{"price_per_share": NaN}': "price_per_share",
    }
    for body, field in cases.items():
        response = client.generic("PATCH", url, body, content_type="application/json")
        assert response.status_code == 400, (body[:40], response.content[:300])
        data = response.json()
        assert field in data["errors"], (body[:40], data)
        assert "\\ud" not in response.content.decode() and "\ud800" not in response.content.decode()
    huge = client.generic("PATCH", url, b'{"name": "' + b"x" * 3_000_000 + b'"}', content_type="application/json")
    assert huge.status_code == 413 and "2621440 bytes" in huge.json()["detail"], huge.content[:300]
    deep = client.generic("PATCH", url, b'{"peers": ' + b"[" * 40 + b"]" * 40 + b"}", content_type="application/json")
    assert deep.status_code == 400 and "32" in deep.json()["detail"], deep.content[:300]


def test_statements_file_with_a_huge_number_names_the_row(world, callers):  # noqa: F811
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = callers["admin"].client
    url = f"/api/v1/finance/companies/{world['company'].pk}/statements/"
    files = {
        "big.json": ('{"periods": [{"fiscal_year": 2020, "revenue": H}]}').replace("H", HUGE).encode(),
        "deep.json": b'{"periods": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        "nul.json": b'{"periods": [{"fiscal_year": 2020, "revenue": 1, "currency": "US\\u0000"}]}',
        "big.csv": ("fiscal_year,revenue\n2020," + HUGE + "\n").encode(),
        "sec.json": b'{"facts": {"us-gaap": {"Revenues": {"units": [1]}}}}',
    }
    for name, content in files.items():
        before = snapshot()
        response = client.post(url, {"file": SimpleUploadedFile(name, content)}, format="multipart")
        assert response.status_code == 400, (name, response.status_code, response.content[:300])
        assert not changes(before, snapshot()), name
        if name.startswith("big"):
            assert any(c["row"] == (1 if name.endswith(".json") else 2) and c["column"] == "revenue"
                       for c in response.json()["cells"]), (name, response.json())


def _routes(resolver: URLResolver, prefix: str = ""):
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            if not route.startswith("admin/"):
                yield from _routes(p, route)
        elif isinstance(p, URLPattern) and "^" not in route:
            yield route


def test_absurd_ids_and_query_parameters_never_make_a_server_error(world, callers):  # noqa: F811
    """Every route (pages and API) with a 10**30 id, and every GET with absurd query parameters. (Django 5.2
    already answers an id beyond bigint as not found, and the pagination refuses what it cannot honour: this
    keeps it so.)"""
    routes = sorted(set(_routes(get_resolver())))
    assert any("<int:" in r for r in routes), routes
    queries = ["limit=10**30", "limit=" + "9" * 40, "offset=" + "9" * 40, "offset=", "limit=", "offset=-1",
               "offset=%00", "limit=1%00", "page=" + "9" * 40, "page=%00", "q=%00", "q=%ED%A0%80", "format=%00",
               "facts=%00", "status=%00", "domain=%00", "company=" + "9" * 40, "company=%00"]
    failures = []
    for role in ("clinician", "admin"):  # between them every page and endpoint is open to one; others 403 early
        caller = callers[role]
        api, web_client = caller.client, logged_in(caller.user)
        for route in routes:
            for ident in ("9" * 30, "9223372036854775808"):
                path = "/" + re.sub(r"<int:\w+>", ident, route).replace("<str:kind>", "valuation") \
                    .replace("<str:fmt>", "md")
                path = re.sub(r"<\w+:\w+>", "x", path)
                client = api if path.startswith("/api/") else web_client
                for method in ("GET", "POST"):
                    response = client.generic(method, path)
                    if response.status_code >= 500:
                        failures.append(f"{role} {method} {path}: {response.status_code}")
        for route in routes:
            if "<" in route:
                continue
            client = api if route.startswith("api/") else web_client
            for query in queries:
                response = client.get(f"/{route}?{query}")
                if response.status_code >= 500:
                    failures.append(f"{role} GET /{route}?{query}: {response.status_code}")
        for path in ("/api/v1/jobs/%00/", "/finance/reports/1/export/%00/", "/api/v1/finance/reports/1/sections/%00/",
                     "/api/v1/finance/reports/1/sections/%ED%A0%80/"):
            response = (api if path.startswith("/api/") else web_client).get(path)
            if response.status_code >= 500:
                failures.append(f"{role} GET {path}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_malformed_form_posts_never_make_a_server_error(world, callers):  # noqa: F811
    """Every page POSTed a form whose every likely field holds a NUL byte or a 5,000-digit number."""
    routes = sorted(set(_routes(get_resolver())))
    ids = {"company_id": world["company"].pk, "report_id": world["report"].pk, "draft_id": world["draft"].pk,
           "encounter_id": world["draft"].encounter_id, "finding_id": world["draft"].findings.first().pk,
           "job_id": world["job"], "adapter_id": world["adapter"], "token_id": 1, "kind": "valuation", "fmt": "md",
               "alert_id": 999999}
    fields = ["name", "ticker", "company", "peers", "fiscal_year", "period_end", "revenue", "prompt", "max_tokens",
              "temperature", "seed", "domain", "score", "decision", "comments", "text", "note", "age", "sex",
              "complaint", "wacc", "terminal_growth", "forecast_years", "price_per_share", "format", "page"]
    bodies = {"NUL": dict.fromkeys(fields, "a\x00b"), "huge": dict.fromkeys(fields, HUGE),
              "20 digits": dict.fromkeys(fields, "9" * 20)}
    failures = []
    for role, caller in callers.items():
        client = logged_in(caller.user)
        for route in routes:
            if route.startswith("api/") or route in ("logout/",):
                continue
            path = "/" + re.sub(r"<\w+:(\w+)>", lambda m: str(ids[m.group(1)]), route)
            for name, data in bodies.items():
                response = client.post(path, data)
                if response.status_code >= 500:
                    failures.append(f"{role} POST {path} [{name}]: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_nul_bytes_in_query_strings_and_forms_are_named_refusals(world, callers):  # noqa: F811
    from apps.accounts.models import ApiToken

    api = callers["analyst"].client
    response = api.get("/api/v1/jobs/?status=queued%00")
    assert response.status_code == 400 and response.json()["errors"] == {"status": [
        "the query parameter 'status' contains a NUL byte"]}, response.content
    assert api.get("/api/v1/finance/companies/?limit=" + "9" * 5000).json()["errors"] == {
        "limit": ["must be at most 18 digits"]}
    web = logged_in(callers["analyst"].user)
    before = ApiToken.objects.count()
    response = web.post("/tokens/", {"name": "a\x00b"})
    assert response.status_code == 400 and b"'name'" in response.content, response.content[:200]
    assert ApiToken.objects.count() == before
