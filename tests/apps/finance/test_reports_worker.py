"""A research report generated end to end by a real Celery worker with the real model (tiny token budget),
and a redelivered report job run in this process: sections written by the first delivery are kept."""
import time

import pytest

from apps.finance.models import Report, ReportSection
from apps.finance.reports.prompts import SECTION_KINDS
from apps.generation.models import GenerationJob
from tests.apps.finance.test_reports_factories import join, make_company, make_team
from tests.conftest import SHARED_WORKER_ENV, wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def test_report_is_generated_section_by_section_on_a_real_worker(celery_worker, api_client_for, transactional_db):
    worker = celery_worker  # its report budgets are small (SHARED_WORKER_ENV)
    section_tokens = int(SHARED_WORKER_ENV["PLUMBLINE_REPORT_SECTION_TOKENS"])
    rating_tokens = int(SHARED_WORKER_ENV["PLUMBLINE_REPORT_RATING_TOKENS"])
    client = api_client_for("analyst")
    join(client.user, make_team())
    company = make_company(team=client.user.team, created_by=client.user, name="Riverbend Fictional Mills")
    resp = client.post("/api/v1/finance/reports/", {"company": company.pk}, format="json")
    assert resp.status_code == 202, resp.json()
    report_id, job_id = resp.json()["id"], resp.json()["job"]["id"]

    # Watch progress: sections end one after another while the report is still generating.
    done_counts_while_generating, seen_live_text, raw_references = set(), False, []
    end = time.monotonic() + 300
    while time.monotonic() < end:
        body = client.get(f"/api/v1/finance/reports/{report_id}/").json()
        if body["status"] != "generating":
            break
        done_counts_while_generating.add(sum(s["status"] == "done" for s in body["sections"]))
        seen_live_text |= any(s["status"] == "generating" and s["live_text"] for s in body["sections"])
        raw_references += [s["live_text"] for s in body["sections"] if "{{" in (s["live_text"] or "")]
        raw_references += [o for o in [client.get(f"/api/v1/jobs/{job_id}/").json().get("output")] if "{{" in (o or "")]
        time.sleep(0.05)
    job = wait_for_job(job_id, timeout=60, worker=worker)
    report = Report.objects.get(pk=report_id)
    assert report.status == "ready", f"{report.error}\n{worker.log()[-2000:]}"
    assert job.status == "succeeded" and job.attempts == 1
    assert job.prompt_tokens > 0 and 0 < job.completion_tokens <= 5 * section_tokens + rating_tokens  # held
    # some sections were done and others not yet, while the report was generating
    assert any(0 < n < len(SECTION_KINDS) for n in done_counts_while_generating), done_counts_while_generating
    assert seen_live_text, "no section showed streamed text while it was being written"
    assert not raw_references, raw_references  # streamed prose shows figures, never {{fact.key}} references

    sections = {s.kind: s for s in report.sections.all()}
    for kind, section in sections.items():
        versions = list(section.versions.all())
        assert len(versions) == 1 and versions[0].job_id == job_id
        assert versions[0].text.strip()
        assert versions[0].author == ("system" if kind == "disclosure" else "model")
    for kind in ("summary", "overview", "financial_analysis", "valuation", "risks"):
        v = sections[kind].current
        # every number the model wrote was checked, and each flag names a mismatch
        assert len(v.flags) == sum(1 for c in v.checks if not c["ok"])
        # the prose was generated under the fact-reference grammar: its only figures are rendered facts
        assert not v.flags and "{{" not in v.text, (kind, v.text)
    rating = sections["rating"].current.data
    assert rating["target_check"] in {"grounded", "replaced", "from_facts"}
    assert rating["rating"] in {"buy", "hold", "sell"}
    dcf = next(f["value"] for f in report.facts if f["key"] == "dcf.value_per_share")
    if rating["target_check"] != "grounded":
        assert rating["target_price"] == pytest.approx(dcf)
    else:
        assert rating["target_price"] == pytest.approx(dcf, rel=0.05) or rating["target_fact"] != "dcf.value_per_share"
    assert "Price target" in sections["rating"].current.text
    assert report.model_name and GenerationJob.objects.get(pk=job_id).domain == "finance"


def test_redelivered_report_job_keeps_the_sections_already_written(model_cache_dir, make_user, settings):
    from apps.finance.reports import services
    from apps.generation.jobs import job_dispatch
    from apps.generation.services import job_start

    settings.PLUMBLINE_REPORT_SECTION_TOKENS = 8
    settings.PLUMBLINE_REPORT_RATING_TOKENS = 64
    analyst = join(make_user("analyst"), make_team())
    report, job = services.report_create(owner=analyst, company=make_company(team=analyst.team, created_by=analyst))
    job, first = job_start(job_id=job.pk)  # the first delivery writes three sections, then its worker is lost
    for kind in SECTION_KINDS[:3]:
        services.section_begin(report_id=report.pk, kind=kind, job_id=job.pk, attempt=first)
        services.section_store(report_id=report.pk, kind=kind, job_id=job.pk, attempt=first, text=f"first {kind}")

    job_dispatch(job_id=job.pk)  # the redelivery, on this process's real engine

    report.refresh_from_db()
    job.refresh_from_db()
    assert report.status == "ready", report.error
    assert job.status == "succeeded" and job.attempts == first + 1
    for section in ReportSection.objects.filter(report=report):
        assert section.versions.count() == 1
        if section.kind in SECTION_KINDS[:3]:
            assert section.current.text == f"first {section.kind}"
        else:
            assert section.current.text and not section.current.text.startswith("first")
    job_dispatch(job_id=job.pk)  # a third delivery after the end: nothing to do
    assert sum(s.versions.count() for s in ReportSection.objects.filter(report=report)) == len(SECTION_KINDS)
