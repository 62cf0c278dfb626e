"""Data for the report tests: teams, analysts, a company with three years of statements, a written report.
(No tests here; the report test modules import these helpers.)"""
from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

# A small fictional company, values in currency units. Hand-checkable: gross margin 2024 = 480/1200 = 40.0%.
STATEMENTS = {
    2022: dict(revenue=1000, cost_of_revenue=620, gross_profit=380, operating_expenses=230, operating_income=150,
               depreciation_amortization=40, interest_expense=10, pretax_income=140, income_tax=35, net_income=105,
               shares_diluted=100, cash=120, receivables=90, inventory=60, current_assets=300, total_assets=900,
               current_liabilities=180, total_debt=200, total_liabilities=450, total_equity=450,
               operating_cash_flow=160, capital_expenditure=50, dividends_paid=20),
    2023: dict(revenue=1100, cost_of_revenue=671, gross_profit=429, operating_expenses=250, operating_income=179,
               depreciation_amortization=42, interest_expense=11, pretax_income=168, income_tax=42, net_income=126,
               shares_diluted=100, cash=150, receivables=95, inventory=65, current_assets=340, total_assets=980,
               current_liabilities=190, total_debt=190, total_liabilities=460, total_equity=520,
               operating_cash_flow=185, capital_expenditure=55, dividends_paid=25),
    2024: dict(revenue=1200, cost_of_revenue=720, gross_profit=480, operating_expenses=270, operating_income=210,
               depreciation_amortization=45, interest_expense=12, pretax_income=198, income_tax=50, net_income=148,
               shares_diluted=100, cash=190, receivables=100, inventory=70, current_assets=390, total_assets=1060,
               current_liabilities=200, total_debt=180, total_liabilities=470, total_equity=590,
               operating_cash_flow=210, capital_expenditure=60, dividends_paid=30),
}


def make_team(name: str | None = None):
    from apps.accounts.models import Team

    return Team.objects.create(name=name or f"team-{uuid.uuid4().hex[:6]}")


def join(user, team):
    user.team = team
    user.save(update_fields=["team"])
    return user


def make_company(*, team, created_by, name: str | None = None, price: float | None = 25.0):
    from apps.finance.models import Company, FinancialStatement

    company = Company.objects.create(
        name=name or f"Fictional Widgets {uuid.uuid4().hex[:4]}", ticker="FWID", currency="USD", team=team,
        fictional=True, created_by=created_by, price_per_share=None if price is None else Decimal(str(price)),
    )
    for year, values in STATEMENTS.items():
        FinancialStatement.objects.create(
            company=company, fiscal_year=year, currency="USD", period_end=datetime.date(year, 12, 31),
            **{k: Decimal(v) for k, v in values.items()},
        )
    return company


def analyst_in_team(make_user, team, username: str | None = None):
    return join(make_user("analyst", username=username), team)


def write_all_sections(report, texts: dict[str, str] | None = None):
    """Play the worker without the model: claim the report's job and store a text for every section."""
    from apps.finance.models import ReportRun
    from apps.finance.reports import services
    from apps.finance.reports.prompts import SECTION_KINDS
    from apps.generation.services import job_start

    run = ReportRun.objects.filter(report=report).first()
    job, attempt = job_start(job_id=run.job_id)
    texts = texts or {}
    for kind in SECTION_KINDS:
        assert services.section_begin(report_id=report.pk, kind=kind, job_id=job.pk, attempt=attempt) == "go"
        default = services.disclosure_text() if kind == "disclosure" else f"The {kind} of the company is steady."
        text = texts.get(kind, default)
        services.section_store(report_id=report.pk, kind=kind, job_id=job.pk, attempt=attempt, text=text)
    services.report_run_end(job_id=job.pk, attempt=attempt)
    report.refresh_from_db()
    return report
