"""Finance analytics: pure functions from statements to facts (no Django, no database).

    facts = compute_facts(periods, price_per_share=12.5, dcf=DcfInputs(wacc=0.09), peers=[...])
    facts.get("gross_margin.2024").display  -> "40.0%"

Every fact is a number with its formula, or None with the reason ("revenue is zero in 2023").

Fact keys (<year> is the fiscal year; units in brackets):
- statements: every line item of apps.finance.line_items as "<item>.<year>" [currency | shares]
  (gross profit = revenue - cost of revenue when not reported), ebitda (operating income + D&A),
  fcf (operating cash flow - capex), net_debt (total debt - cash) [currency]
- margins: gross_margin, operating_margin, ebitda_margin, net_margin, fcf_margin, effective_tax_rate [ratio];
  <margin>_change.<year>: the change on last year in percentage points [ratio, displayed "+1.2pp"]
- returns: roe and roa (on the average of this and last year's balance, else the ending one), roic
  (NOPAT / (debt + equity - cash), tax = effective rate clamped to [0, 50%], else 25%) [ratio]
- leverage, liquidity: debt_to_equity, net_debt_to_ebitda, current_ratio, quick_ratio, interest_cover [multiple]
- cash flow: cash_conversion (FCF / net income), payout_ratio [ratio]
- per share: eps_diluted, fcf_per_share, book_value_per_share, dividends_per_share [per_share]
- growth: <m>_growth_yoy.<year> for revenue, ebitda, net_income, eps_diluted, fcf (from the second year);
  <m>_cagr.<first>_<last> for revenue, net_income, eps_diluted over the years that report it [ratio]
- with a share price (latest year): price_per_share, market_cap, enterprise_value, pe, ev_to_ebitda,
  ev_to_sales, pb, fcf_yield, dividend_yield
- with DCF inputs: dcf.wacc, dcf.terminal_growth, dcf.forecast_years, dcf.revenue_growth, dcf.fcf_margin,
  dcf.revenue.<year>, dcf.fcf.<year> (forecast), dcf.pv_fcf, dcf.terminal_value, dcf.pv_terminal_value,
  dcf.enterprise_value, dcf.terminal_value_share, dcf.net_debt, dcf.equity_value, dcf.value_per_share,
  dcf.upside (with a price)
- with peers: peers.<peer slug>.{pe,ev_to_ebitda,ev_to_sales,pb}, peers.median_{pe,ev_to_ebitda,ev_to_sales,pb},
  peers.implied_value_per_share (median P/E x EPS), peers.implied_value_per_share_ev_ebitda
"""
from __future__ import annotations

from collections.abc import Sequence

from apps.finance.analytics.facts import NA, Fact, FactSet, format_value, make_fact
from apps.finance.analytics.metrics import (
    FactBuilder,
    add_growth,
    add_line_items,
    add_margin_changes,
    add_year_metrics,
)
from apps.finance.analytics.statements import Statements
from apps.finance.analytics.types import DcfInputs, FinancialPeriod, Peer
from apps.finance.analytics.valuation import (
    DcfResult,
    SensitivityGrid,
    add_dcf,
    add_market,
    add_peers,
    dcf_sensitivity,
    multiples,
)

__all__ = [
    "NA", "DcfInputs", "DcfResult", "Fact", "FactSet", "FinancialPeriod", "Peer", "SensitivityGrid",
    "compute_facts", "dcf_sensitivity", "format_value", "make_fact", "multiples",
]


def compute_facts(periods: Sequence[FinancialPeriod], *, price_per_share: float | None = None,
                  dcf: DcfInputs | None = None, peers: Sequence[Peer] = ()) -> FactSet:
    """All facts of a company: line items, growth, margins, returns, leverage, cash flow, per share, and
    with a price its multiples, with DCF inputs a DCF, with peers their multiples and medians.
    Raises ValueError only for malformed input (two periods of one year, mixed currencies)."""
    s = Statements(periods)
    b = FactBuilder(s.currency)
    if price_per_share is not None:
        price_per_share = float(price_per_share)
    add_line_items(b, s)
    series = add_year_metrics(b, s)
    add_growth(b, s, series)
    add_margin_changes(b, s)
    if s.years:
        add_market(b, s, price_per_share)
        if dcf is not None:
            add_dcf(b, s, dcf, price_per_share)
        add_peers(b, s, peers)
    return FactSet(b.facts, currency=s.currency)
