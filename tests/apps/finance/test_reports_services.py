"""Report services on the real database: start, worker writes (no model), grounding of edits, versions and
diff, regenerate one section, approve freezes, redelivery idempotency."""
import pytest

from apps.accounts.models import AuditEvent
from apps.core.exceptions import ApplicationError
from apps.finance.models import Report, ReportRun, ReportSection, ReportSectionVersion
from apps.finance.reports import selectors, services
from apps.finance.reports.prompts import SECTION_KINDS
from apps.generation.models import GenerationJob
from apps.generation.services import job_fail, job_progress, job_settle, job_start
from tests.apps.finance.test_reports_factories import (
    analyst_in_team,
    make_company,
    make_team,
    write_all_sections,
)


@pytest.fixture
def analyst(make_user):
    return analyst_in_team(make_user, make_team())


@pytest.fixture
def company(analyst):
    return make_company(team=analyst.team, created_by=analyst)


def _start(analyst, company, **kw):
    return services.report_create(owner=analyst, company=company, **kw)


def test_report_create_snapshots_facts_and_queues_one_gpu_job(analyst, company):
    report, job = _start(analyst, company, wacc=0.1, terminal_growth=0.02, forecast_years=4)
    assert report.status == "generating" and report.team == analyst.team
    assert (report.wacc, report.terminal_growth, report.forecast_years) == (0.1, 0.02, 4)
    assert [s.kind for s in report.sections.all()] == list(SECTION_KINDS)
    assert all(s.status == "pending" and s.current is None for s in report.sections.all())
    facts = {f["key"]: f for f in report.facts}
    assert facts["revenue.2024"]["value"] == 1200
    assert facts["gross_margin.2024"]["value"] == pytest.approx(0.4)
    assert report.sensitivity["wacc_values"] == [0.09, 0.095, 0.1, 0.105, 0.11]
    assert len(report.sensitivity["values"]) == 5 and len(report.sensitivity["values"][0]) == 3
    assert job.status == "queued" and job.domain == "finance" and job.owner == analyst
    assert ReportRun.objects.get(job=job).report == report
    assert AuditEvent.objects.filter(action="finance_report.create", object_id=str(report.pk)).count() == 1


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"wacc": 0.03, "terminal_growth": 0.03}, "terminal_growth"),
        ({"wacc": 0.0}, "wacc"),
        ({"wacc": 0.7}, "wacc"),
        ({"forecast_years": 0}, "forecast_years"),
    ],
)
def test_bad_dcf_inputs_name_the_field_and_write_nothing(analyst, company, kw, field):
    with pytest.raises(ApplicationError) as err:
        _start(analyst, company, **kw)
    assert err.value.field == field and err.value.status == 400
    assert not Report.objects.exists() and not GenerationJob.objects.exists()


def test_company_without_statements_is_refused(analyst):
    from apps.finance.models import Company

    empty = Company.objects.create(name="Empty Co", ticker="EMP", currency="USD", team=analyst.team,
                                   fictional=True, created_by=analyst)
    with pytest.raises(ApplicationError, match="no financial statements"):
        _start(analyst, empty)
    assert not Report.objects.exists()


def test_worker_writes_make_a_ready_report_and_disclosure_is_fixed(analyst, company):
    report, _ = _start(analyst, company)
    report = write_all_sections(report)
    assert report.status == "ready" and report.error == ""
    assert all(s.current.number == 1 for s in report.sections.all())
    assert ReportSection.objects.get(report=report, kind="disclosure").current.author == "system"
    assert GenerationJob.objects.get(report_run__report=report).status == "succeeded"


def test_edit_with_a_planted_wrong_number_is_flagged_with_the_fact_it_should_use(analyst, company):
    report, _ = _start(analyst, company)
    write_all_sections(report)
    good = services.report_section_edit(
        report=report, kind="summary", actor=analyst,
        text="Revenue reached 1,200 in 2024 and the gross margin was 40.0%.",
    )
    assert good.number == 2 and good.flags == [] and all(c["ok"] for c in good.checks)
    assert {c["matched_key"] for c in good.checks} >= {"gross_margin.2024"}

    bad = services.report_section_edit(
        report=report, kind="summary", actor=analyst,
        text="Revenue reached 1,200 in 2024 and the gross margin was 47.0%.",
    )
    assert bad.number == 3 and bad.author == analyst.username
    wrong = [c for c in bad.checks if not c["ok"]]
    assert len(wrong) == 1 and wrong[0]["text"].startswith("47.0")
    assert wrong[0]["expected_key"] is not None
    assert len(bad.flags) == 1 and "47.0%" in bad.flags[0] and wrong[0]["expected_key"] in bad.flags[0]
    # The page highlights exactly the wrong number.
    view = selectors.section_view(ReportSection.objects.get(report=report, kind="summary"))
    marked = [seg for seg in view["segments"] if seg["check"]]
    assert [s["text"] for s in marked] == [wrong[0]["text"]]
    assert AuditEvent.objects.filter(action="finance_report.edit", object_id=str(report.pk)).count() == 2


def test_versions_and_diff_show_what_changed(analyst, company):
    report, _ = _start(analyst, company)
    write_all_sections(report, {"risks": "Demand may slow. Costs may rise."})
    services.report_section_edit(report=report, kind="risks", actor=analyst,
                                 text="Demand may slow. Competition may cut prices.")
    section, versions = selectors.section_versions(report=report, kind="risks")
    assert [v.number for v in versions] == [1, 2] and [v.author for v in versions] == ["model", analyst.username]
    diff = selectors.version_diff(versions[0], versions[1])
    assert "-Costs may rise." in diff and "+Competition may cut prices." in diff
    assert " Demand may slow." in diff  # unchanged context line


def test_edit_refused_while_generating_and_for_empty_text(analyst, company):
    report, _ = _start(analyst, company)
    with pytest.raises(ApplicationError) as err:
        services.report_section_edit(report=report, kind="summary", text="x", actor=analyst)
    assert err.value.status == 409
    write_all_sections(report)
    with pytest.raises(ApplicationError) as err:
        services.report_section_edit(report=report, kind="summary", text="   ", actor=analyst)
    assert err.value.field == "text"
    with pytest.raises(ApplicationError) as err:
        services.report_section_edit(report=report, kind="nonsense", text="x", actor=analyst)
    assert err.value.field == "section"


def test_approve_freezes_the_report(analyst, company, make_user):
    report, _ = _start(analyst, company)
    with pytest.raises(ApplicationError) as err:
        services.report_approve(report=report, actor=analyst)
    assert err.value.status == 409 and "generating" in err.value.message
    write_all_sections(report)
    colleague = analyst_in_team(make_user, analyst.team)  # four eyes: not the report's author
    approved = services.report_approve(report=report, actor=colleague)
    assert approved.status == "approved" and approved.approved_by == colleague and approved.approved_at
    count = ReportSectionVersion.objects.filter(section__report=report).count()
    for attempt in (
        lambda: services.report_section_edit(report=report, kind="summary", text="New text.", actor=analyst),
        lambda: services.report_section_regenerate(report=report, kind="summary", actor=analyst),
        lambda: services.report_approve(report=report, actor=colleague),
    ):
        with pytest.raises(ApplicationError) as err:
            attempt()
        assert err.value.status == 409 and "frozen" in err.value.message
    assert ReportSectionVersion.objects.filter(section__report=report).count() == count
    assert GenerationJob.objects.count() == 1
    assert AuditEvent.objects.filter(action="finance_report.approve", object_id=str(report.pk)).count() == 1


def test_regenerate_one_section_makes_a_new_model_version_of_that_section_only(analyst, company):
    report, _ = _start(analyst, company)
    write_all_sections(report)
    job = services.report_section_regenerate(report=report, kind="risks", actor=analyst)
    report.refresh_from_db()
    assert report.status == "generating" and job.status == "queued"
    assert ReportRun.objects.get(job=job).section_kind == "risks"
    with pytest.raises(ApplicationError) as err:  # one job at a time
        services.report_section_regenerate(report=report, kind="summary", actor=analyst)
    assert err.value.status == 409

    job, attempt = job_start(job_id=job.pk)
    assert services.section_begin(report_id=report.pk, kind="risks", job_id=job.pk, attempt=attempt) == "go"
    services.section_store(report_id=report.pk, kind="risks", job_id=job.pk, attempt=attempt, text="New risks.")
    services.report_run_end(job_id=job.pk, attempt=attempt)
    report.refresh_from_db()
    assert report.status == "ready"
    versions = {s.kind: [v.number for v in s.versions.all()] for s in report.sections.all()}
    assert versions["risks"] == [1, 2] and all(v == [1] for k, v in versions.items() if k != "risks")
    assert ReportSection.objects.get(report=report, kind="risks").current.text == "New risks."


def test_redelivered_job_neither_duplicates_nor_lets_the_stale_delivery_write(analyst, company):
    report, job = _start(analyst, company)
    job, first = job_start(job_id=job.pk)
    for kind in SECTION_KINDS[:3]:
        assert services.section_begin(report_id=report.pk, kind=kind, job_id=job.pk, attempt=first) == "go"
        services.section_store(report_id=report.pk, kind=kind, job_id=job.pk, attempt=first, text=f"{kind} v1")
    # The broker delivers the job again (the first worker was lost): a new attempt claims it.
    job, second = job_start(job_id=job.pk)
    assert second == first + 1
    states = [services.section_begin(report_id=report.pk, kind=k, job_id=job.pk, attempt=second)
              for k in SECTION_KINDS]
    assert states == ["done"] * 3 + ["go"] * (len(SECTION_KINDS) - 3)
    # The first delivery wakes up: it may write nothing more.
    kind4 = SECTION_KINDS[3]
    assert services.section_begin(report_id=report.pk, kind=kind4, job_id=job.pk, attempt=first) == "stale"
    assert services.section_store(report_id=report.pk, kind=kind4, job_id=job.pk, attempt=first, text="stale") is None
    assert job_progress(job_id=job.pk, attempt=first, output="st", completion_tokens=1, prompt_tokens=0) is False
    for kind in SECTION_KINDS[3:]:
        services.section_store(report_id=report.pk, kind=kind, job_id=job.pk, attempt=second, text=f"{kind} v1")
    # A repeated store of the same job is a no-op.
    assert services.section_store(report_id=report.pk, kind="risks", job_id=job.pk, attempt=second, text="x") is None
    assert services.report_run_end(job_id=job.pk, attempt=first) is None
    assert services.report_run_end(job_id=job.pk, attempt=second).status == "ready"
    assert services.report_run_end(job_id=job.pk, attempt=second) is None  # ended once
    per_section = {s.kind: s.versions.count() for s in report.sections.all()}
    assert per_section == dict.fromkeys(SECTION_KINDS, 1)
    assert ReportSection.objects.get(report=report, kind=kind4).current.text == f"{kind4} v1"
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempts == 2


def test_failed_run_marks_the_report_failed_with_the_error(analyst, company):
    report, job = _start(analyst, company)
    job, attempt = job_start(job_id=job.pk)
    services.section_begin(report_id=report.pk, kind="rating", job_id=job.pk, attempt=attempt)
    job_fail(job_id=job.pk, attempt=attempt, error="section rating: prompt too long")  # the runner raised
    report.refresh_from_db()
    job.refresh_from_db()
    assert report.status == "failed" and "prompt too long" in report.error
    assert job.status == "failed" and "prompt too long" in job.error
    assert ReportSection.objects.get(report=report, kind="rating").status == "failed"


def test_disclosure_cannot_be_edited_and_a_typed_price_target_is_checked(analyst, company):
    report, _ = _start(analyst, company)
    write_all_sections(report)
    with pytest.raises(ApplicationError, match="fixed text"):
        services.report_section_edit(report=report, kind="disclosure", text="Buy now!", actor=analyst)
    dcf = next(f for f in report.facts if f["key"] == "dcf.value_per_share")
    ok = services.report_section_edit(report=report, kind="rating", actor=analyst,
                                      text=f"Rating: BUY. Price target: {dcf['display']} per share.")
    assert ok.flags == [] and ok.data.get("edited") is True
    bad = services.report_section_edit(report=report, kind="rating", actor=analyst,
                                       text="Rating: BUY. Price target: 87.65 per share.")
    assert len(bad.flags) == 1 and "87.65" in bad.flags[0]


def test_new_dcf_inputs_recompute_facts_recheck_prose_and_the_rating(analyst, company):
    import json

    report, _ = _start(analyst, company)
    old_dcf = next(f for f in report.facts if f["key"] == "dcf.value_per_share")
    model_answer = json.dumps({"rating": "buy", "target_price": old_dcf["value"], "basis": "DCF"})
    from apps.finance.analytics import FactSet
    from apps.finance.reports.rating import rating_resolve

    text, data = rating_resolve(model_answer, FactSet.from_json(report.facts), price=25.0, currency="USD",
                                rel_tol=services.TARGET_PRICE_REL_TOL)
    assert data["target_check"] == "grounded"
    write_all_sections(report, {"valuation": f"The DCF value per share is {old_dcf['display']}."})
    rating = ReportSection.objects.get(report=report, kind="rating")
    rating.versions.update(text=text, data=data)
    assert ReportSection.objects.get(report=report, kind="valuation").current.flags == []

    with pytest.raises(ApplicationError) as err:
        services.report_dcf_update(report=report, wacc=0.02, terminal_growth=0.03, forecast_years=5, actor=analyst)
    assert err.value.field == "terminal_growth"
    report = services.report_dcf_update(report=report, wacc=0.12, terminal_growth=0.02, forecast_years=5,
                                        actor=analyst)
    new_dcf = next(f for f in report.facts if f["key"] == "dcf.value_per_share")
    assert (report.wacc, report.sensitivity["base_wacc"]) == (0.12, 0.12) and new_dcf["value"] < old_dcf["value"]
    valuation = ReportSection.objects.get(report=report, kind="valuation").current
    assert valuation.number == 1 and len(valuation.flags) == 1 and old_dcf["display"] in valuation.flags[0]
    rating = ReportSection.objects.get(report=report, kind="rating").current
    assert rating.number == 2 and rating.author == "system" and rating.data["target_check"] == "replaced"
    assert rating.data["target_price"] == pytest.approx(new_dcf["value"])
    assert AuditEvent.objects.filter(action="finance_report.revalue", object_id=str(report.pk)).count() == 1


def test_cancelling_the_job_ends_the_report_instead_of_leaving_it_generating(analyst, company):
    from apps.generation.jobs import job_dispatch
    from apps.generation.services import job_cancel

    report, job = _start(analyst, company)
    job_cancel(job=job, actor=analyst)  # while queued
    report.refresh_from_db()  # the job's on_end settled the report in the same transaction
    assert report.status == "failed" and "cancelled" in report.error
    job_dispatch(job_id=job.pk)  # a late delivery finds it cancelled: no model call, nothing changes
    report.refresh_from_db()
    assert report.status == "failed"

    # cancelled mid-run: the running attempt sees it at its next write and ends the run as cancelled
    report2, job2 = _start(analyst, company)
    job2, attempt = job_start(job_id=job2.pk)
    services.section_begin(report_id=report2.pk, kind="rating", job_id=job2.pk, attempt=attempt)
    job_cancel(job=job2, actor=analyst)
    assert job_progress(job_id=job2.pk, attempt=attempt, output="{", completion_tokens=1, prompt_tokens=0) is False
    job_settle(job_id=job2.pk, attempt=attempt)  # the runner stopped (JobStale): the dispatcher settles the job
    report2.refresh_from_db()
    job2.refresh_from_db()
    assert report2.status == "failed" and job2.status == "cancelled"
