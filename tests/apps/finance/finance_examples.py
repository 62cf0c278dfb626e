"""A fictional company with round numbers (in millions) whose metrics the tests compute by hand."""
from __future__ import annotations

from apps.finance.analytics import FinancialPeriod

M = 1_000_000

ROUNDCO = {
    #                          2022  2023  2024
    "revenue":                 (800, 1000, 1210),
    "cost_of_revenue":         (480, 600, 726),
    "operating_income":        (120, 150, 200),
    "depreciation_amortization": (40, 50, 60),
    "interest_expense":        (10, 15, 20),
    "pretax_income":           (110, 135, 180),
    "income_tax":              (22, 27, 45),
    "net_income":              (88, 108, 135),
    "shares_diluted":          (40, 40, 45),
    "cash":                    (50, 80, 100),
    "inventory":               (60, 70, 90),
    "current_assets":          (300, 350, 420),
    "current_liabilities":     (150, 175, 200),
    "total_assets":            (1000, 1100, 1300),
    "total_debt":              (200, 250, 300),
    "total_equity":            (500, 580, 700),
    "operating_cash_flow":     (130, 160, 210),
    "capital_expenditure":     (50, 60, 70),
    "dividends_paid":          (20, 24, 27),
}
YEARS = (2022, 2023, 2024)


def roundco(years=YEARS, *, overrides: dict | None = None, currency: str = "USD") -> list[FinancialPeriod]:
    """Roundco's periods for `years`; overrides: {(key, year): value or None} in millions."""
    overrides = overrides or {}
    periods = []
    for year in years:
        i = YEARS.index(year)
        values = {k: v[i] * M for k, v in ROUNDCO.items()}
        for (key, y), value in overrides.items():
            if y == year:
                values[key] = None if value is None else value * M
        periods.append(FinancialPeriod(fiscal_year=year, currency=currency, values=values))
    return periods
