"""Historical metrics per fiscal year: growth, margins, returns, leverage and liquidity, cash flow, per share.

Each function appends Facts to a FactBuilder; every n/a says why. Formulas name the inputs and show
their values so that a reader can redo the arithmetic.
"""
from __future__ import annotations

from apps.finance.analytics.facts import Fact, Unit, format_value, make_fact
from apps.finance.analytics.statements import LINE_ITEMS, Statements, label, lower_label

EFFECTIVE_TAX_CLAMP = (0.0, 0.5)
FALLBACK_TAX_RATE = 0.25


class FactBuilder:
    def __init__(self, currency: str | None):
        self.currency = currency
        self.facts: list[Fact] = []

    def add(self, key: str, label: str, value: float | None, unit: Unit, *, formula: str = "", reason: str = "",
            period: int | None = None, points: bool = False) -> Fact:
        fact = make_fact(key, label, value, unit, formula=formula, reason=reason, period=period,
                         currency=self.currency, points=points)
        self.facts.append(fact)
        return fact

    def get(self, key: str) -> Fact | None:
        return next((f for f in reversed(self.facts) if f.key == key), None)


def fmt(value: float | None, unit: str = "currency") -> str:
    return format_value(value, unit)


def ratio(num: float | None, den: float | None, *, num_reason: str = "", den_reason: str = "",
          den_name: str = "", year: int | None = None, den_must_be_positive: bool = True) -> tuple[float | None, str]:
    """num / den, or None and why (missing input, zero or non-positive denominator)."""
    if num is None or den is None:
        return None, num_reason if num is None else den_reason
    when = f" in {year}" if year is not None else ""
    if den == 0:
        return None, f"{den_name} is zero{when}"
    if den_must_be_positive and den < 0:
        return None, f"{den_name} is negative{when}"
    return num / den, ""


# --- line items and derived amounts --------------------------------------------------------------------
def add_line_items(b: FactBuilder, s: Statements) -> None:
    for year in s.years:
        for key, (item_label, unit) in LINE_ITEMS.items():
            value, reason = s.item(year, key)
            how = s.how(year, key)
            b.add(f"{key}.{year}", item_label, value, unit, period=year,
                  reason=reason.replace("missing", "not reported"), formula=how)
        for key in ("ebitda", "fcf", "net_debt"):
            value, reason = s.item(year, key)
            b.add(f"{key}.{year}", label(key), value, "currency", period=year, reason=reason, formula=s.how(year, key))


# --- growth ---------------------------------------------------------------------------------------------
GROWTH_METRICS = ("revenue", "ebitda", "net_income", "eps_diluted", "fcf")
CAGR_METRICS = ("revenue", "net_income", "eps_diluted")


def growth(cur: float | None, prev: float | None, *, name: str, year: int, prev_year: int,
           cur_reason: str = "", prev_reason: str = "") -> tuple[float | None, str]:
    if cur is None:
        return None, cur_reason
    if prev is None:
        return None, prev_reason
    if prev <= 0:
        return None, f"{name} in {prev_year} is {'zero' if prev == 0 else 'negative'}, growth is not meaningful"
    return cur / prev - 1, ""


def add_growth(b: FactBuilder, s: Statements, values: dict[str, dict[int, tuple[float | None, str]]]) -> None:
    """YoY growth from the second fiscal year on, and the CAGR over the span with values at both ends."""
    for metric in GROWTH_METRICS:
        series = values[metric]
        name = lower_label(metric) if metric != "eps_diluted" else "diluted EPS"
        title = label(metric) if metric != "eps_diluted" else "Diluted EPS"
        unit = "per_share" if metric == "eps_diluted" else "currency"
        for year in s.years[1:]:
            prev_year = year - 1
            cur, cur_reason = series[year]
            prev, prev_reason = series.get(prev_year, (None, f"{prev_year} missing"))
            value, reason = growth(cur, prev, name=name, year=year, prev_year=prev_year, cur_reason=cur_reason,
                                   prev_reason=prev_reason)
            b.add(f"{metric}_growth_yoy.{year}", f"{title} growth (YoY)", value, "ratio", period=year,
                  reason=reason, formula=f"{name} {year} / {name} {prev_year} - 1 = {fmt(cur, unit)} / {fmt(prev, unit)} - 1")
    for metric in CAGR_METRICS:
        series = values[metric]
        name = lower_label(metric) if metric != "eps_diluted" else "diluted EPS"
        title = label(metric) if metric != "eps_diluted" else "Diluted EPS"
        unit = "per_share" if metric == "eps_diluted" else "currency"
        known = [y for y in s.years if series[y][0] is not None]
        if len(known) < 2:
            if len(s.years) >= 2:
                b.add(f"{metric}_cagr", f"{title} CAGR", None, "ratio", period=s.latest,
                      reason=f"{name} is reported in fewer than two years")
            continue
        first, last = known[0], known[-1]
        v0, v1 = series[first][0], series[last][0]
        n = last - first
        key = f"{metric}_cagr.{first}_{last}"
        formula = f"({name} {last} / {name} {first})^(1/{n}) - 1 = ({fmt(v1, unit)} / {fmt(v0, unit)})^(1/{n}) - 1"
        if v0 <= 0 or v1 <= 0:
            which = first if v0 <= 0 else last
            b.add(key, f"{title} CAGR", None, "ratio", period=last, formula=formula,
                  reason=f"{name} in {which} is not positive, CAGR is not meaningful")
        else:
            b.add(key, f"{title} CAGR", (v1 / v0) ** (1 / n) - 1, "ratio", period=last, formula=formula)


# --- per-year metrics -----------------------------------------------------------------------------------
def _average(s: Statements, year: int, key: str, name: str) -> tuple[float | None, str, str]:
    """(average of this and the prior year's value where both exist, else this year's; reason; basis)."""
    cur, reason = s.item(year, key)
    if cur is None:
        return None, reason, ""
    prev, _ = s.item(year - 1, key)
    for v, y in ((cur, year), (prev, year - 1)):
        if v is not None and v <= 0:
            return None, f"{'negative' if v < 0 else 'zero'} {name} in {y}", ""
    if prev is None:
        return cur, "", f"ending {name} {year} (no {year - 1} balance)"
    return (cur + prev) / 2, "", f"average {name} of {year - 1} and {year}"


def effective_tax_rate(s: Statements, year: int) -> tuple[float, str]:
    """(rate, how): income tax / pretax income clamped to [0, 50%], else the 25% fallback."""
    tax, _ = s.item(year, "income_tax")
    pretax, _ = s.item(year, "pretax_income")
    lo, hi = EFFECTIVE_TAX_CLAMP
    if tax is not None and pretax is not None and pretax > 0:
        rate = tax / pretax
        clamped = min(max(rate, lo), hi)
        note = "" if clamped == rate else f", clamped from {rate:.1%}"
        return clamped, f"effective tax rate {clamped:.1%} (income tax / pretax income{note})"
    return FALLBACK_TAX_RATE, f"tax rate {FALLBACK_TAX_RATE:.0%} (fallback: no positive pretax income and tax in {year})"


def add_year_metrics(b: FactBuilder, s: Statements) -> dict[str, dict[int, tuple[float | None, str]]]:
    """Margins, returns, leverage, liquidity, cash flow and per-share facts for each year.
    Returns the per-year series that growth needs."""
    series: dict[str, dict[int, tuple[float | None, str]]] = {m: {} for m in GROWTH_METRICS}
    for year in s.years:
        item = {k: s.item(year, k) for k in (*LINE_ITEMS, "ebitda", "fcf", "net_debt")}
        v = {k: val for k, (val, _) in item.items()}
        why = {k: r for k, (_, r) in item.items()}
        for metric in ("revenue", "ebitda", "net_income", "fcf"):
            series[metric][year] = item[metric]

        def add(key: str, title: str, num: str, den: str, unit: Unit, *, den_positive: bool = True,
                formula_name: str | None = None, _year: int = year, _v=v, _why=why) -> Fact:
            value, reason = ratio(_v[num], _v[den], num_reason=_why[num], den_reason=_why[den],
                                  den_name=lower_label(den), year=_year, den_must_be_positive=den_positive)
            nu = LINE_ITEMS.get(num, ("", "currency"))[1]
            du = LINE_ITEMS.get(den, ("", "currency"))[1]
            formula = (f"{formula_name or lower_label(num) + ' / ' + lower_label(den)} = "
                       f"{fmt(_v[num], nu)} / {fmt(_v[den], du)}")
            return b.add(f"{key}.{_year}", title, value, unit, period=_year, reason=reason, formula=formula)

        # margins (denominator revenue)
        add("gross_margin", "Gross margin", "gross_profit", "revenue", "ratio")
        add("operating_margin", "Operating margin", "operating_income", "revenue", "ratio")
        add("ebitda_margin", "EBITDA margin", "ebitda", "revenue", "ratio",
            formula_name="(operating income + D&A) / revenue")
        add("net_margin", "Net margin", "net_income", "revenue", "ratio")
        add("fcf_margin", "FCF margin", "fcf", "revenue", "ratio", formula_name="(operating cash flow - capex) / revenue")
        tax_value, tax_reason = ratio(v["income_tax"], v["pretax_income"], num_reason=why["income_tax"],
                                      den_reason=why["pretax_income"], den_name="pretax income", year=year)
        b.add(f"effective_tax_rate.{year}", "Effective tax rate", tax_value, "ratio", period=year, reason=tax_reason,
              formula=f"income tax / pretax income = {fmt(v['income_tax'])} / {fmt(v['pretax_income'])}")

        # returns
        for key, title, base, base_name in (("roe", "Return on equity (ROE)", "total_equity", "equity"),
                                            ("roa", "Return on assets (ROA)", "total_assets", "total assets")):
            avg, reason, basis = _average(s, year, base, base_name)
            value = None
            if v["net_income"] is None:
                reason = why["net_income"]
            elif avg is not None:
                value = v["net_income"] / avg
            b.add(f"{key}.{year}", title, value, "ratio", period=year, reason=reason,
                  formula=f"net income / {basis or base_name} = {fmt(v['net_income'])} / {fmt(avg)}")
        rate, rate_how = effective_tax_rate(s, year)
        nopat = v["operating_income"] * (1 - rate) if v["operating_income"] is not None else None
        invested = None
        ic_reason = next((why[k] for k in ("total_debt", "total_equity", "cash") if v[k] is None), "")
        if not ic_reason:
            invested = v["total_debt"] + v["total_equity"] - v["cash"]
        roic, roic_reason = ratio(nopat, invested, num_reason=why["operating_income"], den_reason=ic_reason,
                                  den_name="invested capital (debt + equity - cash)", year=year)
        b.add(f"roic.{year}", "Return on invested capital (ROIC)", roic, "ratio", period=year, reason=roic_reason,
              formula=f"NOPAT / (total debt + total equity - cash), NOPAT = operating income x (1 - tax), "
                      f"{rate_how} = {fmt(nopat)} / {fmt(invested)}")

        # leverage and liquidity
        add("debt_to_equity", "Debt to equity", "total_debt", "total_equity", "multiple")
        nd_value, nd_reason = ratio(v["net_debt"], v["ebitda"], num_reason=why["net_debt"], den_reason=why["ebitda"],
                                    den_name="EBITDA", year=year)
        b.add(f"net_debt_to_ebitda.{year}", "Net debt / EBITDA", nd_value, "multiple", period=year, reason=nd_reason,
              formula=f"(total debt - cash) / (operating income + D&A) = {fmt(v['net_debt'])} / {fmt(v['ebitda'])}"
                      + (" (negative: net cash)" if nd_value is not None and nd_value < 0 else ""))
        add("current_ratio", "Current ratio", "current_assets", "current_liabilities", "multiple")
        quick_num = (v["current_assets"] - v["inventory"]
                     if v["current_assets"] is not None and v["inventory"] is not None else None)
        q_value, q_reason = ratio(quick_num, v["current_liabilities"],
                                  num_reason=why["current_assets"] or why["inventory"],
                                  den_reason=why["current_liabilities"], den_name="current liabilities", year=year)
        b.add(f"quick_ratio.{year}", "Quick ratio", q_value, "multiple", period=year, reason=q_reason,
              formula=f"(current assets - inventory) / current liabilities = {fmt(quick_num)} / "
                      f"{fmt(v['current_liabilities'])}")
        add("interest_cover", "Interest cover", "operating_income", "interest_expense", "multiple",
            formula_name="operating income / interest expense")

        # cash flow
        add("cash_conversion", "Cash conversion", "fcf", "net_income", "ratio", formula_name="FCF / net income")
        add("payout_ratio", "Payout ratio", "dividends_paid", "net_income", "ratio",
            formula_name="dividends paid / net income")

        # per share
        eps = add("eps_diluted", "Diluted EPS", "net_income", "shares_diluted", "per_share")
        series["eps_diluted"][year] = (eps.value, eps.reason)
        add("fcf_per_share", "FCF per share", "fcf", "shares_diluted", "per_share")
        add("book_value_per_share", "Book value per share", "total_equity", "shares_diluted", "per_share")
        add("dividends_per_share", "Dividends per share", "dividends_paid", "shares_diluted", "per_share")
    return series


MARGINS = ("gross_margin", "operating_margin", "ebitda_margin", "net_margin", "fcf_margin")


def add_margin_changes(b: FactBuilder, s: Statements) -> None:
    """<margin>_change.<year>: this year's margin minus last year's, in percentage points (+1.2pp)."""
    for metric in MARGINS:
        for year in s.years[1:]:
            cur, prev = b.get(f"{metric}.{year}"), b.get(f"{metric}.{year - 1}")
            title = cur.label
            if prev is None:
                value, reason = None, f"{year - 1} missing"
            elif cur.value is None or prev.value is None:
                value = None
                reason = cur.reason if cur.value is None else f"{title.lower()} n/a in {year - 1}: {prev.reason}"
            else:
                value, reason = cur.value - prev.value, ""
            b.add(f"{metric}_change.{year}", f"{title} change", value, "ratio", period=year, reason=reason,
                  points=True, formula=f"{title.lower()} {year} - {title.lower()} {year - 1} = "
                                       f"{cur.display} - {prev.display if prev else 'n/a'}")
