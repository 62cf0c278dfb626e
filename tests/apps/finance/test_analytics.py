"""Analytics on Roundco (tests/apps/finance/finance_examples.py), every expected value computed by hand."""
from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest

from apps.finance.analytics import DcfInputs, FactSet, FinancialPeriod, Peer, compute_facts
from tests.apps.finance.finance_examples import M, roundco


def value(facts, key):
    fact = facts.get(key)
    assert fact is not None, f"no fact {key}"
    assert fact.value is not None, f"{key} is n/a: {fact.reason}"
    return fact.value


def assert_all_sane(facts: FactSet, *, allow_empty: bool = False) -> None:
    """Never inf/NaN; every n/a has a reason and displays n/a; JSON has no NaN."""
    assert allow_empty or len(facts) > 0
    for fact in facts:
        if fact.value is None:
            assert fact.display == "n/a" and fact.reason, fact
        else:
            assert math.isfinite(fact.value), fact
            assert "inf" not in fact.display.lower() and "nan" not in fact.display.lower(), fact
    json.dumps(facts.to_json(), allow_nan=False)


def test_growth_margins_returns_on_hand_computed_company():
    facts = compute_facts(roundco())
    assert_all_sane(facts)
    # growth: 1210 / 1000 - 1 = 0.21; CAGR 2022-2024 = (1210 / 800)^(1/2) - 1 = 0.229837...
    assert value(facts, "revenue_growth_yoy.2024") == pytest.approx(0.21)
    assert value(facts, "revenue_growth_yoy.2023") == pytest.approx(0.25)  # 1000 / 800 - 1
    assert "revenue_growth_yoy.2022" not in facts  # no prior year at all: no fact
    assert value(facts, "revenue_cagr.2022_2024") == pytest.approx(math.sqrt(1210 / 800) - 1)
    assert facts.get("revenue_cagr.2022_2024").display == "23.0%"
    # margins 2024: gross profit is not reported, so revenue - cost = 1210 - 726 = 484; 484 / 1210 = 40%
    assert value(facts, "gross_profit.2024") == 484 * M
    assert "not reported" in facts.get("gross_profit.2024").formula
    assert value(facts, "gross_margin.2024") == pytest.approx(0.40)
    assert facts.get("gross_margin.2024").display == "40.0%"
    assert value(facts, "operating_margin.2024") == pytest.approx(200 / 1210)  # 16.5%
    assert value(facts, "ebitda.2024") == 260 * M  # 200 + 60
    assert value(facts, "ebitda_margin.2024") == pytest.approx(260 / 1210)
    assert value(facts, "net_margin.2024") == pytest.approx(135 / 1210)
    # returns: ROE 2024 on average equity (580 + 700) / 2 = 640 -> 135 / 640 = 0.2109375
    assert value(facts, "roe.2024") == pytest.approx(0.2109375)
    assert "average equity" in facts.get("roe.2024").formula
    # ROE 2022 has no 2021 balance: ending equity 500 -> 88 / 500 = 0.176
    assert value(facts, "roe.2022") == pytest.approx(0.176)
    assert "ending equity" in facts.get("roe.2022").formula
    assert value(facts, "roa.2024") == pytest.approx(135 / 1200)  # average assets (1100 + 1300) / 2
    # ROIC: tax 45 / 180 = 25%; NOPAT 200 x 0.75 = 150; invested capital 300 + 700 - 100 = 900
    assert value(facts, "effective_tax_rate.2024") == pytest.approx(0.25)
    assert value(facts, "roic.2024") == pytest.approx(150 / 900)


def test_leverage_liquidity_cash_flow_per_share():
    facts = compute_facts(roundco())
    assert value(facts, "debt_to_equity.2024") == pytest.approx(300 / 700)
    assert value(facts, "net_debt.2024") == 200 * M  # 300 - 100
    assert value(facts, "net_debt_to_ebitda.2024") == pytest.approx(200 / 260)
    assert value(facts, "current_ratio.2024") == pytest.approx(2.1)  # 420 / 200
    assert facts.get("current_ratio.2024").display == "2.1x"
    assert value(facts, "quick_ratio.2024") == pytest.approx(1.65)  # (420 - 90) / 200
    assert value(facts, "interest_cover.2024") == pytest.approx(10.0)  # 200 / 20
    assert value(facts, "fcf.2024") == 140 * M  # 210 - 70
    assert value(facts, "fcf_margin.2024") == pytest.approx(140 / 1210)
    assert value(facts, "cash_conversion.2024") == pytest.approx(140 / 135)
    assert value(facts, "eps_diluted.2024") == pytest.approx(3.0)  # 135 / 45
    assert facts.get("eps_diluted.2024").display == "3.00"
    assert value(facts, "eps_diluted_growth_yoy.2024") == pytest.approx(3.0 / 2.7 - 1)  # 2023: 108 / 40
    assert value(facts, "fcf_per_share.2024") == pytest.approx(140 / 45)
    assert value(facts, "book_value_per_share.2024") == pytest.approx(700 / 45)
    assert value(facts, "dividends_per_share.2024") == pytest.approx(0.6)  # 27 / 45
    assert facts.get("revenue.2024").display == "1,210.0m"
    assert facts.get("shares_diluted.2024").unit == "shares"


def test_own_multiples_at_the_share_price():
    facts = compute_facts(roundco(), price_per_share=36.0)
    # market cap 36 x 45 = 1620; EV = 1620 + net debt 200 = 1820
    assert value(facts, "market_cap.2024") == 1620 * M
    assert value(facts, "enterprise_value.2024") == 1820 * M
    assert value(facts, "pe.2024") == pytest.approx(12.0)  # 1620 / 135
    assert value(facts, "ev_to_ebitda.2024") == pytest.approx(7.0)  # 1820 / 260
    assert value(facts, "ev_to_sales.2024") == pytest.approx(1820 / 1210)
    assert value(facts, "pb.2024") == pytest.approx(1620 / 700)
    assert value(facts, "dividend_yield.2024") == pytest.approx(27 / 1620)
    assert facts.get("pe.2024").display == "12.0x"
    no_price = compute_facts(roundco())
    assert no_price.get("price_per_share").value is None
    assert no_price.get("price_per_share").reason == "no share price set"
    assert "pe.2024" not in no_price


def test_peer_multiples_medians_and_implied_value():
    def peer(name, price, net_income):
        # a peer with Roundco 2024's balance sheet (EV = 45 x price + 200) and its own earnings
        period = roundco((2024,), overrides={("net_income", 2024): net_income})[0]
        return Peer(name=name, price_per_share=price, period=period)

    # P/E = 45 x price / net income: A 45 x 30 / 135 = 10.0; B 45 x 60 / 135 = 20.0; C loses money
    peers = [peer("Alpha Inc.", 30.0, 135), peer("Beta plc", 60.0, 135), peer("Gamma AG", 20.0, -10)]
    facts = compute_facts(roundco(), price_per_share=36.0, peers=peers)
    assert_all_sane(facts)
    assert value(facts, "peers.alpha_inc.pe") == pytest.approx(10.0)
    assert value(facts, "peers.beta_plc.pe") == pytest.approx(20.0)
    gamma = facts.get("peers.gamma_ag.pe")
    assert gamma.value is None and gamma.reason == "negative earnings in 2024"
    assert value(facts, "peers.median_pe") == pytest.approx(15.0)  # median(10, 20)
    # implied value: median P/E 15 x Roundco EPS 3.00 = 45.00
    assert value(facts, "peers.implied_value_per_share") == pytest.approx(45.0)
    # EV/EBITDA: A (1350 + 200) / 260, B (2700 + 200) / 260, C (900 + 200) / 260 -> median is A's
    assert value(facts, "peers.median_ev_to_ebitda") == pytest.approx(1550 / 260)
    # implied by EV/EBITDA: (1550 / 260 x 260 - 200) / 45 = 30.00
    assert value(facts, "peers.implied_value_per_share_ev_ebitda") == pytest.approx(30.0)
    only_losers = compute_facts(roundco(), peers=[peer("Gamma AG", 20.0, -10)])
    assert only_losers.get("peers.median_pe").value is None
    assert "no peer has a meaningful P/E" == only_losers.get("peers.median_pe").reason
    assert only_losers.get("peers.implied_value_per_share").reason == "no peer median P/E"


def test_zero_revenue_gives_reasons_not_crashes():
    facts = compute_facts(roundco(overrides={("revenue", 2023): 0}), price_per_share=36.0, dcf=DcfInputs())
    assert_all_sane(facts)
    gm = facts.get("gross_margin.2023")
    assert gm.value is None and gm.reason == "revenue is zero in 2023"
    growth = facts.get("revenue_growth_yoy.2024")
    assert growth.value is None and "revenue in 2023 is zero" in growth.reason
    assert facts.get("revenue_growth_yoy.2023").value == pytest.approx(-1.0)  # 0 / 800 - 1


def test_negative_equity_and_negative_earnings():
    facts = compute_facts(roundco(overrides={("total_equity", 2024): -50, ("net_income", 2024): -20}),
                          price_per_share=36.0)
    assert_all_sane(facts)
    assert facts.get("roe.2024").reason == "negative equity in 2024"
    assert facts.get("debt_to_equity.2024").reason == "total equity is negative in 2024"
    assert facts.get("pb.2024").reason == "negative equity in 2024"
    assert facts.get("pe.2024").reason == "negative earnings in 2024"
    assert facts.get("cash_conversion.2024").reason == "net income is negative in 2024"
    assert facts.get("net_income_growth_yoy.2024").value == pytest.approx(-20 / 108 - 1)
    assert facts.get("net_income_cagr.2022_2024").value is None
    assert "not positive" in facts.get("net_income_cagr.2022_2024").reason
    # book value per share may be negative: it is a real number, not a degenerate one
    assert facts.get("book_value_per_share.2024").value == pytest.approx(-50 / 45)


def test_missing_year_and_missing_line_items():
    facts = compute_facts(roundco((2022, 2024), overrides={("inventory", 2024): None, ("interest_expense", 2024): 0}))
    assert_all_sane(facts)
    growth = facts.get("revenue_growth_yoy.2024")
    assert growth.value is None and growth.reason == "2023 missing"
    # CAGR spans the years that have revenue: (1210 / 800)^(1/2) - 1
    assert value(facts, "revenue_cagr.2022_2024") == pytest.approx(math.sqrt(1210 / 800) - 1)
    assert facts.get("quick_ratio.2024").reason == "inventory missing in 2024"
    assert facts.get("inventory.2024").reason == "inventory not reported in 2024"
    assert facts.get("interest_cover.2024").reason == "interest expense is zero in 2024"
    # ROE 2024: 2023 is missing, so ending equity
    assert value(facts, "roe.2024") == pytest.approx(135 / 700)


def test_one_period_only_and_empty():
    facts = compute_facts(roundco((2024,)), price_per_share=36.0, dcf=DcfInputs())
    assert_all_sane(facts)
    assert not [f for f in facts if "growth_yoy" in f.key]
    dcf = facts.get("dcf.value_per_share")
    assert dcf.value is None and "two years" in dcf.reason
    assert len(compute_facts([])) == 0


def test_roic_tax_rate_clamped_or_fallback():
    # 2024 tax 120 on pretax 180 = 66.7% -> clamped to 50%: NOPAT 200 x 0.5 = 100; 100 / 900
    facts = compute_facts(roundco(overrides={("income_tax", 2024): 120}))
    assert value(facts, "roic.2024") == pytest.approx(100 / 900)
    assert "clamped from 66.7%" in facts.get("roic.2024").formula
    # a pretax loss: the 25% fallback, NOPAT 150 / 900
    facts = compute_facts(roundco(overrides={("pretax_income", 2024): -5}))
    assert value(facts, "roic.2024") == pytest.approx(150 / 900)
    assert "fallback" in facts.get("roic.2024").formula


def test_inputs_validated_and_decimals_accepted():
    period = FinancialPeriod(fiscal_year=2024, currency="eur", values={"revenue": Decimal("1000.50"), "cash": None})
    assert period.get("revenue") == 1000.5 and period.currency == "EUR"
    with pytest.raises(ValueError, match="finite"):
        FinancialPeriod(fiscal_year=2024, currency="USD", values={"revenue": float("nan")})
    with pytest.raises(ValueError, match="two periods for fiscal year 2024"):
        compute_facts(roundco((2024,)) + roundco((2024,)))
    with pytest.raises(ValueError, match="mix currencies EUR, USD"):
        compute_facts(roundco((2023,), currency="EUR") + roundco((2024,)))


def test_factset_json_round_trip_and_queries():
    facts = compute_facts(roundco(), price_per_share=36.0, dcf=DcfInputs())
    again = FactSet.from_json(json.loads(json.dumps(facts.to_json())))
    assert again.to_json() == facts.to_json()
    assert again.currency == "USD"
    assert facts.years() == [2022, 2023, 2024]
    assert {f.key for f in facts.for_year(2023)} >= {"revenue.2023", "gross_margin.2023"}
    assert all(f.value is not None for f in facts.available())
    columns, rows = facts.table(["revenue", "gross_margin", "not_a_metric"])
    assert columns == ["Metric", "FY2022", "FY2023", "FY2024"]
    assert rows == [["Revenue", "800.0m", "1,000.0m", "1,210.0m"], ["Gross margin", "40.0%", "40.0%", "40.0%"]]


def test_display_strings():
    from apps.finance.analytics import format_value

    assert format_value(0.1234, "ratio") == "12.3%"
    assert format_value(-0.0004, "ratio") == "0.0%"  # never "-0.0%"
    assert format_value(-0.032, "ratio") == "-3.2%"
    assert format_value(1_234_500_000, "currency") == "1,234.5m"
    assert format_value(-12_300_000, "currency") == "-12.3m"
    assert format_value(950_000, "currency") == "950,000"
    assert format_value(2.14, "multiple") == "2.1x"
    assert format_value(3.456, "per_share") == "3.46"
    assert format_value(5, "years") == "5 years"
    assert format_value(None, "ratio") == "n/a"


def test_random_statements_never_crash_or_give_non_finite_numbers():
    """Seeded random statements, prices, peers and DCF inputs, degenerate values included (zero, negative,
    missing, tiny, 1e300): every fact is finite or n/a with a reason, and the sensitivity grid too."""
    import random

    from apps.finance.analytics import Peer, dcf_sensitivity
    from apps.finance.analytics.statements import LINE_ITEMS

    rng = random.Random(20261129)
    choices = [None, 0, -1e6, 1e6, 5e8, -3e9, 1e15, 1e-3, 7, -0.5, 1e300, -1e300]

    def period(year):
        return FinancialPeriod(year, "USD", {k: rng.choice(choices) for k in LINE_ITEMS})

    for _ in range(400):
        periods = [period(y) for y in rng.sample(range(2015, 2026), rng.randint(0, 5))]
        dcf = DcfInputs(wacc=rng.choice([0.09, 0.02, -0.5, 5.0]), terminal_growth=rng.choice([0.025, 0.09, -0.9]),
                        forecast_years=rng.choice([1, 5, 30, 0]), revenue_growth=rng.choice([None, 0.1, -2, 1e300]),
                        fcf_margin=rng.choice([None, 0.1, -1, 1e300]))
        peers = [Peer(f"P{j}", rng.choice([0, -1, 10, 1e300]), period(2024)) for j in range(rng.randint(0, 3))]
        facts = compute_facts(periods, price_per_share=rng.choice([None, 0, -5, 36.0, 1e300]), dcf=dcf, peers=peers)
        assert_all_sane(facts, allow_empty=not periods)
        grid = dcf_sensitivity(periods, dcf, wacc_values=[0.05, 2.0], growth_values=[0.0, 0.03])
        for i, row in enumerate(grid.values):
            for j, v in enumerate(row):
                assert (v is not None and math.isfinite(v)) or grid.reasons[f"{i},{j}"]


def test_margin_changes_in_percentage_points():
    # 2024 cost 711.48 -> gross margin (1210 - 711.48) / 1210 = 41.2%; 2023 40.0% -> +1.2pp
    facts = compute_facts(roundco(overrides={("cost_of_revenue", 2024): 711.48}))
    change = facts.get("gross_margin_change.2024")
    assert change.value == pytest.approx(0.412 - 0.40)
    assert change.display == "+1.2pp" and change.unit == "ratio"
    # net margin 135 / 1210 - 108 / 1000 = 11.157% - 10.8% = +0.357pp
    assert facts.get("net_margin_change.2024").value == pytest.approx(135 / 1210 - 0.108)
    assert facts.get("net_margin_change.2024").display == "+0.4pp"
    assert "gross_margin_change.2022" not in facts
    gap = compute_facts(roundco((2022, 2024)))
    assert gap.get("gross_margin_change.2024").reason == "2023 missing"
    zero = compute_facts(roundco(overrides={("revenue", 2023): 0}))
    assert zero.get("gross_margin_change.2024").reason == "gross margin n/a in 2023: revenue is zero in 2023"
    assert zero.get("gross_margin_change.2023").reason == "revenue is zero in 2023"
