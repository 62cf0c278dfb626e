"""Finance analytics: pure functions from statements to facts (no Django, no database).

    facts = compute_facts(periods, price_per_share=12.5, dcf=DcfInputs(wacc=0.09), peers=[...])
    facts.get("gross_margin.2024").display  -> "40.0%"

Every fact is a number with its formula, or None with the reason ("revenue is zero in 2023").
"""
from __future__ import annotations

from collections.abc import Sequence

from apps.finance.analytics.facts import NA, Fact, FactSet, format_value, make_fact
from apps.finance.analytics.metrics import FactBuilder, add_growth, add_line_items, add_year_metrics
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
    if s.years:
        add_market(b, s, price_per_share)
        if dcf is not None:
            add_dcf(b, s, dcf, price_per_share)
        add_peers(b, s, peers)
    return FactSet(b.facts, currency=s.currency)
