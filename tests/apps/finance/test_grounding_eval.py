"""The grounding evaluation harness: sets are validated with the line and key named, a planted error is caught
when a flag overlaps its number, other flags are counted as false (correct paragraphs) or spurious."""
from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from apps.finance.grounding_eval import demo_facts, evaluate, load_set

NORTHWIND = "Northwind Instruments (Fictional)"


def _write(tmp_path, rows):
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_demo_facts_are_the_platforms():
    facts = demo_facts()
    assert sorted(facts) == ["Bluecrest Tools (Fictional)", NORTHWIND, "Redfield Devices (Fictional)"]
    assert facts[NORTHWIND].get("revenue.2024").display == "1,178.6m"
    assert facts[NORTHWIND].get("peers.median_pe").display == "23.7x"
    assert facts[NORTHWIND].get("dcf.value_per_share").display == "18.79"


@pytest.mark.parametrize(("line", "message"), [
    ("not json", r"bad.jsonl:1: not JSON"),
    (json.dumps({"id": "a", "company": NORTHWIND, "text": "x"}), "missing key 'errors'"),
    (json.dumps({"id": "a", "company": NORTHWIND, "text": "x", "errors": [{"number": "9%"}]}),
     "error number '9%' is not in the text"),
])
def test_a_malformed_set_names_the_line_and_key(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_set(path)


def test_caught_missed_false_and_spurious_flags(tmp_path):
    rows = [
        # correct, but 14.0% is no fact: a false flag
        {"id": "c1", "company": NORTHWIND, "text": "Revenue was $1,178.6m in 2024 and margin 14.0%.", "errors": []},
        {"id": "c2", "company": NORTHWIND, "text": "Net income was $153.6m in 2024.", "errors": []},
        # a number of no metric: unattributed ("could not check"), no flag, and it lowers the coverage
        {"id": "c3", "company": NORTHWIND, "text": "The order book stood at $523.0m.", "errors": []},
        # 1,071.5m is 2023's revenue: caught; a gross margin of 41.3% is no fact: spurious; an order book is no
        # metric: unattributed
        {"id": "e1", "company": NORTHWIND, "perturbation": "none",
         "text": "Revenue was $1,071.5m in 2024, and gross margin was 41.3%. The order book was $611.0m.",
         "errors": [{"number": "$1,071.5m", "kind": "wrong_year", "expected": "revenue.2024"}]},
        # planted as wrong but true: missed
        {"id": "e2", "company": NORTHWIND, "text": "Gross margin was 46.0% in 2024.",
         "errors": [{"number": "46.0%", "kind": "wrong_value", "expected": "x"}]},
    ]
    report = evaluate(load_set(_write(tmp_path, rows)))
    data = report.to_dict()
    assert data["planted_caught"]["k"] == 1 and data["planted_caught"]["n"] == 2
    assert data["per_kind"]["wrong_year"]["k"] == 1 and data["per_kind"]["wrong_value"]["k"] == 0
    assert data["false_flags"]["count"] == 1 and data["false_flags"]["paragraphs"]["k"] == 1
    assert data["false_flags"]["paragraphs"]["n"] == 3
    assert data["unattributed"] == {"correct_paragraphs": 1, "error_paragraphs": 1}
    assert data["unattributed_numbers"] == [{"id": "c3", "correct": True, "text": "$523.0m"},
                                           {"id": "e1", "correct": False, "text": "$611.0m"}]
    assert (data["coverage_correct_paragraphs"]["k"], data["coverage_correct_paragraphs"]["n"]) == (3, 4)
    assert data["spurious_flags_in_error_paragraphs"]["count"] == 1
    assert data["misses"] == [{"id": "e2", "number": "46.0%"}]
    assert data["per_perturbation"]["none"]["caught"]["k"] == 1
    lo, hi = data["planted_caught"]["ci95"]
    assert 0 < lo < 0.5 < hi < 1


def test_command_prints_and_writes_json(tmp_path, capsys):
    rows = [{"id": "e1", "company": NORTHWIND, "text": "Revenue was $1,071.5m in 2024.",
             "errors": [{"number": "$1,071.5m", "kind": "wrong_year", "expected": "revenue.2024"}]}]
    out = tmp_path / "out.json"
    call_command("grounding_eval", "--set", str(_write(tmp_path, rows)), "--json", str(out), "--perturb")
    printed = capsys.readouterr().out
    assert "planted errors caught: 1/1" in printed and "coverage" in printed
    data = json.loads(out.read_text())
    assert data["planted_caught"]["k"] == 1
    # the abbreviation of "Revenue" still catches the planted year
    assert data["perturbations"]["abbreviate"]["planted_caught"]["k"] == 1
    assert "abbreviate" in printed
    unknown = [{"id": "u", "company": "Nobody Inc", "text": "x", "errors": []}]
    with pytest.raises(CommandError, match="unknown company 'Nobody Inc'"):
        call_command("grounding_eval", "--set", str(_write(tmp_path, unknown)))
