"""Every API list: limit/offset with a capped limit (a bad value is a 400 naming the parameter), and a query count
that does not grow with the number of rows (the same budget at 1 row and at 50)."""
from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.apps.adapters.factories import adapter_files
from tests.apps.finance.test_reports_factories import join, make_company, make_team
from tests.apps.medical.factories import encounter


def _statement(company, year: int):
    from apps.finance.models import FinancialStatement

    FinancialStatement.objects.create(company=company, fiscal_year=year, currency="USD",
                                      period_end=datetime.date(year, 12, 31), revenue=Decimal("100"))


def _adapter(admin_client, seed: int) -> int:
    config, weights = adapter_files(seed=seed)
    r = admin_client.post("/api/v1/adapters/", {
        "name": f"lora-{seed}", "domain": "finance", "config": SimpleUploadedFile("adapter_config.json", config),
        "weights": SimpleUploadedFile("adapter_model.safetensors", weights)}, format="multipart")
    assert r.status_code == 201, r.json()
    return r.json()["id"]


# Each maker adds `n` rows to the list its URL names, as varied as a real list (related rows on every one).
def tokens(ctx, n):
    from apps.accounts.services import api_token_create

    for _ in range(n):
        api_token_create(user=ctx["analyst"].user, name=f"t-{uuid.uuid4().hex[:8]}")
    return ctx["analyst"], "/api/v1/auth/tokens/"


def jobs(ctx, n):
    from apps.adapters.models import AdapterVersion
    from apps.generation.models import GenerationJob

    adapter = AdapterVersion.objects.get(pk=ctx["adapter"])
    GenerationJob.objects.bulk_create([GenerationJob(owner=ctx["analyst"].user, prompt="p", adapter=adapter,
                                                     domain="finance") for _ in range(n)])
    return ctx["analyst"], "/api/v1/jobs/"


def adapters(ctx, n):
    from apps.adapters.models import AdapterVersion

    first = AdapterVersion.objects.get(pk=ctx["adapter"])
    start = 100 + AdapterVersion.objects.count()
    for i in range(n):
        first.pk, first.version, first.sha256 = None, start + i, uuid.uuid4().hex
        first.save()
    return ctx["admin"], "/api/v1/adapters/"


def companies(ctx, n):
    previous = None
    for _ in range(n):
        company = make_company(team=ctx["team"], created_by=ctx["analyst"].user)
        if previous is not None:
            company.peers.add(previous)
        previous = company
    return ctx["analyst"], "/api/v1/finance/companies/"


def statements(ctx, n):
    start = 1900 + ctx["company"].statements.count()
    for year in range(start, start + n):
        _statement(ctx["company"], year)
    return ctx["analyst"], f"/api/v1/finance/companies/{ctx['company'].pk}/statements/"


def reports(ctx, n):
    from apps.finance.reports.services import report_create

    report, _ = report_create(owner=ctx["analyst"].user, company=ctx["company"])
    for _ in range(n - 1):
        report.pk = None
        report.save()
    return ctx["analyst"], "/api/v1/finance/reports/"


def encounters(ctx, n):
    for _ in range(n):
        encounter(ctx["clinician"].user)
    return ctx["clinician"], "/api/v1/medical/encounters/"


def review_queue(ctx, n):
    from apps.medical.models import Draft

    for _ in range(n):
        e = encounter(ctx["clinician"].user)
        Draft.objects.create(encounter=e, version=1, author=ctx["clinician"].user, source="edit",
                             status=Draft.Status.IN_REVIEW, verification=Draft.Verification.PASSED)
    return ctx["reviewer"], "/api/v1/medical/review-queue/"


def findings(ctx, n):
    from apps.medical.models import Draft, Finding

    draft = ctx.get("draft")
    if draft is None:
        e = encounter(ctx["clinician"].user)
        draft = ctx["draft"] = Draft.objects.create(encounter=e, version=1, author=ctx["clinician"].user,
                                                    source="edit", status=Draft.Status.IN_REVIEW)
    Finding.objects.bulk_create([Finding(draft=draft, check_name="dose", severity="warning", message="m",
                                         section="plan") for _ in range(n)])
    return ctx["reviewer"], f"/api/v1/medical/drafts/{draft.pk}/findings/"


# (maker, query budget of one page whatever its length: auth, permissions, count, rows, prefetches, audit)
LISTS = {
    "tokens": (tokens, 4), "jobs": (jobs, 7), "adapters": (adapters, 5), "companies": (companies, 9),
    "statements": (statements, 8), "reports": (reports, 7), "encounters": (encounters, 8),
    "review_queue": (review_queue, 7), "findings": (findings, 8),
}


@pytest.fixture
def ctx(api_client_for):
    team = make_team()
    c = {role: api_client_for(role) for role in ("analyst", "admin", "clinician", "reviewer")}
    join(c["analyst"].user, team)
    join(c["admin"].user, team)
    company = make_company(team=team, created_by=c["analyst"].user, name="Lists Fictional Co")
    return {**c, "team": team, "company": company, "adapter": _adapter(c["admin"], seed=3)}


@pytest.mark.parametrize("name", LISTS)
def test_query_count_does_not_grow_with_the_list(ctx, name, django_assert_max_num_queries):
    make, budget = LISTS[name]
    client, url = make(ctx, 1)
    client.get(url)  # settle what the first request of a token does once (its last-used time, caches)
    with django_assert_max_num_queries(budget):
        first = client.get(url)
    assert first.status_code == 200 and first.json()["count"] >= 1
    make(ctx, 49)
    client.get(f"{url}?limit=50")  # the token's last-used time is written at most once a minute: settle it again
    with django_assert_max_num_queries(budget):
        page = client.get(f"{url}?limit=50")
    assert page.status_code == 200 and len(page.json()["results"]) == 50 and page.json()["count"] >= 50


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize(("query", "param"), [
    ("limit=0", "limit"), ("limit=201", "limit"), ("limit=100000000000000000000", "limit"), ("limit=ten", "limit"),
    ("limit=-5", "limit"), ("offset=-1", "offset"), ("offset=x", "offset"),
])
def test_a_bad_limit_or_offset_is_a_400_naming_it(ctx, name, query, param):
    client, url = LISTS[name][0](ctx, 1)
    r = client.get(f"{url}?{query}")
    assert r.status_code == 400, r.content[:300]
    body = r.json()
    assert set(body) == {"detail", "code", "errors"} and list(body["errors"]) == [param]
    assert param in body["detail"]


def test_limit_offset_walk_the_whole_list_once(ctx):
    client, url = companies(ctx, 5)
    total = client.get(url).json()["count"]
    seen, offset = [], 0
    while True:
        page = client.get(f"{url}?limit=2&offset={offset}").json()
        seen += [c["id"] for c in page["results"]]
        if page["next"] is None:
            break
        assert "limit=2" in page["next"] and f"offset={offset + 2}" in page["next"]
        offset += 2
    assert len(seen) == len(set(seen)) == total == 6
    assert client.get(f"{url}?limit=200").status_code == 200
    assert client.get(f"{url}?offset=999").json()["results"] == []
