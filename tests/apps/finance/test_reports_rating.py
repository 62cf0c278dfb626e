"""The rating section's price target is checked against the valuation facts (pure, no database)."""
import json

import pytest

from apps.finance.analytics import DcfInputs, FinancialPeriod, compute_facts
from apps.finance.reports.prompts import section_prompt, tidy_model_text
from apps.finance.reports.rating import parse_model_output, rating_resolve
from tests.apps.finance.test_reports_factories import STATEMENTS


@pytest.fixture(scope="module")
def facts():
    periods = [FinancialPeriod(fiscal_year=y, currency="USD", values=v) for y, v in STATEMENTS.items()]
    return compute_facts(periods, price_per_share=25.0, dcf=DcfInputs(wacc=0.09, terminal_growth=0.025))


def _answer(rating, target, basis="DCF"):
    return json.dumps({"rating": rating, "target_price": target, "basis": basis})


def test_a_target_near_the_dcf_value_is_the_models_and_grounded(facts):
    dcf = facts.get("dcf.value_per_share").value
    text, data = rating_resolve(_answer("buy", round(dcf * 1.02, 2)), facts, price=25.0, currency="USD", rel_tol=0.05)
    assert data["target_check"] == "grounded" and data["target_fact"] == "dcf.value_per_share"
    assert data["target_price"] == pytest.approx(dcf * 1.02, abs=0.01) and data["rating"] == "buy"
    assert text.startswith("Rating: BUY. Price target:") and "consistent with" in text


def test_an_unsupported_target_is_replaced_by_the_dcf_value_and_says_so(facts):
    dcf = facts.get("dcf.value_per_share")
    text, data = rating_resolve(_answer("sell", 999.0), facts, price=25.0, currency="USD", rel_tol=0.05)
    assert data["target_check"] == "replaced" and data["model_target_price"] == 999.0
    assert data["target_price"] == pytest.approx(dcf.value) and data["rating"] == "sell"
    assert "999.00" in text and "no valuation fact supports" in text and dcf.display in text


def test_unusable_model_output_gets_a_rating_derived_from_the_dcf_upside(facts):
    assert parse_model_output('{"rating": "buy", "target_pri') is None
    assert parse_model_output('{"rating": "strong buy", "target_price": 3, "basis": ""}') is None
    text, data = rating_resolve('{"rating": "bu', facts, price=25.0, currency="USD", rel_tol=0.05)
    upside = facts.get("dcf.value_per_share").value / 25.0 - 1
    expected = "buy" if upside > 0.1 else "sell" if upside < -0.1 else "hold"
    assert data["rating"] == expected and data["rating_source"] == "derived from the DCF upside"
    assert data["target_check"] == "from_facts" and "not usable" in text


def test_no_dcf_no_target(facts):
    periods = [FinancialPeriod(fiscal_year=2024, currency="USD", values={"revenue": 0})]
    empty = compute_facts(periods)
    text, data = rating_resolve(_answer("hold", 10), empty, price=None, currency="USD", rel_tol=0.05)
    assert data["target_price"] is None and data["target_check"] == "no_valuation"
    assert "Price target: n/a" in text


def test_section_prompt_holds_the_facts_display_strings(facts):
    system, task = section_prompt("financial_analysis", company_name="Acme", currency="USD", facts=facts)
    assert "Acme" in system and facts.get("gross_margin.2024").display in system
    assert "FY2024" in system and "FY2022" not in system  # the latest two years only
    assert "FACTS" not in task and "40.0%" not in task and task.startswith("Comment")
    assert len(system) < 2000
    system, task = section_prompt("summary", company_name="Acme", currency="USD", facts=facts)
    assert task.startswith("Write for Acme ") and facts.get("dcf.value_per_share").display in system


def test_model_text_is_tidied_repeats_and_a_cut_off_sentence_dropped():
    looped = "Growth is strong.\nGrowth is strong.\nMargins rose to 40.0%. Valuation is $30.2"
    assert tidy_model_text(looped, truncated=True) == "Growth is strong.\nMargins rose to 40.0%."
    assert tidy_model_text(looped, truncated=False).endswith("Valuation is $30.2")
    assert tidy_model_text("No sentence end at all", truncated=True) == "No sentence end at all"
    assert tidy_model_text("EPS was 1.48 in FY2024. Net", truncated=True) == "EPS was 1.48 in FY2024."
