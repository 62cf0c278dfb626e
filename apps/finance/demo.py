"""Demo data for the finance app, created by `manage.py seed_demo` (idempotent).

Three FICTIONAL companies (not real issuers; `fictional=True` and "Fictional" in the name), five fiscal
years each, peers of each other, owned by the team "demo-team" that demo-analyst belongs to. The
statements are built from a few drivers so that they are internally consistent: gross profit = revenue -
cost of revenue, operating income = gross profit - operating expenses, net income = pre-tax - tax, equity
rolls forward by net income - dividends, and total assets = total liabilities + total equity.
"""
from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

DEMO_TEAM = "demo-team"
DEMO_ANALYST = "demo-analyst"
YEARS = (2020, 2021, 2022, 2023, 2024)


@dataclass(frozen=True)
class Drivers:
    name: str
    ticker: str
    price: str
    revenue0: float  # fiscal 2020 revenue
    growth: tuple[float, ...]  # revenue growth into 2021..2024
    gross_margin: float
    opex_ratio: tuple[float, ...]  # operating expenses / revenue, per year
    shares: float
    equity0: float
    debt: tuple[float, ...]
    payout: float  # dividends / net income (when positive)


DEMO_COMPANIES = (
    Drivers("Northwind Instruments (Fictional)", "NWFI", "26.40", 820e6, (0.08, 0.11, 0.09, 0.10), 0.46,
            (0.30, 0.29, 0.285, 0.28, 0.275), 120e6, 900e6, (400e6, 380e6, 360e6, 340e6, 320e6), 0.30),
    Drivers("Bluecrest Tools (Fictional)", "BCFT", "11.85", 1450e6, (0.03, 0.04, 0.02, 0.03), 0.38,
            (0.24, 0.24, 0.235, 0.235, 0.23), 210e6, 1600e6, (900e6, 880e6, 870e6, 850e6, 820e6), 0.55),
    Drivers("Redfield Devices (Fictional)", "RFFD", "16.90", 210e6, (0.35, 0.28, 0.22, 0.18), 0.52,
            (0.58, 0.50, 0.44, 0.40, 0.37), 95e6, 260e6, (150e6, 170e6, 190e6, 185e6, 175e6), 0.0),
)


def _statements(d: Drivers) -> list[dict]:
    rows, revenue, equity = [], d.revenue0, d.equity0
    for i, year in enumerate(YEARS):
        if i:
            revenue *= 1 + d.growth[i - 1]
        cost = revenue * (1 - d.gross_margin)
        gross = revenue - cost
        opex = revenue * d.opex_ratio[i]
        operating = gross - opex
        da = revenue * 0.04
        interest = d.debt[i] * 0.05
        pretax = operating - interest
        tax = max(pretax, 0) * 0.24
        net = pretax - tax
        dividends = max(net, 0) * d.payout
        equity += net - dividends
        cash = revenue * 0.12
        receivables, inventory = revenue * 0.14, revenue * 0.10
        current_assets = cash + receivables + inventory + revenue * 0.02
        current_liabilities = revenue * 0.16
        total_liabilities = d.debt[i] + current_liabilities + revenue * 0.05
        capex = revenue * 0.05
        ocf = net + da - revenue * 0.01  # working capital absorbs about 1% of revenue
        values = dict(
            revenue=revenue, cost_of_revenue=cost, gross_profit=gross, operating_expenses=opex,
            operating_income=operating, depreciation_amortization=da, interest_expense=interest,
            pretax_income=pretax, income_tax=tax, net_income=net, shares_diluted=d.shares * (1 + 0.005 * i),
            cash=cash, receivables=receivables, inventory=inventory, current_assets=current_assets,
            total_assets=total_liabilities + equity, current_liabilities=current_liabilities, total_debt=d.debt[i],
            total_liabilities=total_liabilities, total_equity=equity, operating_cash_flow=ocf,
            capital_expenditure=capex, dividends_paid=dividends,
        )
        rows.append({"fiscal_year": year, "period_end": datetime.date(year, 12, 31),
                     "values": {k: Decimal(round(v)) for k, v in values.items()}})
    return rows


def demo_finance_seed(*, log: Callable[[str], object]) -> bool:
    """Create the demo team, put demo-analyst in it, and add the demo companies that are missing.

    True when something was created."""
    from django.db import transaction

    from apps.accounts.models import Team, User
    from apps.accounts.services import user_set_team
    from apps.finance.importers import ParsedPeriod
    from apps.finance.models import Company
    from apps.finance.services import company_create, company_set_peers, statements_import

    analyst = User.objects.filter(username=DEMO_ANALYST).first()
    if analyst is None:
        log(f"No {DEMO_ANALYST} user; demo finance data skipped.")
        return False
    created = False
    with transaction.atomic():
        team, made = Team.objects.get_or_create(name=DEMO_TEAM)
        created |= made
        if analyst.team_id != team.pk:
            user_set_team(user=analyst, team=team, actor=None)
            created = True
        companies = []
        for d in DEMO_COMPANIES:
            company = Company.objects.filter(team=team, name=d.name).first()
            if company is None:
                company = company_create(user=analyst, name=d.name, ticker=d.ticker, currency="USD",
                                         price_per_share=Decimal(d.price), fictional=True)
                periods = [ParsedPeriod(r["fiscal_year"], "USD", r["period_end"], r["values"]) for r in _statements(d)]
                statements_import(user=analyst, company=company, periods=periods, source="demo")
                created = True
                log(f"Demo company {d.name} ({d.ticker}), fiscal {YEARS[0]}-{YEARS[-1]}.")
            companies.append(company)
        for company in companies:
            wanted = {c.pk for c in companies if c.pk != company.pk}
            if set(company.peers.values_list("pk", flat=True)) != wanted:
                company_set_peers(user=analyst, company=company, peers=sorted(wanted))
                created = True
    return created
