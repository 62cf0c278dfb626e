"""The drug knowledge files load, are sourced, and a bad entry is named."""
from __future__ import annotations

import json

import pytest

from apps.medical.knowledge import KnowledgeError, default_knowledge, load_knowledge
from apps.medical.knowledge.loader import DRUGS_PATH, INTERACTIONS_PATH


def test_shipped_knowledge_is_valid_and_sourced():
    k = default_knowledge()
    assert len(k.drugs) >= 30
    assert len(k.interactions) >= 20
    assert all(d.source and d.single_dose_mg[0] <= d.single_dose_mg[1] for d in k.drugs.values())
    assert all(i.source and i.reason for i in k.interactions)
    para = k.find_drug("Acetaminophen")
    assert para.name == "paracetamol" and para.max_daily_mg == 4000 and para.single_dose_mg == (500, 1000)


def test_mentions_find_drugs_aliases_and_class_terms_with_spans():
    k = default_knowledge()
    text = "Allergies: Penicillin (rash), sulfa drugs, Tylenol"
    found = [(m.kind, m.key, text[m.start:m.end]) for m in k.mentions(text)]
    assert found == [("class", "penicillin", "Penicillin"), ("class", "sulfonamide_antibiotic", "sulfa drugs"),
                     ("drug", "paracetamol", "Tylenol")]
    assert k.find_drug("warfarin 5 mg daily").name == "warfarin"
    assert k.find_drug("unobtainium") is None


def test_interactions_match_drugs_and_classes_both_ways():
    k = default_knowledge()
    warfarin, ibuprofen = k.find_drug("warfarin"), k.find_drug("ibuprofen")
    assert [i.severity for i in k.interactions_between(ibuprofen, warfarin)] == ["error"]
    assert k.interactions_between(k.find_drug("paracetamol"), warfarin) == []
    apixaban = k.find_drug("apixaban")
    assert any("two anticoagulants" in i.reason for i in k.interactions_between(warfarin, apixaban))
    assert k.interactions_between(warfarin, warfarin) == []


def _write(tmp_path, mutate_drugs=None, mutate_interactions=None):
    drugs = json.loads(DRUGS_PATH.read_text())
    inter = json.loads(INTERACTIONS_PATH.read_text())
    if mutate_drugs:
        mutate_drugs(drugs)
    if mutate_interactions:
        mutate_interactions(inter)
    (tmp_path / "drugs.json").write_text(json.dumps(drugs))
    (tmp_path / "interactions.json").write_text(json.dumps(inter))
    return tmp_path / "drugs.json", tmp_path / "interactions.json"


def _set(index, key, value):
    def mutate(data):
        data["drugs"][index][key] = value
    return mutate


@pytest.mark.parametrize("mutate, message", [
    (_set(1, "single_dose_mg", [800, 200]), r"drugs\[1\] \('ibuprofen'\): 'single_dose_mg'"),
    (_set(1, "max_daily_mg", 100), r"drugs\[1\] \('ibuprofen'\): 'max_daily_mg'"),
    (_set(2, "class", "nsaids"), r"drugs\[2\] \('naproxen'\): 'class' 'nsaids' is not defined"),
    (_set(3, "aliases", ["advil"]), r"drugs\[3\] \('ketorolac'\): name or alias 'advil' is already used by 'ibuprofen'"),
    (_set(0, "source", ""), r"drugs\[0\] \('paracetamol'\): 'source'"),
])
def test_bad_drug_entry_is_named(tmp_path, mutate, message):
    paths = _write(tmp_path, mutate_drugs=mutate)
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge(*paths)


def test_bad_interaction_entry_is_named(tmp_path):
    def mutate(data):
        data["interactions"][2]["b"] = "class:nsiad"
    paths = _write(tmp_path, mutate_interactions=mutate)
    with pytest.raises(KnowledgeError, match=r"interactions.json: interactions\[2\] .*'class:nsiad'"):
        load_knowledge(*paths)
    (tmp_path / "interactions.json").write_text("{not json")
    with pytest.raises(KnowledgeError, match="not valid JSON"):
        load_knowledge(*paths)
