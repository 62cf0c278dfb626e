"""Grounding made precise: the metric and year of a number's own clause, relative years, "% of" ratios, per-share
amounts, multiples named after the number, signs carried by words, and counts and durations that are not claims.

Written from the issue's criteria on Roundco (tests/apps/finance/finance_examples.py), not from the dev set.
Roundco: revenue 800.0m / 1,000.0m / 1,210.0m (2022-2024), net income 88.0m / 108.0m / 135.0m, net debt
150.0m / 170.0m / 200.0m, capex 70.0m and operating cash flow 210.0m in 2024, FCF 140.0m, cash conversion
103.7%, payout 20.0%, net margin 11.2%, FCF margin 11.6%, EPS 3.00, DPS 0.60, P/E 12.0x, EV/EBITDA 7.0x,
revenue growth 25.0% (2023) and 21.0% (2024), net income growth 22.7% (2023) and 25.0% (2024).
"""
from __future__ import annotations

import pytest

from apps.finance.analytics import DcfInputs, FactSet, compute_facts, make_fact
from apps.finance.grounding import check_numbers
from tests.apps.finance.finance_examples import roundco


@pytest.fixture(scope="module")
def facts():
    return compute_facts(roundco(), price_per_share=36.0, dcf=DcfInputs())


def flags(text, facts):
    return [(c.text, c.expected.key if c.expected else None) for c in check_numbers(text, facts) if not c.ok]


@pytest.mark.parametrize("text", [
    # a year named in a later clause is not the year of an earlier clause's number
    "Net income was $135.0m, and in 2023 revenue was $1,000.0m.",
    # a year leading the clause holds for every number in it, past the first
    "In 2023, revenue grew 25.0% to $1,000.0m and net income reached $108.0m.",
    # a year carries over into a clause that names none
    "In 2024 net income rose 25.0% to $135.0m; free cash flow was $140.0m.",
    # relative years
    "Net debt rose to $200.0m in 2024 from $170.0m a year earlier.",
    "Revenue grew 25.0% in 2023. Net income rose 22.7% that year.",
    # an abbreviation's full stop does not end the sentence
    "In 2023 the co. grew revenue 25.0% to $1,000.0m.",
    "FY'24 revenue of $1,210.0m was up 21.0% on FY'23.",
    # a number compared with one before it is about the year before; a comparison's year is not carried over
    "Revenue rose to $1,210.0m in 2024 from $1,000.0m.",
    "EBITDA reached $260.0m in 2024, up from $200.0m.",
    "Operating income climbed to $200.0m in 2024 from $150.0m in 2023, lifting the operating margin to 16.5%.",
    "Our DCF values the shares at $98.81, a 174.5% upside to $36.00.",
    "On our DCF (WACC 9.0%) the shares are worth $98.81, 174.5% above the current price.",
    # "on the previous year" is the base of a change; a comparison's year is not carried into the next clause
    "Revenue reached $1,210.0m in fiscal 2024, up 21.0% on the previous year.",
    "Gross margin, at 40.0%, was unchanged from 2023, whereas the operating margin rose to 16.5% from 15.0%.",
])
def test_true_paragraphs_raise_no_flag(facts, text):
    checks = check_numbers(text, facts)
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]


@pytest.mark.parametrize(("text", "wrong", "expected"), [
    # the leading year of the clause: 1,210.0m is 2024's revenue
    ("In 2023, revenue grew 25.0% to $1,210.0m.", "$1,210.0m", "revenue.2023"),
    # carried over from the earlier clause: 108.0m is 2023's
    ("In 2024 revenue reached $1,210.0m; net income was $108.0m.", "$108.0m", "net_income.2024"),
    # "a year earlier": 150.0m is 2022's net debt, 2023's was 170.0m
    ("Net debt rose to $200.0m in 2024 from $150.0m a year earlier.", "$150.0m", "net_debt.2023"),
    # "that year": 25.0% is 2024's net income growth
    ("Revenue grew 25.0% in 2023. Net income rose 25.0% that year.", "25.0%", "net_income_growth_yoy.2023"),
    # compared with 2024's revenue: 800.0m is 2022's
    ("Revenue rose to $1,210.0m in 2024 from $800.0m.", "$800.0m", "revenue.2023"),
])
def test_a_number_of_another_year_is_flagged_with_its_clause_year(facts, text, wrong, expected):
    assert flags(text, facts) == [(wrong, expected)]


def test_a_metric_named_after_the_number_and_a_preposition(facts):
    assert flags("Operating cash flow was $210.0m in 2024 and the company spent $70.0m on capex.", facts) == []
    assert flags("Operating cash flow was $210.0m in 2024 and the company spent $60.0m on capex.", facts) == [
        ("$60.0m", "capital_expenditure.2024")]
    # a metric bound to the number before it wins over one named after a preposition
    assert flags("In 2024 net income of $135.0m came on revenue of $1,210.0m.", facts) == []


def test_share_of_phrases_name_the_ratio(facts):
    ok = ("Free cash flow was 103.7% of net income in 2024, and dividends took 20.0% of net income. "
          "Net income was 11.2% of sales in 2024 and FCF equalled 11.6% of revenue.")
    assert flags(ok, facts) == []
    # 11.6% is the FCF margin, not FCF as a share of net income; 103.7% is not a share of sales
    assert flags("Free cash flow was 11.6% of net income in 2024.", facts) == [("11.6%", "cash_conversion.2024")]
    assert flags("In 2024 free cash flow equalled 103.7% of sales.", facts) == [("103.7%", "fcf_margin.2024")]
    assert flags("In 2024 the company paid out 103.7% of earnings as dividends.", facts) == [
        ("103.7%", "payout_ratio.2024")]


def test_per_share_amounts_match_per_share_facts(facts):
    assert flags("In 2024 net income was $135.0m, or $3.00 per share.", facts) == []
    assert flags("Dividends totalled $27.0m in 2024, or $0.60 a share.", facts) == []
    assert flags("In 2024 net income was $135.0m, or $3.11 per share.", facts) == [("$3.11", "eps_diluted.2024")]


def test_a_wrong_scale_is_flagged_with_the_expected_display(facts):
    for text, wrong in (("EBITDA reached $260.0bn in 2024.", "$260.0bn"),
                        ("Revenue was $1.21 million in 2024.", "$1.21 million"),
                        ("Net income was $135.0 thousand in 2024.", "$135.0 thousand")):
        (check,) = check_numbers(text, facts)
        assert (check.text, check.ok) == (wrong, False)
        assert check.expected.display == {"$260.0bn": "260.0m", "$1.21 million": "1,210.0m",
                                          "$135.0 thousand": "135.0m"}[wrong]


def test_a_multiple_of_earnings_or_ebitda_names_the_valuation_multiple(facts):
    assert flags("The shares trade on 12.0x 2024 earnings and 7.0x EBITDA.", facts) == []
    assert flags("The shares trade on 7.0x 2024 earnings.", facts) == [("7.0x", "pe.2024")]
    assert [t for t, _ in flags("The shares trade on 12.0x EBITDA.", facts)] == ["12.0x"]


def test_counts_and_durations_are_not_claims(facts):
    text = ("We expect to refinance within 18 months, to open 12 new stores over the next 3 years and to keep "
            "the top 20 customers; a three-year plan covers 40 countries.")
    assert check_numbers(text, facts) == []
    # a years fact named in the clause is still checked
    assert flags("The DCF forecast runs 5 years.", facts) == []
    assert [t for t, _ in flags("The DCF forecast runs 7 years.", facts)] == ["7 years"]


@pytest.fixture
def loss():
    return FactSet([
        make_fact("net_income.2024", "Net income", -1_500_000, "currency", period=2024, currency="EUR"),
        make_fact("dcf.upside", "Upside", -0.25, "ratio"),
    ])


@pytest.mark.parametrize(("text", "ok"), [
    ("It made a net loss of \u20ac1.5m in 2024.", True),
    ("Net income was \u20ac-1.5m in 2024.", True),
    ("Net income fell to a deficit of \u20ac1.5m in 2024.", True),
    ("It made net income of \u20ac1.5m in 2024.", False),  # a profit where there was a loss
    ("The DCF implies 25.0% downside.", True),
    ("The DCF implies 25.0% upside.", False),
])
def test_an_unsigned_number_is_positive_unless_its_clause_says_otherwise(loss, text, ok):
    (check,) = check_numbers(text, loss)
    assert check.ok is ok, check


def test_lost_is_a_negative_word(loss):
    assert check_numbers("It lost \u20ac1.5m in 2024.", loss)[0].ok


def test_between_two_years_is_a_span(facts):
    # interest cover 12.0x in 2022 and 10.0x in 2023
    assert flags("Interest cover moved from 12.0x to 10.0x between 2022 and 2023.", facts) == []


def test_a_peer_median_named_after_the_number_in_a_clause_with_a_year():
    from apps.finance.analytics import Peer

    def peer(name, price):
        return Peer(name=name, price_per_share=price, period=roundco((2024,))[0])

    # peers' P/E 10.0x and 20.0x (each of 2024), median 15.0x (of no year)
    facts = compute_facts(roundco(), price_per_share=36.0, dcf=DcfInputs(), peers=[peer("A", 30), peer("B", 60)])
    assert flags("In 2024 the stock traded on 12.0x earnings, below the 15.0x peer median.", facts) == []
    assert [t for t, _ in flags("In 2024 the stock traded on 12.0x earnings, below the 16.0x peer median.",
                                facts)] == ["16.0x"]
