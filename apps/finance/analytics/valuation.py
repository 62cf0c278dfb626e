"""Valuation: the company's multiples at its share price, peer multiples, and a simple DCF.

DCF: revenue of the latest year grows at `revenue_growth` for `forecast_years`; free cash flow is revenue
times `fcf_margin`; each year's FCF is discounted at WACC (end-of-year convention); the terminal value is
Gordon growth on the last forecast FCF, FCF_N x (1 + g) / (WACC - g), discounted N years. Enterprise value
minus net debt (total debt - cash, latest year) is equity value; divided by diluted shares, value per share.
"""
from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from apps.finance.analytics.facts import Unit
from apps.finance.analytics.metrics import FactBuilder, fmt
from apps.finance.analytics.statements import Statements
from apps.finance.analytics.types import DcfInputs, FinancialPeriod, Peer


# --- multiples --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Multiples:
    """Multiples of one company at a share price, from one fiscal year; None with a reason each."""

    values: dict[str, float | None]
    reasons: dict[str, str]
    market_cap: float | None
    enterprise_value: float | None


MULTIPLES: tuple[tuple[str, str], ...] = (
    ("pe", "P/E"), ("ev_to_ebitda", "EV/EBITDA"), ("ev_to_sales", "EV/Sales"), ("pb", "P/B"),
)


def multiples(s: Statements, year: int, price: float) -> Multiples:
    shares, shares_reason = s.item(year, "shares_diluted")
    values: dict[str, float | None] = {}
    reasons: dict[str, str] = {}
    if price <= 0:
        base_reason = "share price is not positive"
    elif shares is None:
        base_reason = shares_reason
    elif shares <= 0:
        base_reason = f"diluted shares not positive in {year}"
    else:
        base_reason = ""
    market_cap = price * shares if not base_reason else None
    net_debt, nd_reason = s.item(year, "net_debt")
    ev = market_cap + net_debt if market_cap is not None and net_debt is not None else None
    ev_reason = base_reason or nd_reason
    reasons["market_cap"], reasons["enterprise_value"] = base_reason, ev_reason

    def put(key: str, value: float | None, reason: str) -> None:
        values[key], reasons[key] = (value, "") if value is not None else (None, reason)

    earnings, e_reason = s.item(year, "net_income")
    if base_reason or earnings is None:
        put("pe", None, base_reason or e_reason)
    elif earnings <= 0:
        put("pe", None, f"{'negative' if earnings < 0 else 'zero'} earnings in {year}")
    else:
        put("pe", market_cap / earnings, "")
    for key, item, name in (("ev_to_ebitda", "ebitda", "EBITDA"), ("ev_to_sales", "revenue", "revenue")):
        amount, reason = s.item(year, item)
        if ev is None or amount is None:
            put(key, None, ev_reason or reason)
        elif amount <= 0:
            put(key, None, f"{name} is {'negative' if amount < 0 else 'zero'} in {year}")
        else:
            put(key, ev / amount, "")
    equity, eq_reason = s.item(year, "total_equity")
    if base_reason or equity is None:
        put("pb", None, base_reason or eq_reason)
    elif equity <= 0:
        put("pb", None, f"{'negative' if equity < 0 else 'zero'} equity in {year}")
    else:
        put("pb", market_cap / equity, "")
    return Multiples(values=values, reasons=reasons, market_cap=market_cap, enterprise_value=ev)


def add_market(b: FactBuilder, s: Statements, price: float | None) -> Multiples | None:
    year = s.latest
    if price is None:
        b.add("price_per_share", "Share price", None, "per_share", period=None, reason="no share price set")
        return None
    b.add("price_per_share", "Share price", price, "per_share", period=None, formula="as entered")
    m = multiples(s, year, price)
    shares = s.item(year, "shares_diluted")[0]
    b.add(f"market_cap.{year}", "Market capitalisation", m.market_cap, "currency", period=year,
          reason=m.reasons["market_cap"],
          formula=f"price x diluted shares {year} = {fmt(price, 'per_share')} x {fmt(shares, 'shares')}")
    b.add(f"enterprise_value.{year}", "Enterprise value", m.enterprise_value, "currency", period=year,
          reason=m.reasons["enterprise_value"],
          formula=f"market cap + net debt {year} = {fmt(m.market_cap)} + {fmt(s.item(year, 'net_debt')[0])}")
    for key, title in MULTIPLES:
        basis = {"pe": "market cap / net income", "ev_to_ebitda": "enterprise value / EBITDA",
                 "ev_to_sales": "enterprise value / revenue", "pb": "market cap / total equity"}[key]
        b.add(f"{key}.{year}", title, m.values[key], "multiple", period=year, reason=m.reasons[key],
              formula=f"{basis} ({year})")
    fcf, fcf_reason = s.item(year, "fcf")
    dividends, div_reason = s.item(year, "dividends_paid")
    for key, title, amount, reason, name in (("fcf_yield", "FCF yield", fcf, fcf_reason, "FCF"),
                                             ("dividend_yield", "Dividend yield", dividends, div_reason,
                                              "dividends paid")):
        value = amount / m.market_cap if amount is not None and m.market_cap else None
        b.add(f"{key}.{year}", title, value, "ratio", period=year,
              reason="" if value is not None else (reason or m.reasons["market_cap"]),
              formula=f"{name} / market cap = {fmt(amount)} / {fmt(m.market_cap)}")
    return m


# --- peers ------------------------------------------------------------------------------------------------
def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "peer"


def add_peers(b: FactBuilder, s: Statements, peers: Sequence[Peer]) -> None:
    if not peers:
        return
    year = s.latest
    per_peer: dict[str, list[float]] = {key: [] for key, _ in MULTIPLES}
    used: set[str] = set()
    for peer in peers:
        name = slug(peer.name)
        while name in used:
            name += "_"
        used.add(name)
        ps = Statements([peer.period])
        m = multiples(ps, peer.period.fiscal_year, peer.price_per_share)
        for key, title in MULTIPLES:
            b.add(f"peers.{name}.{key}", f"{peer.name} {title}", m.values[key], "multiple",
                  period=peer.period.fiscal_year, reason=m.reasons[key],
                  formula=f"{peer.name} at {fmt(peer.price_per_share, 'per_share')}, FY{peer.period.fiscal_year}")
            if m.values[key] is not None:
                per_peer[key].append(m.values[key])
    medians: dict[str, float | None] = {}
    for key, title in MULTIPLES:
        got = per_peer[key]
        medians[key] = statistics.median(got) if got else None
        b.add(f"peers.median_{key}", f"Peer median {title}", medians[key], "multiple", period=None,
              reason="" if got else f"no peer has a meaningful {title}",
              formula=f"median of {len(got)} of {len(peers)} peers")
    # implied value per share of the company from the median P/E and median EV/EBITDA
    eps, eps_reason = _per_share(s, year, "net_income")
    if medians["pe"] is None:
        value, reason = None, "no peer median P/E"
    elif eps is None:
        value, reason = None, eps_reason
    elif eps <= 0:
        value, reason = None, f"the company's earnings are not positive in {year}"
    else:
        value, reason = medians["pe"] * eps, ""
    b.add("peers.implied_value_per_share", "Implied value per share (peer median P/E)", value, "per_share",
          period=None, reason=reason,
          formula=f"peer median P/E x diluted EPS {year} = {fmt(medians['pe'], 'multiple')} x {fmt(eps, 'per_share')}")
    ebitda, e_reason = s.item(year, "ebitda")
    net_debt, nd_reason = s.item(year, "net_debt")
    shares, sh_reason = s.item(year, "shares_diluted")
    value, reason = None, ""
    if medians["ev_to_ebitda"] is None:
        reason = "no peer median EV/EBITDA"
    elif ebitda is None or net_debt is None or shares is None:
        reason = e_reason or nd_reason or sh_reason
    elif ebitda <= 0:
        reason = f"the company's EBITDA is not positive in {year}"
    elif shares <= 0:
        reason = f"diluted shares not positive in {year}"
    else:
        equity = medians["ev_to_ebitda"] * ebitda - net_debt
        value, reason = (equity / shares, "") if equity > 0 else (None, "implied equity value is negative")
    b.add("peers.implied_value_per_share_ev_ebitda", "Implied value per share (peer median EV/EBITDA)", value,
          "per_share", period=None, reason=reason,
          formula=f"(peer median EV/EBITDA x EBITDA - net debt) / diluted shares, {year}")


def _per_share(s: Statements, year: int, key: str) -> tuple[float | None, str]:
    amount, reason = s.item(year, key)
    shares, sh_reason = s.item(year, "shares_diluted")
    if amount is None or shares is None:
        return None, reason or sh_reason
    if shares <= 0:
        return None, f"diluted shares not positive in {year}"
    return amount / shares, ""


# --- DCF --------------------------------------------------------------------------------------------------
@dataclass
class DcfResult:
    inputs: DcfInputs
    value_per_share: float | None = None
    reason: str = ""
    growth: float | None = None
    growth_how: str = ""
    margin: float | None = None
    margin_how: str = ""
    base_year: int | None = None
    base_revenue: float | None = None
    projections: list[tuple[int, float, float, float]] = field(default_factory=list)  # year, revenue, FCF, PV
    pv_fcf: float | None = None
    terminal_value: float | None = None
    pv_terminal: float | None = None
    enterprise_value: float | None = None
    net_debt: float | None = None
    equity_value: float | None = None
    shares: float | None = None


def derived_growth(s: Statements) -> tuple[float | None, str]:
    """Historical revenue CAGR between the first and last years with revenue, or None and why."""
    known = [(y, v) for y in s.years if (v := s.item(y, "revenue")[0]) is not None]
    if len(known) < 2:
        return None, "revenue growth needs revenue in two years to derive; set it"
    (y0, v0), (y1, v1) = known[0], known[-1]
    if v0 <= 0 or v1 <= 0:
        return None, "revenue is not positive at both ends of the history; set revenue growth"
    return (v1 / v0) ** (1 / (y1 - y0)) - 1, f"historical revenue CAGR {y0}-{y1}"


def derived_margin(s: Statements) -> tuple[float | None, str]:
    """Sum of FCF / sum of revenue over the years that report both, or None and why."""
    pairs = [(fcf, rev) for y in s.years
             if (fcf := s.item(y, "fcf")[0]) is not None and (rev := s.item(y, "revenue")[0]) is not None]
    total_revenue = sum(r for _, r in pairs)
    if not pairs or total_revenue <= 0:
        return None, "FCF margin needs a year with revenue and free cash flow to derive; set it"
    return sum(f for f, _ in pairs) / total_revenue, f"historical FCF margin over {len(pairs)} year(s)"


def dcf(s: Statements, inputs: DcfInputs) -> DcfResult:
    r = DcfResult(inputs=inputs)
    if s.latest is None:
        r.reason = "no financial statements"
        return r
    r.base_year = year = s.latest
    if inputs.revenue_growth is not None:
        r.growth, r.growth_how = inputs.revenue_growth, "as entered"
    else:
        r.growth, r.growth_how = derived_growth(s)
    if inputs.fcf_margin is not None:
        r.margin, r.margin_how = inputs.fcf_margin, "as entered"
    else:
        r.margin, r.margin_how = derived_margin(s)
    problems = inputs.problems()
    if problems:
        r.reason = "; ".join(problems)
        return r
    revenue, rev_reason = s.item(year, "revenue")
    net_debt, nd_reason = s.item(year, "net_debt")
    shares, sh_reason = s.item(year, "shares_diluted")
    r.base_revenue, r.net_debt, r.shares = revenue, net_debt, shares
    for bad, reason in (
        (revenue is None, rev_reason), (revenue is not None and revenue <= 0, f"revenue is not positive in {year}"),
        (r.growth is None, r.growth_how), (r.margin is None, r.margin_how),
        (net_debt is None, f"net debt needs total debt and cash: {nd_reason}"),
        (shares is None, sh_reason), (shares is not None and shares <= 0, f"diluted shares not positive in {year}"),
    ):
        if bad:
            r.reason = reason
            return r
    wacc, g = inputs.wacc, inputs.terminal_growth
    pv_sum, fcf = 0.0, 0.0
    try:
        for t in range(1, inputs.forecast_years + 1):
            rev_t = revenue * (1 + r.growth) ** t
            fcf = rev_t * r.margin
            pv = fcf / (1 + wacc) ** t
            pv_sum += pv
            r.projections.append((year + t, rev_t, fcf, pv))
        terminal = fcf * (1 + g) / (wacc - g)
        pv_terminal = terminal / (1 + wacc) ** inputs.forecast_years
        ev = pv_sum + pv_terminal
        per_share = (ev - net_debt) / shares
    except (OverflowError, ZeroDivisionError):
        terminal = pv_terminal = ev = per_share = math.inf
    if not all(math.isfinite(x) for x in (pv_sum, terminal, pv_terminal, ev, per_share,
                                         *(v for p in r.projections for v in p[1:]))):
        r.projections = []
        r.reason = "the projection does not give finite numbers; check revenue growth and FCF margin"
        return r
    r.pv_fcf, r.terminal_value, r.pv_terminal, r.enterprise_value = pv_sum, terminal, pv_terminal, ev
    r.equity_value = r.enterprise_value - net_debt
    if r.enterprise_value <= 0:
        r.reason = "enterprise value is not positive (forecast free cash flow is negative)"
    elif r.equity_value <= 0:
        r.reason = "equity value is not positive (net debt exceeds enterprise value)"
    else:
        r.value_per_share = r.equity_value / shares
    return r


def add_dcf(b: FactBuilder, s: Statements, inputs: DcfInputs, price: float | None) -> DcfResult:
    r = dcf(s, inputs)
    year = r.base_year
    b.add("dcf.wacc", "WACC", inputs.wacc, "ratio", formula="as entered")
    b.add("dcf.terminal_growth", "Terminal growth", inputs.terminal_growth, "ratio", formula="as entered")
    b.add("dcf.forecast_years", "Forecast years", inputs.forecast_years, "years", formula="as entered")
    b.add("dcf.revenue_growth", "DCF revenue growth", r.growth, "ratio", reason=r.growth_how, formula=r.growth_how)
    b.add("dcf.fcf_margin", "DCF FCF margin", r.margin, "ratio", reason=r.margin_how, formula=r.margin_how)
    done = r.enterprise_value is not None
    if done:
        for y, rev_t, fcf_t, _ in r.projections:
            t = y - year
            b.add(f"dcf.revenue.{y}", "Forecast revenue", rev_t, "currency", period=y,
                  formula=f"revenue {year} x (1 + growth)^{t} = {fmt(r.base_revenue)} x (1 + {r.growth:.2%})^{t}")
            b.add(f"dcf.fcf.{y}", "Forecast FCF", fcf_t, "currency", period=y,
                  formula=f"forecast revenue x FCF margin {r.margin:.2%}")
        n = inputs.forecast_years
        rows: list[tuple[str, str, float | None, Unit, str]] = [
            ("dcf.pv_fcf", "PV of forecast FCF", r.pv_fcf, "currency",
             f"sum of FCF_t / (1 + {inputs.wacc:.2%})^t, t = 1..{n}"),
            ("dcf.terminal_value", "Terminal value", r.terminal_value, "currency",
             f"FCF_{n} x (1 + g) / (WACC - g) = {fmt(r.projections[-1][2])} x {1 + inputs.terminal_growth:.4f}"
             f" / ({inputs.wacc:.2%} - {inputs.terminal_growth:.2%})"),
            ("dcf.pv_terminal_value", "PV of terminal value", r.pv_terminal, "currency",
             f"terminal value / (1 + {inputs.wacc:.2%})^{n}"),
            ("dcf.enterprise_value", "DCF enterprise value", r.enterprise_value, "currency",
             "PV of forecast FCF + PV of terminal value"),
            ("dcf.terminal_value_share", "Terminal value share of EV",
             r.pv_terminal / r.enterprise_value if r.enterprise_value > 0 else None, "ratio",
             "PV of terminal value / enterprise value"),
            ("dcf.net_debt", "Net debt", r.net_debt, "currency", f"total debt - cash, {year}"),
            ("dcf.equity_value", "DCF equity value", r.equity_value, "currency", "enterprise value - net debt"),
        ]
        for key, title, value, unit, formula in rows:
            b.add(key, title, value, unit, period=None, formula=formula,
                  reason="" if value is not None else "enterprise value is not positive")
    b.add("dcf.value_per_share", "DCF value per share", r.value_per_share, "per_share", period=None,
          reason=r.reason, formula=(f"equity value / diluted shares {year} = {fmt(r.equity_value)} / "
                                    f"{fmt(r.shares, 'shares')}" if done else ""))
    if price is not None:
        upside = r.value_per_share / price - 1 if r.value_per_share is not None and price > 0 else None
        b.add("dcf.upside", "DCF upside to share price", upside, "ratio", period=None,
              reason=r.reason or ("share price is not positive" if upside is None else ""),
              formula=f"DCF value per share / share price - 1 = {fmt(r.value_per_share, 'per_share')} / "
                      f"{fmt(price, 'per_share')} - 1")
    return r


@dataclass(frozen=True)
class SensitivityGrid:
    """DCF value per share for each WACC (rows) and terminal growth (columns); None where it cannot be
    computed, with the reason in `reasons` keyed "row,col"."""

    wacc_values: Sequence[float]
    growth_values: Sequence[float]
    values: list[list[float | None]]
    reasons: dict[str, str] = field(default_factory=dict)
    base_wacc: float | None = None
    base_growth: float | None = None


def dcf_sensitivity(periods: Sequence[FinancialPeriod], dcf_inputs: DcfInputs, *, wacc_values: Sequence[float],
                    growth_values: Sequence[float]) -> SensitivityGrid:
    s = Statements(periods)
    # derive growth and margin once so that every cell shares them
    base = dcf(s, dcf_inputs)
    fixed = replace(dcf_inputs, revenue_growth=base.growth if dcf_inputs.revenue_growth is None else
                    dcf_inputs.revenue_growth,
                    fcf_margin=base.margin if dcf_inputs.fcf_margin is None else dcf_inputs.fcf_margin)
    values: list[list[float | None]] = []
    reasons: dict[str, str] = {}
    for i, wacc in enumerate(wacc_values):
        row: list[float | None] = []
        for j, g in enumerate(growth_values):
            try:
                cell = dcf(s, replace(fixed, wacc=float(wacc), terminal_growth=float(g)))
                value, reason = cell.value_per_share, cell.reason
            except ValueError as exc:
                value, reason = None, str(exc)
            if value is None and (base.growth is None or base.margin is None):
                reason = base.reason or reason
            row.append(value)
            if value is None:
                reasons[f"{i},{j}"] = reason
        values.append(row)
    return SensitivityGrid(wacc_values=[float(w) for w in wacc_values], growth_values=[float(g) for g in growth_values],
                           values=values, reasons=reasons, base_wacc=dcf_inputs.wacc,
                           base_growth=dcf_inputs.terminal_growth)
