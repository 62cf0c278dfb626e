"""Grounding as confident contradiction: a number is flagged only when its own clause attributes it to a metric (and,
for a value of another year, a year) with confidence; a number the checker cannot attribute is "unattributed"
("could not check"), never a flag. One test per root cause of the false flags and misses on prose written in
styles the checker had not seen (data/finance/grounding/README.md), each written as a general construction on
Roundco (tests/apps/finance/finance_examples.py), not as the eval paragraphs' text.

Roundco: revenue 800.0m / 1,000.0m / 1,210.0m (2022-2024), net income 88.0m / 108.0m / 135.0m, operating cash
flow 130.0m / 160.0m / 210.0m, capex 50.0m / 60.0m / 70.0m, EBITDA 160.0m / 200.0m / 260.0m, operating margin
15.0% / 15.0% / 16.5% (change 0.0pp / +1.5pp), cash conversion 90.9% / 92.6% / 103.7%, interest cover 12.0x /
10.0x / 10.0x, revenue growth 25.0% / 21.0%, revenue CAGR 2022-2024 23.0%, EV/EBITDA 7.0x.
"""
from __future__ import annotations

import pytest

from apps.finance.analytics import DcfInputs, compute_facts
from apps.finance.grounding import FLAGGED, MATCHED, UNATTRIBUTED, check_numbers
from apps.finance.grounding_perturb import KINDS, perturb_row, perturbed_set
from tests.apps.finance.finance_examples import roundco


@pytest.fixture(scope="module")
def facts():
    return compute_facts(roundco(), price_per_share=36.0, dcf=DcfInputs())


def statuses(text, facts):
    return [(c.text, c.status, c.kind) for c in check_numbers(text, facts)]


def flagged(text, facts):
    return [(c.text, c.kind) for c in check_numbers(text, facts) if c.flagged]


def assert_clean(text, facts):
    checks = check_numbers(text, facts)
    assert checks and all(c.status == MATCHED for c in checks), [(c.text, c.status) for c in checks]


# -- the statuses and kinds: a flag names why the number contradicts the fact its clause attributes it to


def test_a_flag_is_a_contradiction_of_the_attributed_fact_with_its_kind(facts):
    assert flagged("Revenue was $1,000.0m in 2024.", facts) == [("$1,000.0m", "wrong_year")]
    assert flagged("Revenue was $1,210.0bn in 2024.", facts) == [("$1,210.0bn", "wrong_scale")]
    assert flagged("EBITDA was $200.0m in 2024.", facts) == [("$200.0m", "wrong_year")]
    assert flagged("EBITDA was $210.0m in 2024.", facts) == [("$210.0m", "wrong_metric")]  # operating cash flow
    assert flagged("Interest cover was 10.0% in 2024.", facts) == [("10.0%", "wrong_unit")]
    assert flagged("Revenue was $1,111.0m in 2024.", facts) == [("$1,111.0m", "wrong_value")]
    # free cash flow was 11.6% of sales and 103.7% of net income in 2024: the bases swapped
    assert flagged("In 2024 free cash flow was 103.7% of sales.", facts) == [("103.7%", "wrong_ratio_base")]
    wrong = check_numbers("Revenue was $1,000.0m in 2024.", facts)[0]
    assert wrong.expected.key == "revenue.2024" and not wrong.ok and wrong.status == FLAGGED


def test_a_number_of_no_metric_is_unattributed_not_a_flag(facts):
    # no metric named in the sentence: the checker cannot tell which fact it is about
    assert statuses("The order book stood at $523.0m.", facts) == [("$523.0m", UNATTRIBUTED, None)]
    # a value of another year whose year is not certain (the sentence names two): could not check
    checks = check_numbers("In 2023 and 2024 the company grew; revenue was $800.0m.", facts)
    assert [c.status for c in checks] == [UNATTRIBUTED]


# -- years: lists, short spans, "N years earlier", a year in another parenthesis or bound to another number


def test_a_list_of_years_matches_a_list_of_values(facts):
    assert_clean("FY22/FY23/FY24 revenue of $800.0m/$1,000.0m/$1,210.0m.", facts)
    assert_clean("FY2022/23/24 EBITDA of $160m/$200m/$260m.", facts)
    assert_clean("EBITDA, 2022\u201324: $160.0m, $200.0m, $260.0m.", facts)
    assert flagged("EBITDA, 2022-24: $160.0m, $205.0m, $260.0m.", facts) == [("$205.0m", "wrong_value")]


def test_n_years_earlier_names_the_year_n_before(facts):
    assert_clean("Net income reached $135.0m in 2024, against $88.0m two years earlier.", facts)
    assert flagged("Net income reached $135.0m in 2024, against $108.0m two years earlier.", facts) == [
        ("$108.0m", "wrong_year")]


def test_a_year_in_a_parenthesis_is_of_the_numbers_in_it(facts):
    assert_clean("Op. margin 16.5% (FY'23 15.0%); EBITDA $260.0m.", facts)


def test_a_year_bound_to_an_earlier_number_is_not_the_next_ones(facts):
    assert_clean("Operating margin was flat in 2023 and widened by 1.5pp again in 2024.", facts)
    assert_clean("It grew by 25.0% in 2023 and by 21.0% again in 2024, revenue growth slowing.", facts)


def test_a_move_over_a_span_starts_in_its_first_year_and_ends_in_its_last(facts):
    assert_clean("Between 2022 and 2024 revenue rose from $800.0m to $1,210.0m.", facts)
    assert flagged("Between 2022 and 2024 revenue rose from $1,000.0m to $1,210.0m.", facts) == [
        ("$1,000.0m", "wrong_year")]


# -- metrics: glosses, names bound to another number, generic words, variants, elided subjects


def test_a_parenthesis_without_numbers_glosses_the_name_before_it(facts):
    assert_clean("Cash conversion (free cash flow as a share of net income) rose from 90.9% in 2022 to 103.7% "
                 "in 2024.", facts)


def test_a_name_bound_after_one_number_is_not_the_next_numbers(facts):
    assert_clean("In 2024 the company generated $210.0m of operating cash flow and spent $70.0m on capex.", facts)
    assert flagged("In 2024 the company generated $210.0m of operating cash flow and spent $75.0m on capex.",
                   facts) == [("$75.0m", "wrong_value")]


def test_a_generic_word_after_a_named_subject_does_not_attribute(facts):
    # "a profit of" is the operating income named as the subject, not net income
    checks = check_numbers("Operating income moved from $150.0m in 2023 to a profit of $200.0m in 2024.", facts)
    assert not any(c.flagged for c in checks)


def test_an_elided_subject_is_the_clause_before(facts):
    assert_clean("Cash conversion was 103.7% in 2024, up from 92.6% in 2023.", facts)
    assert flagged("Cash conversion was 103.7% in 2024, up from 90.9% in 2023.", facts) == [("90.9%", "wrong_year")]
    assert_clean("Operating margin was 16.5% in 2024 (2023: 15.0%).", facts)
    assert [t for t, _ in flagged("Operating margin was 16.5% in 2024 (2023: 16.0%).", facts)] == ["16.0%"]
    assert flagged("EBITDA rose to $200.0m in 2023 and grew a further 30.0% in 2024 to $260.0bn.", facts) == [
        ("$260.0bn", "wrong_scale")]
    assert flagged("Operating margin was 15.0% in 2023 and 16.5% in 2024; it rose 2.5pp.", facts) == [
        ("2.5pp", "wrong_value")]


def test_a_growth_of_one_year_is_not_a_cagr_unless_a_span_is_named(facts):
    # 23.0% is the 2022-2024 CAGR (another metric), not the 2024 growth (21.0%)
    assert flagged("Revenue +23.0% y/y in FY'24.", facts) == [("+23.0%", "wrong_metric")]
    assert_clean("Revenue grew 23.0% a year between 2022 and 2024.", facts)


def test_a_qualifier_between_a_number_and_its_metric(facts):
    assert_clean("The shares trade on 12.0x trailing earnings.", facts)
    assert flagged("The shares trade on 7.0x trailing earnings.", facts) == [("7.0x", "wrong_metric")]


# -- how numbers are written


def test_spaces_as_thousands_separators(facts):
    assert_clean("Revenue reached $1 210.0m in 2024.", facts)
    assert_clean("Revenue reached 1\u2009210.0m in 2024.", facts)
    assert flagged("Revenue reached $1 110.0m in 2024.", facts) == [("$1 110.0m", "wrong_value")]


def test_misspelt_scale_and_comparison_words(facts):
    assert_clean("Revenue was 1.21 billiion in 2024, whreas net income was $135.0m.", facts)


# -- perturbations for the robustness measure


def test_perturbations_keep_the_planted_numbers_and_are_deterministic():
    row = {"id": "x", "company": "c", "errors": [{"number": "$1,210.0m", "kind": "wrong_year"}],
           "text": "Operating margin was 16.5% in FY2024 and revenue reached $1,210.0m, up 21.0% year on year."}
    for kind in KINDS:
        out = perturb_row(row, kind, seed=3)
        if out is None:
            continue
        assert out == perturb_row(row, kind, seed=3), kind
        assert all(e["number"] in out["text"] for e in out["errors"]), kind
    abbreviated = perturb_row(row, "abbreviate", seed=0)["text"]
    assert abbreviated.startswith("Op. margin") and "FY'24" in abbreviated and "y/y" in abbreviated
    spaced = perturb_row(row, "spacing", seed=0)
    assert spaced["errors"][0]["number"] != "$1,210.0m"  # the planted number is rewritten with the text
    assert [r["id"] for r in perturbed_set([row], "dashes")] == []  # nothing to change: left out
    with pytest.raises(ValueError, match="unknown perturbation"):
        perturb_row(row, "shout", seed=0)
