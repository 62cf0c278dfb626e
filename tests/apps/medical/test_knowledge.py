"""The drug knowledge files load, cover an ED formulary, are sourced, and a bad entry is named."""
from __future__ import annotations

import json

import pytest

from apps.medical.knowledge import ROUTES, KnowledgeError, default_knowledge, load_knowledge
from apps.medical.knowledge.loader import DRUGS_PATH, INTERACTIONS_PATH


def test_shipped_knowledge_is_valid_sourced_and_large_enough():
    k = default_knowledge()
    assert len(k.single_drugs) >= 150
    assert len(k.combinations) >= 10
    assert len(k.interactions) >= 100
    assert all(d.source.strip() for d in k.drugs.values())
    assert all(i.source and i.reason for i in k.interactions)
    for d in k.single_drugs:
        assert d.doses and set(d.routes) <= set(ROUTES)
        for limit in d.doses:
            assert 0 < limit.single[0] <= limit.single[1]
    para = k.find_drug("Acetaminophen")
    assert para.name == "paracetamol" and para.max_daily_mg == 4000 and para.single_dose_mg == (500, 1000)
    assert set(para.routes) == {"oral", "iv", "pr"}


@pytest.mark.parametrize("written, name", [
    ("Tylenol", "paracetamol"), ("Panadol", "paracetamol"), ("Advil", "ibuprofen"), ("Motrin", "ibuprofen"),
    ("Coumadin", "warfarin"), ("Eliquis", "apixaban"), ("Xarelto", "rivaroxaban"), ("Zoloft", "sertraline"),
    ("Prozac", "fluoxetine"), ("Lasix", "furosemide"), ("Zofran", "ondansetron"), ("Keppra", "levetiracetam"),
    ("Ativan", "lorazepam"), ("Valium", "diazepam"), ("Haldol", "haloperidol"), ("Norvasc", "amlodipine"),
    ("Lipitor", "atorvastatin"), ("Zocor", "simvastatin"), ("Cipro", "ciprofloxacin"), ("Levaquin", "levofloxacin"),
    ("Flagyl", "metronidazole"), ("Keflex", "cefalexin"), ("Rocephin", "ceftriaxone"), ("Vancocin", "vancomycin"),
    ("Zyvox", "linezolid"), ("Nardil", "phenelzine"), ("Parnate", "tranylcypromine"), ("epinephrine", "adrenaline"),
    ("Zosyn", "piperacillin-tazobactam"), ("Bactrim", "co-trimoxazole"), ("Septra", "co-trimoxazole"),
    ("Septra DS", "co-trimoxazole double strength"), ("Augmentin", "co-amoxiclav"),
    ("Percocet", "oxycodone with paracetamol"), ("Norco", "hydrocodone with paracetamol"), ("Vicodin", "vicodin"),
    ("Tylenol #3", "tylenol with codeine #3"), ("co-codamol", "co-codamol"), ("St John's Wort", "st john's wort"),
    ("St. John’s wort", "st john's wort"), ("vitamin D", "colecalciferol"), ("fish oil", "fish oil"),
    ("multivitamin", "multivitamin"), ("iron", "ferrous sulfate"), ("methylene blue", "methylthioninium chloride"),
])
def test_brand_and_common_names_resolve(written, name):
    assert default_knowledge().find_drug(written).name == name


def test_combinations_are_made_of_their_components():
    k = default_knowledge()
    parts = {n: k.find_drug(n).components for n in ("Augmentin", "Septra DS", "Zosyn", "Percocet", "Norco",
                                                    "Vicodin", "co-codamol", "Tylenol #3")}
    assert parts == {
        "Augmentin": ("amoxicillin", "clavulanic acid"), "Septra DS": ("sulfamethoxazole", "trimethoprim"),
        "Zosyn": ("piperacillin", "tazobactam"), "Percocet": ("oxycodone", "paracetamol"),
        "Norco": ("hydrocodone", "paracetamol"), "Vicodin": ("hydrocodone", "paracetamol"),
        "co-codamol": ("codeine", "paracetamol"), "Tylenol #3": ("codeine", "paracetamol"),
    }
    assert k.find_drug("Septra DS").strengths == ((800.0, 160.0),)
    assert "penicillin" in k.find_drug("Zosyn").classes       # classes of the components
    # several drugs in one name: the known combination, else an ad-hoc one
    assert k.find_drug("oxycodone/acetaminophen 5/325").name == "oxycodone with paracetamol"
    assert k.find_drug("paracetamol and codeine").name == "co-codamol"
    adhoc = k.find_drug("amoxicillin + metronidazole")
    assert adhoc.components == ("amoxicillin", "metronidazole") and not adhoc.strengths


def test_classes_and_tags_group_the_drugs_that_matter():
    k = default_knowledge()
    maois = {d.name for d in k.single_drugs if "maoi" in d.classes}
    assert {"phenelzine", "tranylcypromine", "selegiline", "moclobemide"} <= maois
    serotonergic = {d.name for d in k.single_drugs if "serotonergic" in d.tags}
    assert {"sertraline", "venlafaxine", "amitriptyline", "tramadol", "fentanyl", "methadone", "pethidine",
            "dextromethorphan", "sumatriptan", "st john's wort"} <= serotonergic
    assert "weakly_serotonergic" in k.find_drug("ondansetron").tags
    assert {"amiodarone", "citalopram", "haloperidol", "clarithromycin"} <= {
        d.name for d in k.single_drugs if "qt_prolonging" in d.tags}
    assert k.find_drug("aspirin").classes == ("nsaid", "antiplatelet")      # several groups
    weekly = {d.name for d in k.single_drugs if any(x.schedule == "weekly" for x in d.doses)}
    assert {"methotrexate", "alendronic acid", "colecalciferol"} <= weekly
    assert k.find_drug("fosfomycin").doses[0].schedule == "once"


def test_mentions_find_drugs_classes_allergens_and_none_with_spans():
    k = default_knowledge()
    text = "Allergies: Penicillin (rash), sulfa drugs, Tylenol, latex, NKDA"
    found = [(m.kind, m.key, text[m.start:m.end]) for m in k.mentions(text)]
    assert found == [("class", "penicillin", "Penicillin"), ("class", "sulfonamide_antibiotic", "sulfa drugs"),
                     ("drug", "paracetamol", "Tylenol"), ("allergen", "latex", "latex"), ("nil", "nil", "NKDA")]
    assert k.find_drug("warfarin 5 mg daily").name == "warfarin"
    assert k.find_drug("unobtainium") is None


def test_no_fuzzy_matching_and_unrecognised_parts_are_reported():
    k = default_knowledge()
    assert k.find_drug("hydralazine").name == "hydralazine" and k.find_drug("hydroxyzine").name == "hydroxyzine"
    assert k.find_drug("hydroxyzyne") is None and k.find_drug("hydralazyne") is None
    assert k.find_drug("amoxicillin and hydroxyzyne") is None           # a known part does not cover the rest
    assert k.find_drug("NSAID") is None                                  # a class is not an orderable drug
    assert k.recognise("latex and hydroxyzyne").unrecognised == ("hydroxyzyne",)
    assert k.recognise("Penicillin - rash, hives").unrecognised == ()
    assert k.recognise("Penicillin (throat swelling, anaphylaxis)").unrecognised == ()


def test_interactions_match_drugs_components_classes_and_tags_both_ways():
    k = default_knowledge()
    warfarin, ibuprofen = k.find_drug("warfarin"), k.find_drug("ibuprofen")
    assert [i.severity for i in k.interactions_between(ibuprofen, warfarin)] == ["error"]
    assert k.interactions_between(k.find_drug("paracetamol"), warfarin) == []
    assert any("two anticoagulants" in i.reason for i in k.interactions_between(warfarin, k.find_drug("apixaban")))
    assert k.interactions_between(warfarin, warfarin) == []
    # a component (trimethoprim in Bactrim) and a tag (serotonergic) match
    assert {i.severity for i in k.interactions_between(k.find_drug("Bactrim"), k.find_drug("methotrexate"))} == {"error"}
    assert {i.b for i in k.interactions_between(k.find_drug("linezolid"), k.find_drug("sertraline"))} \
        >= {"tag:serotonergic"}
    assert {i.a for i in k.interactions_between(k.find_drug("phenelzine"), k.find_drug("dextromethorphan"))} \
        == {"class:maoi"}


# --- a bad entry is named -------------------------------------------------------------------------------------
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


def _dose(index, key, value, dose=0):
    def mutate(data):
        data["drugs"][index]["doses"][dose][key] = value
    return mutate


def _combo(index, key, value):
    def mutate(data):
        data["combinations"][index][key] = value
    return mutate


def _named(name, key, value):
    def mutate(data):
        entry = next(d for d in data["drugs"] if d["name"] == name)
        entry["doses"][0][key] = value
    return mutate


@pytest.mark.parametrize("mutate, message", [
    (_dose(1, "single", [800, 200]), r"drugs\[1\] \('ibuprofen'\): doses\[0\]: 'single' must be \[low, high\]"),
    (_dose(1, "max_daily", 100), r"drugs\[1\] \('ibuprofen'\): doses\[0\]: 'max_daily' must be"),
    (_dose(1, "routes", ["by mouth"]), r"drugs\[1\] \('ibuprofen'\): doses\[0\]: route 'by mouth' is not one of"),
    (_dose(1, "schedule", "monthly"), r"drugs\[1\] \('ibuprofen'\): doses\[0\]: 'schedule' must be one of"),
    (_dose(1, "max_weekly", 100), r"drugs\[1\] \('ibuprofen'\): doses\[0\]: 'max_weekly' does not belong to a 'daily'"),
    (_dose(1, "max_dialy", 100), r"drugs\[1\] \('ibuprofen'\): doses\[0\]: unknown field 'max_dialy'"),
    (_named("methotrexate", "max_weekly", None), r"\('methotrexate'\): doses\[0\]: a 'weekly' schedule needs 'max_weekly'"),
    (_set(1, "single_dose_mg", [200, 800]), r"drugs\[1\] \('ibuprofen'\): unknown field 'single_dose_mg'"),
    (_set(1, "doses", []), r"drugs\[1\] \('ibuprofen'\): 'doses' must be a non-empty list"),
    (_set(1, "unit", "grains"), r"drugs\[1\] \('ibuprofen'\): 'unit' must be one of"),
    (_set(2, "classes", ["nsaids"]), r"drugs\[2\] \('naproxen'\): class 'nsaids' is not defined"),
    (_set(2, "classes", []), r"drugs\[2\] \('naproxen'\): 'classes' must be a non-empty list"),
    (_set(2, "tags", ["serotonin"]), r"drugs\[2\] \('naproxen'\): tag 'serotonin' is not defined"),
    (_set(3, "aliases", ["advil"]), r"drugs\[3\] \('ketorolac'\): name or alias 'advil' is already used by 'ibuprofen'"),
    (_set(0, "source", ""), r"drugs\[0\] \('paracetamol'\): 'source'"),
    (_combo(0, "components", ["amoxicillin", "clavulanate"]), r"combinations\[0\] \('co-amoxiclav'\): component 'clavulanate'"),
    (_combo(0, "strengths", [[500]]), r"combinations\[0\] \('co-amoxiclav'\): 'strengths' must hold"),
    (_combo(0, "strengths", [{"mg": [500, 125], "routes": ["im"]}]), r"\('co-amoxiclav'\): strength \[500, 125\]: 'routes'"),
    (_combo(0, "routes", ["im"]), r"combinations\[0\] \('co-amoxiclav'\): route 'im' is not a route of component"),
    (_combo(0, "aliases", ["tylenol"]), r"combinations\[0\] \('co-amoxiclav'\): name or alias 'tylenol' is already used"),
    (lambda d: d["non_drug_allergens"]["latex"]["terms"].append("aspirin"),
     r"non_drug_allergens\['latex'\]: term 'aspirin' is already the drug 'aspirin'"),
    (lambda d: d["cross_reactivity"][0].update(drug_class="cephalosporins"),
     r"cross_reactivity\[0\]: 'drug_class' 'cephalosporins' is not defined"),
    (lambda d: d["classes"]["opioid"].update(allergy_class_severity="sometimes"),
     r"classes\['opioid'\]: 'allergy_class_severity' must be null or one of"),
])
def test_bad_drug_entry_is_named(tmp_path, mutate, message):
    paths = _write(tmp_path, mutate_drugs=mutate)
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge(*paths)


@pytest.mark.parametrize("key, value, message", [
    ("b", "class:nsiad", r"interactions\[2\] .*'class:nsiad'"),
    ("b", "tag:serotonin", r"interactions\[2\] .*'tag:serotonin'"),
    ("b", "co-amoxiclav", r"interactions\[2\] .*'co-amoxiclav' is neither a single drug"),   # combinations: use a component
    ("severity", "major", r"interactions\[2\]: 'severity' must be one of"),
    ("mechanism", "x", r"interactions\[2\]: unknown field 'mechanism'"),
])
def test_bad_interaction_entry_is_named(tmp_path, key, value, message):
    def mutate(data):
        data["interactions"][2][key] = value
    paths = _write(tmp_path, mutate_interactions=mutate)
    with pytest.raises(KnowledgeError, match=message):
        load_knowledge(*paths)


def test_invalid_json_is_named(tmp_path):
    paths = _write(tmp_path)
    (tmp_path / "interactions.json").write_text("{not json")
    with pytest.raises(KnowledgeError, match="interactions.json: not valid JSON"):
        load_knowledge(*paths)
