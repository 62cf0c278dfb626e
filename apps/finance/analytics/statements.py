"""Access to a company's statements by year, with the few derived items every metric needs.

`Statements.item(year, key)` answers (value, reason): the value, or None and why ("2022 missing",
"inventory missing in 2023"). Derived items say how they were derived in `how(year, key)`.
"""
from __future__ import annotations

from collections.abc import Sequence

from apps.finance.analytics.types import FinancialPeriod

# Contract of apps/finance/line_items.py: key -> (label, unit). Used as given there when that module exists.
_CONTRACT_ITEMS: dict[str, tuple[str, str]] = {
    "revenue": ("Revenue", "currency"),
    "cost_of_revenue": ("Cost of revenue", "currency"),
    "gross_profit": ("Gross profit", "currency"),
    "operating_expenses": ("Operating expenses", "currency"),
    "operating_income": ("Operating income", "currency"),
    "depreciation_amortization": ("Depreciation and amortization", "currency"),
    "interest_expense": ("Interest expense", "currency"),
    "pretax_income": ("Pretax income", "currency"),
    "income_tax": ("Income tax", "currency"),
    "net_income": ("Net income", "currency"),
    "shares_diluted": ("Diluted shares", "shares"),
    "cash": ("Cash", "currency"),
    "receivables": ("Receivables", "currency"),
    "inventory": ("Inventory", "currency"),
    "current_assets": ("Current assets", "currency"),
    "total_assets": ("Total assets", "currency"),
    "current_liabilities": ("Current liabilities", "currency"),
    "total_debt": ("Total debt", "currency"),
    "total_liabilities": ("Total liabilities", "currency"),
    "total_equity": ("Total equity", "currency"),
    "operating_cash_flow": ("Operating cash flow", "currency"),
    "capital_expenditure": ("Capital expenditure", "currency"),
    "dividends_paid": ("Dividends paid", "currency"),
}


def line_items() -> dict[str, tuple[str, str]]:
    """key -> (label, unit) of the statement line items, in statement order."""
    try:
        from apps.finance.line_items import LINE_ITEMS
    except ImportError:
        return dict(_CONTRACT_ITEMS)
    return {item.key: (item.label, item.unit) for item in LINE_ITEMS}


LINE_ITEMS = line_items()

# Derived items: key -> (label, formula over line items)
DERIVED: dict[str, tuple[str, str]] = {
    "ebitda": ("EBITDA", "operating income + depreciation and amortization"),
    "fcf": ("Free cash flow", "operating cash flow - capital expenditure"),
    "net_debt": ("Net debt", "total debt - cash"),
}


def label(key: str) -> str:
    if key in LINE_ITEMS:
        return LINE_ITEMS[key][0]
    if key in DERIVED:
        return DERIVED[key][0]
    return key.replace("_", " ")


def lower_label(key: str) -> str:
    text = label(key)
    return text if text.isupper() or text[:4].isupper() else text[0].lower() + text[1:]


class Statements:
    """A company's periods by fiscal year (one currency, one period per year)."""

    def __init__(self, periods: Sequence[FinancialPeriod]):
        by_year: dict[int, FinancialPeriod] = {}
        for period in periods:
            if not isinstance(period, FinancialPeriod):
                raise ValueError(f"expected FinancialPeriod, got {type(period).__name__}")
            if period.fiscal_year in by_year:
                raise ValueError(f"two periods for fiscal year {period.fiscal_year}")
            by_year[period.fiscal_year] = period
        currencies = sorted({p.currency for p in by_year.values()})
        if len(currencies) > 1:
            raise ValueError(f"periods mix currencies {', '.join(currencies)}; convert them to one first")
        self.by_year = dict(sorted(by_year.items()))
        self.years = list(self.by_year)
        self.currency = currencies[0] if currencies else None

    @property
    def latest(self) -> int | None:
        return self.years[-1] if self.years else None

    def raw(self, year: int, key: str) -> float | None:
        period = self.by_year.get(year)
        return period.get(key) if period else None

    def item(self, year: int, key: str) -> tuple[float | None, str]:
        """(value, "") or (None, reason) of a line item or derived item in `year`."""
        if year not in self.by_year:
            return None, f"{year} missing"
        if key == "gross_profit" and self.raw(year, key) is None:
            revenue, cost = self.raw(year, "revenue"), self.raw(year, "cost_of_revenue")
            if revenue is not None and cost is not None:
                return revenue - cost, ""
        if key in DERIVED:
            a, b = {"ebitda": ("operating_income", "depreciation_amortization"),
                    "fcf": ("operating_cash_flow", "capital_expenditure"),
                    "net_debt": ("total_debt", "cash")}[key]
            va, ra = self.item(year, a)
            vb, rb = self.item(year, b)
            if va is None or vb is None:
                return None, ra or rb
            return (va + vb, "") if key == "ebitda" else (va - vb, "")
        value = self.raw(year, key)
        if value is None:
            return None, f"{lower_label(key)} missing in {year}"
        return value, ""

    def how(self, year: int, key: str) -> str:
        """How an item's value was obtained, for formulas: "reported", or the derivation."""
        if key in DERIVED:
            return DERIVED[key][1]
        if key == "gross_profit" and self.raw(year, key) is None:
            return "revenue - cost of revenue (gross profit not reported)"
        return "reported"
