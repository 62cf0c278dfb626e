"""The closed sets a model draft's codes and medications are generated from: the schemas' token masks (real
xgrammar on the real SmolLM2 tokenizer) admit exactly the retrieved billable codes and the knowledge base's
drugs, routes, units and dose ranges; parsing the answers; retrieval of codes for an encounter."""
from __future__ import annotations

import json

import pytest

from apps.medical.closed_sets import (
    FREQUENCIES,
    codes_schema,
    icd_candidates,
    medication_order,
    medications_schema,
)
from apps.medical.knowledge import default_knowledge
from apps.medical.services import parse_codes_output
from apps.medical.verification.codes import _icd


def accepts(grammar_accepts, schema: dict, value: dict) -> bool:
    return grammar_accepts(json.dumps(value, separators=(", ", ": ")), json_schema=schema)


@pytest.mark.parametrize("assessment,complaint,expected", [
    ("Non-ST elevation myocardial infarction (NSTEMI)", "central chest pain radiating to left arm", "I21.4"),
    ("Suspected acute appendicitis", "right lower quadrant abdominal pain and vomiting", "K35.80"),
    ("Migraine without aura", "headache", "G43.009"),
    ("Sprain of ankle", "twisted ankle playing football", "S93.409A"),
])
def test_candidates_hold_the_code_of_the_assessment(assessment, complaint, expected):
    codes = [e.code for e in icd_candidates(assessment, complaint)]
    assert expected in codes
    assert len(codes) <= 50
    icd = _icd()
    assert all(icd.is_leaf(c) for c in codes)  # billable only
    assert not any(c.endswith(("D", "S")) and len(c.replace(".", "")) == 7 for c in codes)  # no later encounters


def test_candidates_read_abbreviations_and_not_negated_findings():
    codes = {e.code for e in icd_candidates("CAP", "SOB, cough")}
    assert "R06.02" in codes  # SOB -> shortness of breath
    assert "R06.02" not in {e.code for e in icd_candidates("Viral URTI", "cough, denies SOB")}
    assert icd_candidates("", "") == []


def test_codes_schema_admits_only_the_candidates(grammar_accepts):
    candidates = icd_candidates("Migraine without aura", "headache")
    schema = codes_schema(candidates)
    assert accepts(grammar_accepts, schema, {"icd_codes": [{"code": candidates[0].code}]})
    assert accepts(grammar_accepts, schema, {"icd_codes": []})
    for code in ("I10", "A1259", "G43", "G43.00"):  # real but not retrieved, invented, not billable
        assert not accepts(grammar_accepts, schema, {"icd_codes": [{"code": code}]}), code
    assert not accepts(grammar_accepts, schema, {"icd_codes": [{"code": candidates[0].code, "description": "x"}]})
    assert not accepts(grammar_accepts, codes_schema([]), {"icd_codes": [{"code": "G43.009"}]})


def test_medications_schema_admits_only_known_drugs_in_range(grammar_accepts):
    schema = medications_schema()
    ok = {"name": "aspirin", "dose": 300, "unit": "mg", "route": "oral", "frequency": "once daily"}
    assert accepts(grammar_accepts, schema, {"medications": [ok]})
    for bad in (
        {**ok, "name": "Vital signs"},  # not a drug
        {**ok, "name": "Aspirin"},  # names are the knowledge base's generics
        {**ok, "dose": 3000},  # above the usual single dose
        {**ok, "route": "iv"},  # aspirin has no IV dose entry
        {**ok, "unit": "units"},
        {**ok, "frequency": "whenever"},
        {**ok, "name": "ramipril", "dose": 100},
    ):
        assert not accepts(grammar_accepts, schema, {"medications": [bad]}), bad
    heparin = {"name": "heparin", "dose": 5000, "unit": "units", "route": "sc", "frequency": "every 12 hours"}
    assert accepts(grammar_accepts, schema, {"medications": [heparin]})


def test_medication_branches_follow_the_knowledge_base():
    kb = default_knowledge()
    branches = medications_schema(kb)["properties"]["medications"]["items"]["anyOf"]
    singles = [d for d in kb.drugs.values() if not d.is_combination]
    assert len(branches) == sum(len(d.doses) for d in singles)
    for branch in branches:
        p = branch["properties"]
        drug = kb.drugs[p["name"]["const"]]
        assert any((p["dose"]["minimum"], p["dose"]["maximum"]) == tuple(limit.single)
                   and p["route"]["enum"] == list(limit.routes) for limit in drug.doses)
        assert p["unit"]["const"] == drug.unit
        assert set(p["frequency"]["enum"]) <= set(FREQUENCIES)


def test_answers_are_parsed_with_the_table_description_and_the_unit():
    codes, meds, note = parse_codes_output(
        '{"icd_codes": [{"code": "G43.009"}]}',
        '{"medications": [{"name": "heparin", "dose": 5000, "unit": "units", "route": "sc", '
        '"frequency": "every 12 hours"}, {"name": "aspirin", "dose": 300, "unit": "mg", "route": "oral", '
        '"frequency": "once daily"}]}')
    assert note == ""
    assert codes == [{"code": "G43.009",
                      "description": "Migraine without aura, not intractable, without status migrainosus"}]
    assert meds[0] == {"name": "heparin", "dose_mg": None, "dose_text": "5000 units", "route": "sc",
                       "frequency": "every 12 hours", "times_per_day": 2}
    assert meds[1]["dose_mg"] == 300.0 and meds[1]["times_per_day"] == 1


def test_unclosed_answers_give_nothing_and_say_which():
    codes, meds, note = parse_codes_output('{"icd_codes": [{"code": "G43.0', '{"medications": []}')
    assert (codes, meds) == ([], []) and note == "the ICD codes were not a complete JSON object"
    codes, meds, note = parse_codes_output('{"icd_codes": []}', '{"medications": [{"name": "asp')
    assert note == "the medications were not a complete JSON object"
    assert medication_order({"name": "aspirin", "dose": float("nan"), "unit": "mg", "route": "oral",
                             "frequency": "once daily"}) is None
