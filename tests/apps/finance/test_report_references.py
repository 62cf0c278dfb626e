"""Fact references: a grounded section's grammar (real xgrammar on the real SmolLM2 tokenizer) admits prose
with `{{key}}` references to the section's facts and fiscal years only — no digit, "%" or currency sign can be
written — and rendering puts in each fact's display value, which grounding then matches."""
from __future__ import annotations

import pytest

from apps.finance.analytics import DcfInputs, FinancialPeriod, compute_facts
from apps.finance.grounding import check_numbers
from apps.finance.reports.prompts import SECTIONS, section_prompt, section_reference_keys
from apps.finance.reports.references import TEXT_CHARS, reference_grammar, render
from tests.apps.finance.test_reports_factories import STATEMENTS


@pytest.fixture(scope="module")
def facts():
    periods = [FinancialPeriod(fiscal_year=y, currency="USD", values=v) for y, v in STATEMENTS.items()]
    return compute_facts(periods, price_per_share=25.0, dcf=DcfInputs(wacc=0.09, terminal_growth=0.025))


def test_the_grammar_admits_references_and_refuses_free_figures(grammar_accepts, facts):
    keys = section_reference_keys("financial_analysis", facts)
    assert "gross_margin.2024" in keys and "FY2024" in keys and "revenue.2024" not in keys  # not in its prompt
    grammar = reference_grammar(keys)
    assert grammar_accepts(grammar=grammar, text="Gross margin reached {{gross_margin.2024}} in {{FY2024}}, up from "
                                      "{{gross_margin.2023}}; leverage stayed modest.")
    for bad in ("Gross margin reached 40.0% in FY2024.", "Margins were {{revenue.2024}}.", "It grew 5%.",
                "Value is $30.", "Gross margin {{gross_margin.2024}}%", "A {{made_up}} figure.",
                "Twenty-four is fine but 24 is not."):
        assert not grammar_accepts(bad, grammar=grammar), bad


def test_the_grammar_is_the_language_of_pieces(grammar_accepts, facts):
    """The grammar (text runs between references) admits exactly what one character-or-reference per piece
    did; the run form only makes masks cheap to compute."""
    keys = section_reference_keys("financial_analysis", facts)
    pieces = ("root ::= piece+\npiece ::= text | reference\ntext ::= " + TEXT_CHARS
              + '\nreference ::= "{{" key "}}"\nkey ::= ' + " | ".join(f'"{k}"' for k in keys) + "\n")
    for text in ("{{FY2024}}", "{{FY2024}}{{gross_margin.2024}} then text", "Text only.", "a{{FY2024}}b", "x",
                 "{{FY2024}} ", " {{gross_margin.2024}}{{FY2024}}", "Up {{FY20}}", "{{gross_margin.2024}", "{}",
                 "Margin 4", "{{{{FY2024}}}}"):
        assert grammar_accepts(text, grammar=reference_grammar(keys)) == grammar_accepts(text, grammar=pieces), text


def test_rendering_puts_in_display_values_that_grounding_matches(facts):
    text = "Gross margin reached {{gross_margin.2024}} in {{FY2024}} and ROE {{roe.2024}}."
    rendered = render(text, facts)
    gm, roe = facts.get("gross_margin.2024").display, facts.get("roe.2024").display
    assert rendered == f"Gross margin reached {gm} in FY2024 and ROE {roe}."
    assert all(c.ok for c in check_numbers(rendered, facts))
    assert render("Unknown {{nope.2024}} stays.", facts) == "Unknown {{nope.2024}} stays."
    assert render("Margin {{gross_mar", facts, partial=True) == "Margin "
    assert render("Margin {{gross_margin.2024}} and {{FY20", facts, partial=True) == f"Margin {gm} and "


def test_prompts_list_each_fact_with_its_reference(facts):
    for spec in SECTIONS:
        if not spec.generated:
            continue
        system, _task = section_prompt(spec.kind, company_name="Acme", currency="USD", facts=facts)
        if spec.grounded:
            assert "-> write {{" in system and "never write digits" in system
            for key in section_reference_keys(spec.kind, facts):
                assert key.startswith("FY") or f"{{{{{key}}}}}" in system
        else:
            assert "{{" not in system  # the rating's JSON names its target as a number, checked after


def test_a_section_cut_off_inside_a_reference_stores_no_raw_reference(facts):
    from types import SimpleNamespace

    from apps.finance.reports.runner import section_prose

    cut = SimpleNamespace(text="Margins held. The balance sheet is sound, with a net margin of {{net_margin.",
                          finish_reason="length")
    assert section_prose(cut, facts) == "Margins held."
    done = SimpleNamespace(text="ROE was {{roe.2024}}.", finish_reason="stop")
    assert section_prose(done, facts) == f"ROE was {facts.get('roe.2024').display}."
