"""DCF and its sensitivity grid on Roundco (2024: revenue 1,210m, net debt 200m, 45m diluted shares)."""
from __future__ import annotations

import math

import pytest

from apps.finance.analytics import DcfInputs, compute_facts, dcf_sensitivity
from tests.apps.finance.finance_examples import M, roundco


def test_flat_dcf_by_hand():
    # growth 0, FCF margin 10%: FCF 121 each year; WACC 10%, g 0, 2 years
    # PV = 121 / 1.1 + 121 / 1.21 = 110 + 100 = 210; TV = 121 x 1.0 / 0.10 = 1,210; PV(TV) = 1,210 / 1.21 = 1,000
    # EV = 1,210; equity = 1,210 - 200 = 1,010; per share 1,010 / 45 = 22.444...
    inputs = DcfInputs(wacc=0.10, terminal_growth=0.0, forecast_years=2, revenue_growth=0.0, fcf_margin=0.10)
    facts = compute_facts(roundco(), dcf=inputs, price_per_share=20.0)
    assert facts.get("dcf.fcf.2025").value == pytest.approx(121 * M)
    assert facts.get("dcf.pv_fcf").value == pytest.approx(210 * M)
    assert facts.get("dcf.terminal_value").value == pytest.approx(1210 * M)
    assert facts.get("dcf.pv_terminal_value").value == pytest.approx(1000 * M)
    assert facts.get("dcf.enterprise_value").value == pytest.approx(1210 * M)
    assert facts.get("dcf.equity_value").value == pytest.approx(1010 * M)
    assert facts.get("dcf.value_per_share").value == pytest.approx(1010 / 45)
    assert facts.get("dcf.value_per_share").display == "22.44"
    assert facts.get("dcf.upside").value == pytest.approx(1010 / 45 / 20 - 1)
    assert facts.get("dcf.terminal_value_share").value == pytest.approx(1000 / 1210)
    assert facts.get("dcf.forecast_years").display == "2 years"


def test_growing_dcf_by_hand():
    # growth 10%, margin 10%, WACC 10%, g 2%, 1 year: revenue 1,331, FCF 133.1, PV 121
    # TV = 133.1 x 1.02 / 0.08 = 1,697.025; PV(TV) = 1,542.75; EV = 1,663.75; equity 1,463.75; / 45 = 32.5278
    inputs = DcfInputs(wacc=0.10, terminal_growth=0.02, forecast_years=1, revenue_growth=0.10, fcf_margin=0.10)
    facts = compute_facts(roundco(), dcf=inputs)
    assert facts.get("dcf.revenue.2025").value == pytest.approx(1331 * M)
    assert facts.get("dcf.terminal_value").value == pytest.approx(1697.025 * M)
    assert facts.get("dcf.enterprise_value").value == pytest.approx(1663.75 * M)
    assert facts.get("dcf.value_per_share").value == pytest.approx(1463.75 / 45)


def test_growth_and_margin_derived_from_history():
    facts = compute_facts(roundco(), dcf=DcfInputs())
    # CAGR 2022-2024 (1210 / 800)^(1/2) - 1; FCF margin (80 + 100 + 140) / (800 + 1000 + 1210) = 320 / 3010
    assert facts.get("dcf.revenue_growth").value == pytest.approx(math.sqrt(1210 / 800) - 1)
    assert "historical revenue CAGR 2022-2024" in facts.get("dcf.revenue_growth").formula
    assert facts.get("dcf.fcf_margin").value == pytest.approx(320 / 3010)
    g, m = math.sqrt(1210 / 800) - 1, 320 / 3010
    fcfs = [1210 * (1 + g) ** t * m for t in range(1, 6)]
    ev = sum(f / 1.09 ** t for t, f in enumerate(fcfs, 1)) + fcfs[-1] * 1.025 / (0.09 - 0.025) / 1.09 ** 5
    assert facts.get("dcf.value_per_share").value == pytest.approx((ev - 200) / 45)


@pytest.mark.parametrize(("inputs", "periods", "reason"), [
    (DcfInputs(wacc=0.02, terminal_growth=0.025), roundco(), "WACC 2.00% must exceed terminal growth 2.50%"),
    (DcfInputs(wacc=0.03, terminal_growth=0.03), roundco(), "must exceed terminal growth"),
    (DcfInputs(forecast_years=0), roundco(), "forecast years must be between 1 and 30"),
    (DcfInputs(), roundco(overrides={("shares_diluted", 2024): None}), "diluted shares missing in 2024"),
    (DcfInputs(), roundco(overrides={("shares_diluted", 2024): 0}), "diluted shares not positive in 2024"),
    (DcfInputs(), roundco(overrides={("total_debt", 2024): None}), "total debt missing in 2024"),
    (DcfInputs(revenue_growth=0.05), roundco(overrides={("revenue", 2024): 0}), "revenue is not positive in 2024"),
    (DcfInputs(), roundco((2024,)), "revenue growth needs revenue in two years"),
    (DcfInputs(fcf_margin=-0.05), roundco(), "enterprise value is not positive"),
    (DcfInputs(fcf_margin=0.01), roundco(overrides={("total_debt", 2024): 5000}), "net debt exceeds enterprise value"),
])
def test_dcf_refuses_with_a_reason(inputs, periods, reason):
    facts = compute_facts(periods, dcf=inputs, price_per_share=30.0)
    fact = facts.get("dcf.value_per_share")
    assert fact.value is None and fact.display == "n/a"
    assert reason in fact.reason
    assert facts.get("dcf.upside").value is None
    for f in facts:
        assert f.value is None or math.isfinite(f.value)


def test_inputs_problems_for_messages():
    assert DcfInputs().problems() == []
    assert DcfInputs(wacc=0.02).problems() == ["WACC 2.00% must exceed terminal growth 2.50%"]
    with pytest.raises(ValueError, match="forecast_years must be an int"):
        DcfInputs(forecast_years=2.5)


def test_sensitivity_grid_matches_dcf_and_moves_the_right_way():
    base = DcfInputs(wacc=0.09, terminal_growth=0.025)
    grid = dcf_sensitivity(roundco(), base, wacc_values=[0.02, 0.08, 0.09, 0.10], growth_values=[0.02, 0.025, 0.03])
    assert len(grid.values) == 4 and all(len(row) == 3 for row in grid.values)
    assert grid.values[2][1] == pytest.approx(compute_facts(roundco(), dcf=base).get("dcf.value_per_share").value)
    # WACC 2% is not above any terminal growth here: n/a with the reason
    assert grid.values[0] == [None, None, None]
    assert "must exceed terminal growth" in grid.reasons["0,0"]
    # higher WACC -> lower value; higher terminal growth -> higher value
    assert grid.values[1][1] > grid.values[2][1] > grid.values[3][1]
    assert grid.values[2][0] < grid.values[2][1] < grid.values[2][2]
    assert (grid.base_wacc, grid.base_growth) == (0.09, 0.025)


def test_sensitivity_grid_of_a_company_without_history_says_why():
    grid = dcf_sensitivity(roundco((2024,)), DcfInputs(), wacc_values=[0.08, 0.09], growth_values=[0.02])
    assert grid.values == [[None], [None]]
    assert "two years" in grid.reasons["0,0"]
