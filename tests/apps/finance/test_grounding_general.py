"""Grounding for what people write: the spellings and sentence shapes of prose written without the checker in
view. Written from the issue's criteria (a number is checked against the metric and year of its own clause; scale
words and units are read; "X% of net income / of sales" names the ratio) on Roundco
(tests/apps/finance/finance_examples.py): each test names the general mechanism it covers.

Roundco: revenue 800.0m / 1,000.0m / 1,210.0m (2022-2024), net income 88.0m / 108.0m / 135.0m, operating
income 120.0m / 150.0m / 200.0m, net margin 11.0% / 10.8% / 11.2%, FCF margin 10.0% / 10.0% / 11.6%, cash
conversion 90.9% / 92.6% / 103.7%, net debt/EBITDA 0.9x / 0.8x / 0.8x, net debt 150.0m / 170.0m / 200.0m,
revenue growth 25.0% (2023) and 21.0% (2024), revenue CAGR 2022-2024 23.0%, dividend yield 1.7%, P/E 12.0x.
"""
from __future__ import annotations

import time

import pytest

from apps.finance.analytics import DcfInputs, FactSet, Peer, compute_facts, make_fact
from apps.finance.grounding import check_numbers
from tests.apps.finance.finance_examples import roundco


@pytest.fixture(scope="module")
def facts():
    return compute_facts(roundco(), price_per_share=36.0, dcf=DcfInputs())


@pytest.fixture(scope="module")
def with_peers():
    def peer(name, price):
        return Peer(name=name, price_per_share=price, period=roundco((2024,))[0])

    # peers' P/E 10.0x and 20.0x: median 15.0x; EV/EBITDA median 8.6x
    return compute_facts(roundco(), price_per_share=36.0, dcf=DcfInputs(), peers=[peer("A", 30), peer("B", 60)])


def flags(text, facts):
    return [(c.text, c.expected.key if c.expected else None) for c in check_numbers(text, facts) if not c.ok]


def assert_clean(text, facts):
    checks = check_numbers(text, facts)
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]


# -- Unicode spaces and dashes are read as the plain ones; positions stay those of the text as written

@pytest.mark.parametrize("text", [
    "Net income was $135.0\u00a0m in 2024, a net margin of 11.2\u2009%.",
    "In 2024 the shares traded on 12.0\u202fx earnings.",
    "Revenue grew from $800.0\u00a0m in 2022 to $1,210.0\u00a0m in 2024.",
])
def test_unicode_spaces_between_a_number_and_its_unit(facts, text):
    assert_clean(text, facts)


def test_a_flag_quotes_the_number_as_written_with_its_no_break_space(facts):
    text = "Operating income was $200.0m. Net income was $108.0\u00a0m in 2024."
    (check,) = [c for c in check_numbers(text, facts) if not c.ok]
    assert check.text == "$108.0\u00a0m" == text[check.start:check.end]
    assert check.expected.key == "net_income.2024"


def test_an_en_dash_before_a_number_is_a_minus():
    loss = FactSet([make_fact("net_income.2024", "Net income", -1_500_000, "currency", period=2024,
                              currency="USD"),
                    make_fact("net_margin.2024", "Net margin", -0.031, "ratio", period=2024)])
    assert all(c.ok for c in check_numbers("In 2024 net income was \u2013$1.5m, a net margin of \u20133.1%.", loss))
    assert all(c.ok for c in check_numbers("In 2024 net income was \u2212$1.5m.", loss))


# -- the full stop of an abbreviation does not end a sentence, and abbreviated metric names are read

def test_abbreviations_keep_the_year_of_the_sentence(facts):
    assert_clean("FY'23 rev. $1,000.0m (+25.0% y/y), op. inc. $150.0m, NI $108.0m, net mgn 10.8%.", facts)
    # 135.0m is 2024's net income: the year FY'23 holds past "rev."
    assert flags("FY'23 rev. $1,000.0m, NI $135.0m.", facts) == [("$135.0m", "net_income.2023")]
    assert flags("FY'23 rev. $1,000.0m, op. inc. $200.0m.", facts) == [("$200.0m", "operating_income.2023")]


# -- misspelt metric words are read as the metric they stand for

def test_misspelt_metric_words(facts):
    assert_clean("Reveune of $1,210.0m in 2024 came with a net marign of 11.2% and a divdend yeild of 1.7%.",
                 facts)
    assert flags("In 2024 net incme was $1,210.0m.", facts) == [("$1,210.0m", "net_income.2024")]


def test_ordinary_words_are_not_respelt(facts):
    # "media" is not "median", "margins" not misspelt
    assert_clean("In 2024 media revenue margins held; revenue was $1,210.0m.", facts)
    # "divided" one letter short of "dividend", "grows" one letter from "gross": real words stay as written
    from apps.finance.grounding import _correct_spelling, _vocabulary

    text = "Revenue grows as the divided board debates the pride of the price; net incme, gross margn."
    assert _correct_spelling(text, _vocabulary(facts))[0] == text.replace("incme", "income").replace(
        "margn", "margin")


# -- "X% of sales / of net income": the subject named before it decides the ratio; the base names no metric

def test_the_subject_of_a_share_not_the_base_of_another_share(facts):
    assert_clean("In 2024 free cash flow was 11.6% of sales and 103.7% of net income.", facts)
    # 11.2% is the net margin: free cash flow was 11.6% of sales
    assert flags("In 2024 free cash flow was 11.2% of sales and 103.7% of net income.", facts) == [
        ("11.2%", "fcf_margin.2024")]


def test_the_base_of_a_share_is_not_the_metric_of_the_next_number(facts):
    assert_clean("Cash conversion rose to 103.7% of net income in 2024 from 92.6% in 2023.", facts)
    assert flags("Cash conversion rose to 103.7% of net income in 2024 from 90.9% in 2023.", facts) == [
        ("90.9%", "cash_conversion.2023")]


# -- a comma before a new metric starts a new clause: the year of the clause before does not hold in it

def test_a_comma_before_a_new_metric_starts_a_clause(facts):
    assert_clean("Net income rose to $135.0m in 2024 from $108.0m in 2023, net debt reached $200.0m.", facts)
    assert flags("Net income rose to $135.0m in 2024 from $108.0m in 2023, net debt reached $170.0m.",
                 facts) == [("$170.0m", "net_debt.2024")]


# -- the base year of a change ("higher than in 2023"), and a year that names its own clause ("2023, when ...")

def test_higher_than_in_a_year_is_the_base_of_the_change(facts):
    # the year nearest the 21.0% is 2023, but it is the base: the change is 2024's
    assert_clean("FY2024 revenue of $1,210.0m was 21.0% higher than in FY2023.", facts)
    assert [t for t, _ in flags("FY2024 revenue of $1,210.0m was 25.0% higher than in FY2023.", facts)] == ["25.0%"]


def test_a_year_followed_by_when_is_the_year_of_that_clause(facts):
    assert_clean("In 2024 net income was $135.0m, compared with 2023, when revenue reached $1,000.0m.", facts)
    assert flags("In 2024 net income was $135.0m, compared with 2023, when revenue reached $1,210.0m.", facts) == [
        ("$1,210.0m", "revenue.2023")]


# -- "from X to Y" in a clause that names no year: X is about the start year named earlier in the sentence

def test_from_a_to_b_follows_the_start_year_named_earlier(facts):
    assert_clean("Net income went from $88.0m in 2022 to $135.0m in 2024, with the net margin moving from 11.0% "
                 "to 11.2%.", facts)
    assert_clean("Net debt has grown every year since 2022, while net debt/EBITDA eased from 0.9x to 0.8x.", facts)
    assert flags("Net income went from $88.0m in 2022 to $135.0m in 2024, with the net margin moving from 10.8% "
                 "to 11.2%.", facts) == [("10.8%", "net_margin.2022")]


# -- "after X in 2023" names a comparison's year, which does not carry into the next clause

def test_a_year_after_after_does_not_carry_over(facts):
    assert_clean("The operating margin rose 1.5pp in 2024 after 0.0pp in 2023, and the net margin reached 11.2%.",
                 facts)
    assert flags("The operating margin rose 1.5pp in 2024 after 0.0pp in 2023, and the net margin reached 10.8%.",
                 facts) == [("10.8%", "net_margin.2024")]


# -- "compounded", "CAGR", "a year on average" over a span name the compound growth rate

def test_compounded_names_the_cagr(facts):
    assert_clean("Over 2022-2024 revenue compounded at 23.0% a year.", facts)
    assert flags("Over 2022\u20132024 revenue compounded at 21.0%.", facts) == [("21.0%", "revenue_cagr.2022_2024")]


# -- two metrics in one clause: a number compared with another names the counterpart metric

def test_a_peer_qualifier_after_the_number_narrows_the_metric(with_peers):
    assert_clean("The shares trade at 7.0x EV/EBITDA against 8.6x for peers.", with_peers)
    assert [t for t, _ in flags("The shares trade at 7.0x EV/EBITDA against 15.0x for peers.", with_peers)] == [
        "15.0x"]


def test_a_number_compared_with_a_peer_median_is_the_company_s_own(with_peers):
    assert_clean("The peer median P/E of 15.0x compares with its own 12.0x.", with_peers)
    assert [t for t, _ in flags("The peer median P/E of 15.0x compares with its own 13.0x.", with_peers)] == [
        "13.0x"]


# -- "(2023: $200.0m)" holds its year inside the parenthesis; "a year later" names the next year; a change after
#    a comparison's year ("$1.21bn in 2024 vs $1.00bn in 2023 (+21.0%)") is about the later year

def test_a_year_parenthesis_keeps_its_year(facts):
    assert_clean("EBITDA of $260.0m (2023: $200.0m) lifted the EBITDA margin to 21.5%.", facts)
    assert flags("EBITDA of $260.0m (2023: $200.0m) lifted the EBITDA margin to 20.0%.", facts) == [
        ("20.0%", "ebitda_margin.2024")]


def test_a_year_later_is_the_next_year(facts):
    assert_clean("In 2022 revenue was $800.0m; a year later it reached $1,000.0m.", facts)
    assert flags("In 2022 revenue was $800.0m; a year later it reached $1,210.0m.", facts) == [
        ("$1,210.0m", "revenue.2023")]


def test_a_change_after_a_comparison_is_about_the_later_year(facts):
    assert_clean("Revenue: $1.21bn in 2024 vs $1.00bn in 2023 (+21.0%).", facts)
    assert [t for t, _ in flags("Revenue: $1.21bn in 2024 vs $1.00bn in 2023 (+25.0%).", facts)] == ["+25.0%"]


# -- the start year of a comparison ("since 2022", "from $88.0m in 2022") is the year of the number it names only;
#    a year bound to a number by a preposition is its year, nearer years notwithstanding; "higher than planned
#    in 2023" is no comparison (that names a number: "from $88.0m in 2022")

def test_a_start_year_is_not_the_year_of_the_other_numbers(facts):
    assert_clean("Revenue has compounded at 23.0% since 2022, to $1,210.0m last year (2024).", facts)
    assert flags("Revenue has compounded at 23.0% since 2022, to $800.0m last year (2024).", facts) == [
        ("$800.0m", "revenue.2024")]


def test_a_year_after_in_binds_to_its_number(facts):
    assert_clean("Capital expenditure was $70.0m in 2024 ($60.0m in 2023).", facts)
    assert flags("Capital expenditure was $70.0m in 2024 ($50.0m in 2023).", facts) == [
        ("$50.0m", "capital_expenditure.2023")]


def test_more_than_doubled_names_no_comparison(facts):
    assert_clean("EBITDA came in higher than planned in 2023, rising 25.0% to $200.0m, and grew a further 30.0% in "
                 "2024.", facts)


def test_the_multiple_an_implied_value_is_based_on(with_peers):
    # peer-implied values per share: on the peer median P/E and on the peer median EV/EBITDA
    by_pe = next(f for f in with_peers.available() if f.key == "peers.implied_value_per_share")
    by_ev = next(f for f in with_peers.available() if f.key == "peers.implied_value_per_share_ev_ebitda")
    assert_clean(f"Peers imply ${by_pe.value:.2f} (P/E) and ${by_ev.value:.2f} (EV/EBITDA) per share.", with_peers)
    wrong = by_pe.value + 3
    assert flags(f"Peers imply ${by_pe.value:.2f} (P/E) and ${wrong:.2f} (EV/EBITDA) per share.", with_peers) == [
        (f"${wrong:.2f}", "peers.implied_value_per_share_ev_ebitda")]


# -- "has since" names the years after the one named; a change whose clause closes with a year is that year's

def test_has_since_names_a_later_year(facts):
    assert_clean("Net debt stood at $150.0m in 2022 and has since risen to $200.0m.", facts)
    # 150.0m is 2022's, not a later year's
    assert [t for t, _ in flags("Net debt stood at $150.0m in 2022 and has since risen to $150.0m.", facts)] == [
        "$150.0m"]


def test_a_change_takes_the_year_closing_its_clause(facts):
    assert_clean("Net income rose 25.0% to $135.0m in 2024.", facts)
    # 22.7% is 2023's growth
    assert [t for t, _ in flags("Net income rose 22.7% to $135.0m in 2024.", facts)] == ["22.7%"]
    assert [t for t, _ in flags("The operating margin rose by 0.0pp to 16.5% in 2024.", facts)] == ["0.0pp"]


# -- "X% above / under the $36.00 share price" is the DCF upside (or downside), with its sign

def test_a_percentage_against_the_share_price_is_the_upside(facts):
    assert_clean("Our DCF value of $98.81 is 174.5% above the $36.00 share price.", facts)
    assert flags("Our DCF value of $98.81 is 174.5% below the $36.00 share price.", facts) == [
        ("174.5%", "dcf.upside")]
    downside = FactSet([make_fact("dcf.upside", "DCF upside to share price", -0.25, "ratio")])
    assert all(c.ok for c in check_numbers("The value is 25.0% under the current share price.", downside))
    assert not any(c.ok for c in check_numbers("The value is 25.0% above the current share price.", downside))


def test_fcf_conversion_is_cash_conversion(facts):
    assert_clean("FCF conversion was 103.7% in FY2024 (FY2023: 92.6%).", facts)


# -- "points" and "pts" after a number are percentage points: a margin change

def test_points_are_percentage_points(facts):
    assert_clean("The 2024 operating margin of 16.5% was 1.5 points higher than in 2023.", facts)
    assert flags("The 2024 operating margin of 16.5% was 2.5 pts higher than in 2023.", facts) == [
        ("2.5 pts", "operating_margin_change.2024")]


# -- "fell / rose by $50.0m" is the change of an amount from the year before

def test_an_amount_of_change_is_the_difference_from_the_year_before(facts):
    # net debt 170.0m (2023) -> 200.0m (2024); revenue 1,000.0m -> 1,210.0m
    assert_clean("Net debt rose by $30.0m in 2024, to $200.0m, as revenue grew by about $210m.", facts)
    assert_clean("Net income was $135.0m in 2024, up $27.0m; net debt was $170.0m in 2023, up $20.0m.", facts)
    falling = FactSet([make_fact(f"net_debt.{y}", "Net debt", v, "currency", period=y, currency="USD")
                       for y, v in ((2023, 659_900_000), (2024, 624_200_000))])
    assert all(c.ok for c in check_numbers("Net debt was $624.2m at end-2024, down $35.7m on the year.", falling))
    assert [t for t, _ in flags("Net debt rose by $50.0m in 2024, to $200.0m.", facts)] == ["$50.0m"]
    (check,) = [c for c in check_numbers("Net debt rose by $30.0m in 2024.", facts)]
    assert check.ok and check.matched_key == "net_debt_change_amount.2024"


def test_a_year_right_before_a_number_is_its_year_even_after_than(facts):
    # 16.5% in 2024; 15.0% in 2023
    assert_clean("The FY2024 operating margin of 16.5% was better than FY2023's 15.0%.", facts)
    checks = check_numbers("The FY2024 operating margin of 16.5% was better than FY2023's 16.5%.", facts)
    assert [c.ok for c in checks] == [True, False]


def test_slash_share_is_per_share(facts):
    assert_clean("In 2024 EPS was $3.00/share and the dividend $0.60/sh.", facts)
    assert [t for t, _ in flags("In 2024 EPS was $3.60/share.", facts)] == ["$3.60"]


def test_a_short_paragraph_is_checked_in_a_few_milliseconds(facts):
    text = ("FY'24 rev. $1,210.0m (+21.0% y/y), GM 40.0%, op. margin 16.5%; net income rose to $135.0m in 2024 "
            "from $108.0m in 2023, and free cash flow was 11.6% of sales and 103.7% of net income.")
    check_numbers(text, facts)
    t0 = time.perf_counter()
    for _ in range(20):
        check_numbers(text, facts)
    assert (time.perf_counter() - t0) / 20 < 0.025  # a few ms on a quiet machine; room for a busy one
