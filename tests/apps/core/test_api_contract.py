"""Every REST endpoint, called as each role, answers only what /api/schema/ declares: a declared status code and
a body that matches the declared schema for it (undocumented fields fail too)."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.accounts.roles import ROLES
from tests.apps.adapters.factories import adapter_files
from tests.apps.core.openapi_check import check_response, openapi
from tests.apps.finance.test_reports_factories import join, make_company, make_team, write_all_sections
from tests.apps.medical.factories import CLEAN_CONTENT, ENCOUNTER, PLANTED_CONTENT
from tests.apps.medical.test_review import verified_version

V1 = "/api/v1"


class Caller:
    """An API client that checks every answer against the schema and remembers what it called."""

    def __init__(self, client: APIClient):
        self.client, self.user, self.seen = client, client.user, []

    def call(self, method: str, path: str, data=None, fmt: str = "json"):
        send = getattr(self.client, method.lower())
        response = send(path, data, format=fmt) if data is not None else send(path)
        check_response(method, path, response)
        self.seen.append((method, path.split("?", 1)[0], response.status_code))
        return response


def upload(client, *, name: str = "contract-lora"):
    config, weights = adapter_files(seed=7)
    return {"name": name, "domain": "finance", "config": SimpleUploadedFile("adapter_config.json", config),
            "weights": SimpleUploadedFile("adapter_model.safetensors", weights)}


@pytest.fixture
def world(api_client_for, make_user):
    """A team with an analyst and an admin, a company with statements and a peer, two ready reports, an adapter,
    a job, and an encounter whose latest version waits for review (with findings)."""
    team = make_team()
    callers = {role: Caller(api_client_for(role)) for role in ROLES}
    for role in ("analyst", "admin"):
        join(callers[role].user, team)
    analyst, admin = callers["analyst"], callers["admin"]
    company = make_company(team=team, created_by=analyst.user, name="Contract Fictional Holdings")
    peer = make_company(team=team, created_by=analyst.user, name="Contract Peer Fictional")
    company.peers.add(peer)
    reports = []
    for _ in range(2):
        r = analyst.call("POST", f"{V1}/finance/reports/", {"company": company.pk})
        assert r.status_code == 202, r.json()
        from apps.finance.models import Report

        reports.append(write_all_sections(Report.objects.get(pk=r.json()["id"])))
    r = admin.call("POST", f"{V1}/adapters/", upload(admin.client), fmt="multipart")
    assert r.status_code == 201, r.json()
    job = analyst.call("POST", f"{V1}/jobs/", {"prompt": "Say hello.", "domain": "general", "max_tokens": 4})
    assert job.status_code == 202, job.json()
    draft = verified_version(callers["clinician"].user, PLANTED_CONTENT)
    return {"callers": callers, "company": company, "report": reports[0], "spare": reports[1],
            "adapter": r.json()["id"], "job": job.json()["id"], "draft": draft}


def calls_for(caller: Caller, world: dict) -> None:
    c, role = caller, caller.user.role
    company, report, spare, draft = world["company"], world["report"], world["spare"], world["draft"]
    # accounts: the caller's own tokens
    c.call("GET", f"{V1}/auth/tokens/")
    made = c.call("POST", f"{V1}/auth/tokens/", {"name": f"contract-{role}"})
    c.call("POST", f"{V1}/auth/tokens/", {"name": f"contract-{role}"})  # 409: a live token of that name
    c.call("POST", f"{V1}/auth/tokens/", {"name": "x", "colour": "red"})  # 400: unknown field
    if made.status_code == 201:
        c.call("POST", f"{V1}/auth/tokens/{made.json()['id']}/revoke/")
    c.call("POST", f"{V1}/auth/tokens/999999/revoke/")
    # generation jobs
    c.call("GET", f"{V1}/jobs/")
    c.call("GET", f"{V1}/jobs/?limit=0")
    mine = c.call("POST", f"{V1}/jobs/", {"prompt": "Hi.", "domain": "general", "max_tokens": 2})
    c.call("GET", f"{V1}/jobs/{world['job']}/")
    job = mine.json()["id"] if mine.status_code == 202 else world["job"]
    c.call("POST", f"{V1}/jobs/{job}/cancel/")
    c.call("POST", f"{V1}/jobs/{job}/cancel/")  # 409 once it has ended
    # adapters
    adapter = world["adapter"]
    c.call("GET", f"{V1}/adapters/")
    c.call("GET", f"{V1}/adapters/active/")
    c.call("GET", f"{V1}/adapters/{adapter}/")
    c.call("POST", f"{V1}/adapters/", upload(c.client), fmt="multipart")  # the same files again: 200 duplicate
    c.call("POST", f"{V1}/adapters/{adapter}/activate/", {})
    c.call("POST", f"{V1}/adapters/{adapter}/rollback/")
    # finance: companies and statements
    base = f"{V1}/finance/companies"
    c.call("GET", f"{base}/")
    c.call("GET", f"{base}/?limit=500")
    c.call("POST", f"{base}/", {"name": f"Contract Co {role}", "peers": [company.pk]})
    c.call("GET", f"{base}/{company.pk}/")
    c.call("PATCH", f"{base}/{company.pk}/", {"ticker": "CFH"})
    c.call("GET", f"{base}/{company.pk}/statements/")
    c.call("POST", f"{base}/{company.pk}/statements/", {"periods": [{"fiscal_year": 2030, "revenue": 100}]})
    c.call("POST", f"{base}/{company.pk}/statements/", {"periods": [{"fiscal_year": 3000, "revenue": "lots"}]})
    # finance: reports
    reports = f"{V1}/finance/reports"
    c.call("GET", f"{reports}/")
    c.call("POST", f"{reports}/", {"company": company.pk, "wacc": 0.01, "terminal_growth": 0.05})
    c.call("GET", f"{reports}/{report.pk}/")
    c.call("GET", f"{reports}/{report.pk}/?facts=0")
    c.call("GET", f"{reports}/999999/")
    c.call("POST", f"{reports}/{report.pk}/dcf/", {"wacc": 0.095, "terminal_growth": 0.02, "forecast_years": 5})
    # edits go to the spare report: whoever edits a report may not approve it (four eyes), and the admin approves
    c.call("POST", f"{reports}/{spare.pk}/sections/valuation/", {"text": "The valuation rests on the DCF."})
    c.call("POST", f"{reports}/{report.pk}/sections/nonsense/", {"text": "x"})
    c.call("GET", f"{reports}/{report.pk}/sections/valuation/versions/")
    c.call("POST", f"{reports}/{spare.pk}/sections/valuation/regenerate/")
    for fmt in ("md", "pdf", "docx"):
        c.call("GET", f"{reports}/{report.pk}/export/?format={fmt}")
    c.call("POST", f"{reports}/{report.pk}/approve/")
    # monitoring (admins only; 403 for the other roles)
    c.call("GET", f"{V1}/monitoring/snapshots/")
    c.call("GET", f"{V1}/monitoring/snapshots/?statistic=nonsense-filter&colour=red")
    c.call("GET", f"{V1}/monitoring/alerts/")
    # medical
    med = f"{V1}/medical"
    c.call("GET", f"{med}/encounters/")
    created = c.call("POST", f"{med}/encounters/", ENCOUNTER)
    c.call("POST", f"{med}/encounters/", {**ENCOUNTER, "age": "old"})
    encounter = created.json()["id"] if created.status_code == 201 else draft.encounter_id
    c.call("GET", f"{med}/encounters/{draft.encounter_id}/")
    c.call("GET", f"{med}/encounters/{draft.encounter_id}/status/")
    c.call("POST", f"{med}/encounters/{encounter}/triage/")
    c.call("POST", f"{med}/encounters/{encounter}/drafts/")
    c.call("GET", f"{med}/drafts/{draft.pk}/")
    c.call("GET", f"{med}/drafts/{draft.pk}/findings/?limit=5")
    c.call("GET", f"{med}/review-queue/")
    finding = draft.findings.first()
    c.call("POST", f"{med}/drafts/{draft.pk}/findings/{finding.pk}/acknowledge/", {"note": "checked by hand"})
    c.call("POST", f"{med}/drafts/{draft.pk}/reviews/", {"score": "0.9", "decision": "send_back",
                                                          "comments": "Recheck the doses."})
    c.call("POST", f"{med}/drafts/{draft.pk}/versions/", CLEAN_CONTENT)


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_answers_what_the_schema_declares(world, role):
    caller = world["callers"][role]
    calls_for(caller, world)
    # every operation of the schema was called
    from tests.apps.core.openapi_check import operation

    called = {operation(m, p)["operationId"] for m, p, _ in caller.seen}
    declared = {op["operationId"] for item in openapi()["paths"].values() for op in item.values()}
    assert declared <= called, f"not called as {role}: {sorted(declared - called)}"


def test_each_role_reached_the_happy_paths(world):
    """The contract test is only worth something if the calls succeed where the role may act."""
    for role in ("reviewer", "analyst", "clinician", "admin"):  # the reviewer sees the version before any edit
        calls_for(world["callers"][role], world)
    seen = {role: {(m, p, s) for m, p, s in world["callers"][role].seen} for role in ROLES}
    report, draft = world["report"], world["draft"]
    assert ("GET", f"{V1}/finance/reports/{report.pk}/export/", 200) in seen["analyst"]
    assert ("POST", f"{V1}/finance/reports/{report.pk}/approve/", 403) in seen["analyst"]  # its author
    assert ("POST", f"{V1}/finance/reports/{report.pk}/approve/", 200) in seen["admin"]
    assert ("POST", f"{V1}/finance/reports/{world['spare'].pk}/sections/valuation/regenerate/", 202) in seen["analyst"]
    assert ("POST", f"{V1}/medical/encounters/", 201) in seen["clinician"]
    assert ("POST", f"{V1}/medical/drafts/{draft.pk}/reviews/", 201) in seen["reviewer"]
    assert ("GET", f"{V1}/medical/review-queue/", 200) in seen["reviewer"]
    assert ("POST", f"{V1}/adapters/", 200) in seen["admin"]
    for role in ROLES:
        assert ("GET", f"{V1}/jobs/", 200) in seen[role]


def test_the_check_refuses_an_undocumented_field_a_wrong_type_and_an_undeclared_status():
    from django.http import JsonResponse

    ok = {"domain": "finance", "active": None}
    check_response("GET", f"{V1}/adapters/active/", JsonResponse([ok], safe=False))
    with pytest.raises(AssertionError, match="does not match"):
        check_response("GET", f"{V1}/adapters/active/", JsonResponse([{**ok, "extra": 1}], safe=False))
    with pytest.raises(AssertionError, match="does not match"):
        check_response("GET", f"{V1}/adapters/active/", JsonResponse([{**ok, "active": 3}], safe=False))
    with pytest.raises(AssertionError, match="declares only"):
        check_response("GET", f"{V1}/adapters/active/", JsonResponse([ok], safe=False, status=418))
