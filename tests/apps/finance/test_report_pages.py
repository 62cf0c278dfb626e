"""The full report flow in a real browser with a real worker and the real model (tiny token budget): log in as
an analyst, import a CSV on the import page, start a report, watch it being written, edit a section (a planted
wrong number is flagged), approve, download the PDF and read it with pypdf."""
import csv
import io
import re

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from apps.finance.models import Company, Report
from tests.apps.finance.test_reports_factories import STATEMENTS, join, make_team
from tests.conftest import SHARED_WORKER_ENV

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow]


def _statements_csv(path):
    keys = list(STATEMENTS[2024])
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["fiscal_year", "period_end", "currency", *keys])
        for year, values in STATEMENTS.items():
            writer.writerow([year, f"{year}-12-31", "USD", *(values[k] for k in keys)])
    return path


def test_analyst_imports_generates_edits_approves_and_downloads_the_pdf(
    celery_worker, make_user, login, live_server, tmp_path, settings
):
    worker = celery_worker  # its report budgets are small (SHARED_WORKER_ENV)
    # what this process writes on the job; the worker reads its env
    settings.PLUMBLINE_REPORT_SECTION_TOKENS = int(SHARED_WORKER_ENV["PLUMBLINE_REPORT_SECTION_TOKENS"])
    analyst = join(make_user("analyst"), make_team())
    company = Company.objects.create(name="Larkspur Fictional Instruments", ticker="LFI", currency="USD",
                                     team=analyst.team, fictional=True, created_by=analyst, price_per_share=25)
    page = login(analyst.username)

    # Import the statements on the import page.
    page.goto(f"{live_server.url}/finance/companies/{company.pk}/import/")
    page.set_input_files("input[type=file]", str(_statements_csv(tmp_path / "statements.csv")))
    page.get_by_role("button", name="Import").click()
    page.wait_for_load_state()
    assert company.statements.count() == 3, page.content()[:2000]

    # Start a report from the company page; the DCF inputs are on the form.
    page.goto(f"{live_server.url}/finance/companies/{company.pk}/")
    page.get_by_role("link", name="Write a research report").click()
    page.fill("input[name=wacc]", "0.1")
    page.get_by_role("button", name="Generate report").click()
    page.wait_for_url(re.compile(r".*/finance/reports/\d+/$"))
    report = Report.objects.get(company=company)
    assert report.wacc == 0.1

    # Progress shows live: a section is done while the report is still generating.
    # One locator for both conditions, so they hold at the same moment. (Locators and expect, not
    # wait_for_function: that one evals in the page, which the Content-Security-Policy refuses.)
    page.locator("body").filter(
        has=page.get_by_test_id("report-status").filter(has_text=re.compile(r"^generating$"))
    ).filter(
        has=page.locator("[data-role=section-status]").filter(has_text=re.compile(r"^done$"))
    ).wait_for(timeout=180_000)
    expect(page.get_by_test_id("report-status")).to_have_text("ready", timeout=240_000)
    page.wait_for_load_state()
    report.refresh_from_db()
    assert report.status == "ready", f"{report.error}\n{worker.log()[-2000:]}"
    assert "Price target" in page.get_by_test_id("section-rating").inner_text()
    for kind in ("financial_analysis", "valuation"):  # the SVG charts render in the page
        img = page.get_by_test_id(f"chart-{kind}").locator("img")
        assert img.evaluate("img => img.complete && img.naturalWidth > 0")

    # Edit the summary with one right and one planted wrong number: the wrong one is highlighted.
    page.get_by_test_id("edit-summary").click()
    page.fill("textarea[name=text]", "Revenue grew to 1,200 in FY2024 with a gross margin of 47.0%.")
    page.get_by_role("button", name="Save version").click()
    page.wait_for_url(re.compile(r".*/finance/reports/\d+/$"))
    summary = page.get_by_test_id("section-summary")
    assert summary.locator("mark.unverified").inner_text() == "47.0%"
    assert "gross_margin.2024" in page.get_by_test_id("flags-summary").inner_text()
    assert "v2" in summary.inner_text()

    # Versions and the diff.
    summary.get_by_role("link", name=re.compile("Versions")).click()
    assert "+Revenue grew to 1,200" in page.get_by_test_id("diff-2").inner_text()
    page.go_back()

    # Four eyes: its author is not offered the approval; a colleague of the team approves it, and the report is
    # frozen (no edit links any more).
    assert page.get_by_test_id("approve").count() == 0
    assert "another analyst" in page.get_by_test_id("approve-own").inner_text()
    colleague = join(make_user("analyst"), analyst.team)
    page.context.clear_cookies()
    login(colleague.username)
    page.goto(f"{live_server.url}/finance/reports/{report.pk}/")
    page.get_by_test_id("approve").click()
    assert "frozen" in page.get_by_role("dialog").inner_text()  # asked first, in the page's own dialog
    page.get_by_test_id("confirm-ok").click()
    page.wait_for_load_state()
    assert "frozen" in page.get_by_test_id("approved").inner_text()
    assert page.get_by_test_id("edit-summary").count() == 0
    report.refresh_from_db()
    assert report.status == "approved" and report.approved_by == colleague

    # Download the PDF: it opens, holds the company's name and the revenue/margin chart.
    with page.expect_download() as download_info:
        page.get_by_test_id("export-pdf").click()
    data = (tmp_path / "report.pdf")
    download_info.value.save_as(data)
    reader = PdfReader(io.BytesIO(data.read_bytes()))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "Larkspur Fictional Instruments" in text
    assert "Revenue (USD) and margins" in text  # the chart's own title, drawn from its SVG
    assert "unverified" in text and "Approved research report" in text
