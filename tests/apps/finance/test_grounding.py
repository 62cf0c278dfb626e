"""Numeric grounding of report prose against the computed facts."""
from __future__ import annotations

import pytest

from apps.finance.analytics import DcfInputs, FactSet, compute_facts, make_fact
from apps.finance.grounding import annotate, check_numbers, summary
from tests.apps.finance.finance_examples import roundco

# Roundco 2024 (hand-computed in test_analytics): revenue 1,210m (+21.0% on 1,000m), CAGR 2022-2024 23.0%,
# gross margin 40.0%, operating margin 16.5%, net margin 11.2%, EPS 3.00, ROE 21.1%, net debt/EBITDA 0.8x,
# P/E 12.0x at 36.00; 2023 gross margin 40.0%, 2022-2023 revenue growth 25.0%.
PARAGRAPH = (
    "Revenue grew 21.0% to $1.2bn in FY2024 (2023: $1,000.0m), a 23.0% CAGR over 2022-2024. "
    "Gross margin was 40.0% in 2024, while operating margin reached 16.5% and net margin 11.2%. "
    "At a share price of $36.00 the stock trades on 12.0x earnings (P/E); EPS rose to 3.00 and ROE was 21.1%, "
    "with net debt/EBITDA of 0.8x and a WACC of 9.0%."
)


@pytest.fixture(scope="module")
def facts():
    return compute_facts(roundco(), price_per_share=36.0, dcf=DcfInputs())


def test_a_paragraph_of_true_numbers_passes(facts):
    checks = check_numbers(PARAGRAPH, facts)
    assert [c.text for c in checks] == ["21.0%", "$1.2bn", "$1,000.0m", "23.0%", "40.0%", "16.5%", "11.2%",
                                        "$36.00", "12.0x", "3.00", "21.1%", "0.8x", "9.0%"]
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    keys = {c.text: c.matched_key for c in checks}
    assert keys["21.0%"] == "revenue_growth_yoy.2024"
    assert keys["$1.2bn"] == "revenue.2024"
    assert keys["$1,000.0m"] == "revenue.2023"
    assert keys["23.0%"] == "revenue_cagr.2022_2024"
    assert keys["40.0%"] == "gross_margin.2024"
    assert keys["12.0x"] == "pe.2024"
    assert keys["0.8x"] == "net_debt_to_ebitda.2024"
    assert annotate(PARAGRAPH, checks) == PARAGRAPH
    assert summary(checks) == {"numbers": 13, "matched": 13, "unverified": 0, "unattributed": 0}


def test_a_planted_wrong_number_is_caught_with_the_fact_it_should_use(facts):
    planted = PARAGRAPH.replace("Gross margin was 40.0%", "Gross margin was 43.0%")
    checks = check_numbers(planted, facts)
    bad = [c for c in checks if not c.ok]
    assert len(bad) == 1
    assert bad[0].text == "43.0%" and planted[bad[0].start:bad[0].end] == "43.0%"
    assert bad[0].value == pytest.approx(0.43)
    assert bad[0].expected.key == "gross_margin.2024"
    marked = annotate(planted, checks)
    assert "Gross margin was 43.0% [[unverified: 43.0% \u2014 fact gross_margin.2024 is 40.0%]] in 2024" in marked


def test_a_true_number_of_another_metric_is_still_flagged(facts):
    # 16.5% is the operating margin, not the gross margin
    checks = check_numbers("In 2024 gross margin was 16.5%.", facts)
    assert [(c.ok, c.expected.key) for c in checks] == [(False, "gross_margin.2024")]
    # and a true number of another year: 2022 revenue growth is n/a, 2023's is 25.0%; 21.0% is 2024's
    checks = check_numbers("Revenue grew 21.0% in 2023.", facts)
    assert [(c.ok, c.expected.key) for c in checks] == [(False, "revenue_growth_yoy.2023")]
    assert check_numbers("Revenue grew 25.0% in 2023.", facts)[0].ok


@pytest.fixture
def precise():
    return FactSet([
        make_fact("revenue.2024", "Revenue", 1_234_000_000, "currency", period=2024, currency="EUR"),
        make_fact("gross_margin.2024", "Gross margin", 0.1234, "ratio", period=2024),
        make_fact("revenue_growth_yoy.2024", "Revenue growth (YoY)", -0.032, "ratio", period=2024),
        make_fact("net_income.2024", "Net income", -1_500_000, "currency", period=2024, currency="EUR"),
        make_fact("pe.2024", "P/E", 14.04, "multiple", period=2024),
    ])


@pytest.mark.parametrize(("text", "ok"), [
    ("Revenue was 1.2bn.", True),  # 1.234bn shown to 1 decimal: 1.15..1.25 -> ok
    ("Revenue was 1.23 billion.", True),
    ("Revenue was 1,234m.", True),
    ("Revenue was 1,234,000,000.", True),
    ("Revenue was €1.2bn.", True),
    ("Revenue was EUR 1.2 billion.", True),
    ("Revenue was EUR1,234 million.", True),
    ("Revenue was 1.2bn EUR.", True),
    ("Revenue was € 1.2bn.", True),
    ("Revenue was 1.3bn.", False),
    ("Revenue was 1.26bn.", False),  # 1.234bn to 2 decimals is 1.23; 1.26 is 2.1% off, beyond rel_tol 0.5%
    ("Gross margin was 12%.", True),  # 12.34% at 0 decimals
    ("Gross margin was 12.3%.", True),
    ("Gross margin was 12.34 percent.", True),
    ("Gross margin was 12.5%.", False),
    ("Gross margin was 13%.", False),
    ("The P/E is 14.0x.", True),
    ("The P/E is 14x.", True),
    ("The P/E is 14.2x.", False),
])
def test_rounded_forms(precise, text, ok):
    checks = check_numbers(text, precise)
    assert len(checks) == 1, checks
    assert checks[0].ok is ok, checks[0]


def test_relative_tolerance_covers_numbers_written_to_the_unit(precise):
    # 1,235,000,000 is not 1,234,000,000 rounded to the unit, but within 0.5% of it
    assert check_numbers("Revenue was 1,235,000,000.", precise)[0].ok
    assert not check_numbers("Revenue was 1,235,000,000.", precise, rel_tol=0)[0].ok
    assert not check_numbers("Revenue was 1,250,000,000.", precise)[0].ok  # 1.3% off


@pytest.mark.parametrize(("text", "ok"), [
    ("Revenue growth was (3.2)%.", True),
    ("Revenue growth was -3.2%.", True),
    ("Revenue growth was \u22123.2%.", True),  # unicode minus
    ("Revenue fell 3.2%.", True),
    ("Revenue declined by 3.2%.", True),
    ("Revenue grew 3.2%.", False),  # the fact is a decline
    ("Revenue growth was +3.2%.", False),
    ("Revenue growth was 3.2% (a decline).", True),  # unsigned: the words carry the sign
    ("It made a net loss of €(1.5)m.", True),
    ("It made a net loss of EUR 1.5 million.", True),
    ("It made a net loss of -€1.5m.", True),
    ("It made a net loss of €2.0m.", False),
])
def test_negative_and_parenthesised_numbers_and_currencies(precise, text, ok):
    checks = check_numbers(text, precise)
    assert len(checks) == 1, checks
    assert checks[0].ok is ok, checks[0]


def test_a_written_currency_must_be_the_facts_currency(precise):
    for text in ("Revenue was US$1.2bn.", "Revenue was $1.2bn.", "Revenue was £1,234 million.", "Revenue was 1.2bn USD."):
        (check,) = check_numbers(text, precise)
        assert not check.ok and check.expected.key == "revenue.2024", text
    usd = compute_facts(roundco(), price_per_share=36.0)  # USD facts: any dollar sign may stand for them
    assert all(c.ok for c in check_numbers("Revenue was $1.2bn, US$1,210m or USD 1.21 billion.", usd))
    assert not check_numbers("Revenue was C$1.2bn.", usd)[0].ok
    assert not check_numbers("The share price is €36.00.", usd)[0].ok
    assert check_numbers("The share price is $36.00.", usd)[0].ok


def test_years_ordinals_sections_and_counts_are_not_claims(precise):
    text = ("1. Summary\n2.1 Margins\n## 3 Valuation\n"
            "In 2024 and FY2023, over 2022-2024 and FY24, Q3 2024 was the 3rd quarter; see Section 12, "
            "table 14 and note 15, filed on 31 December 2024. There are 3 risks to a 12-month view in the 10-K.")
    assert check_numbers(text, precise) == []


def test_numbers_with_no_fact_at_all(precise):
    # a number of no metric the facts know ("headcount") matches none and is "could not check", not a flag
    checks = check_numbers("Headcount reached 5,400 and the dividend yield is 2.5%.", precise)
    assert [(c.ok, c.status) for c in checks] == [(False, "unattributed"), (False, "unattributed")]
    assert checks[0].expected is not None  # nearest fact of a compatible unit, as a hint
    assert not any(c.flagged for c in checks)
    marked = annotate("Headcount reached 5,400.", check_numbers("Headcount reached 5,400.", FactSet()))
    assert marked == "Headcount reached 5,400."
    assert summary(checks) == {"numbers": 2, "matched": 0, "unverified": 0, "unattributed": 2}


def test_valuation_prose_with_peers():
    from apps.finance.analytics import Peer

    def peer(name, price):
        return Peer(name=name, price_per_share=price, period=roundco((2024,))[0])

    # peers with Roundco 2024's statements at 30 and 60: P/E 45 x 30 / 135 = 10.0x and 20.0x, median 15.0x;
    # implied value 15.0 x EPS 3.00 = 45.00. A one-letter peer name must not turn "a P/E" into its P/E.
    facts = compute_facts(roundco(), price_per_share=36.0, dcf=DcfInputs(), peers=[peer("A", 30), peer("B", 60)])
    text = ("The stock trades at a P/E of 12.0x versus the peer median of 15.0x, and peers imply 45.00 per share. "
            "At a P/E of 15.0x the shares would be worth 45.00.")
    checks = check_numbers(text, facts)
    assert [(c.text, c.matched_key) for c in checks] == [
        ("12.0x", "pe.2024"), ("15.0x", "peers.median_pe"), ("45.00", "peers.implied_value_per_share"),
        ("15.0x", None), ("45.00", "peers.implied_value_per_share")]
    assert checks[3].expected.key == "pe.2024"  # the company's own P/E is 12.0x


def test_random_text_never_crashes_and_spans_point_at_the_numbers():
    import random

    rng = random.Random(7)
    pieces = list("0123456789.,%$€£()-\u2212+ xmbk") + [
        "bn", " million", "FY", "2024", " gross margin ", " revenue ", "\n", "bps", "x", " years", "Q3", ". "]
    facts = compute_facts(roundco(), price_per_share=36.0, dcf=DcfInputs())
    for _ in range(300):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 120)))
        checks = check_numbers(text, facts)
        for c in checks:
            assert c.text and text[c.start:c.end] == c.text and c.text == c.text.strip()
            assert c.ok == (c.matched_key is not None) and (c.ok or c.expected is None or c.expected.value is not None)
        annotate(text, checks)


def test_forecast_numbers_match_the_dcf_forecast():
    # growth 10%, margin 10% on 2024 revenue 1,210m: 2025 revenue 1,331.0m, 2029 1,210 x 1.1^5 = 1,948.7m
    facts = compute_facts(roundco(), dcf=DcfInputs(revenue_growth=0.10, fcf_margin=0.10))
    checks = check_numbers("Revenue is forecast to reach 1,331.0m in 2025 and 1,948.7m in 2029, "
                           "after 1,210.0m in 2024. Forecast FCF is 133.1m in 2025.", facts)
    assert [c.matched_key for c in checks] == ["dcf.revenue.2025", "dcf.revenue.2029", "revenue.2024",
                                               "dcf.fcf.2025"]
    wrong = check_numbers("Revenue is forecast to reach 1,400.0m in 2025.", facts)[0]
    assert not wrong.ok and wrong.expected.key == "dcf.revenue.2025"


def test_margin_changes_in_points_and_basis_points():
    facts = compute_facts(roundco(overrides={("cost_of_revenue", 2024): 711.48}))  # gross margin 40.0% -> 41.2%
    checks = check_numbers("Gross margin expanded 120bps to 41.2% in 2024, up 1.2 percentage points; "
                           "net margin widened 0.4pp.", facts)
    assert [(c.text, c.matched_key) for c in checks] == [
        ("120bps", "gross_margin_change.2024"), ("41.2%", "gross_margin.2024"),
        ("1.2 percentage points", "gross_margin_change.2024"), ("0.4pp", "net_margin_change.2024")]
    # a contraction of a margin that rose; and a level written as a change
    (shrank,) = check_numbers("Net margin contracted 40bps in 2024.", facts)
    assert not shrank.ok and shrank.expected.key == "net_margin_change.2024"
    (level,) = check_numbers("Gross margin was 41.2pp in 2024.", facts)
    assert not level.ok and level.expected.key == "gross_margin_change.2024"


def test_ranges_and_year_spans(facts):
    text = ("Net margin ranged 11.0-11.2% and revenue 800-1,210m over 2022-2024, WACC between 8 and 10%, "
            "a revenue CAGR of 23.0% over FY2022 to FY2024.")
    checks = check_numbers(text, facts)
    assert [(c.text, c.matched_key) for c in checks] == [
        ("11.0", "net_margin.2022"), ("11.2%", "net_margin.2024"), ("800", "revenue.2022"),
        ("1,210m", "revenue.2024"), ("8", None), ("10%", None), ("23.0%", "revenue_cagr.2022_2024")]
    assert checks[0].value == pytest.approx(0.11)  # the range's unit: a percentage
    assert checks[2].value == 800_000_000  # "800-1,210m": millions
    (bare,) = check_numbers("Revenue was 1,210.0 in 2024 (USD millions).", facts)
    assert bare.ok and bare.matched_key == "revenue.2024" and bare.value == pytest.approx(1.21e9)
    assert checks[4].value == pytest.approx(0.08) and checks[4].expected.key == "dcf.wacc"  # WACC is 9.0%
    (wrong,) = check_numbers("Revenue was 1,000.0m in 2022.", facts)
    assert not wrong.ok and wrong.expected.key == "revenue.2022"
