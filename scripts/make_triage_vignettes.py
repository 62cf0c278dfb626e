"""Write the synthetic ESI triage vignettes: data/triage/train.jsonl and heldout.jsonl (70/30, stratified).

SYNTHETIC: every patient, complaint and vital sign is made up by this script from a fixed seed. Each
vignette is built *from a chosen ESI level*: the script picks the level first, then a handbook criterion
that leads to it (ESI v4 Implementation Handbook, 2012: life-saving intervention, high-risk situation,
new confusion, severe pain, danger-zone vitals, number of resources), then samples a complaint and vitals
that fit that criterion. The label is the chosen level, never the output of apps/medical/triage_rules.py
(this script does not import it). Some rows are deliberately hard:
  - "boundary": vitals exactly at a danger-zone threshold (HR 100 is not > 100) or one step past it;
  - "judgment": cases where the handbook says "consider" and a triage nurse would decide from the whole
    picture (pain 7 in a comfortable patient, anxiety with a fast pulse, an elderly patient's back pain
    that may be an aneurysm), so keyword rules can disagree with the label in either direction.

Run: python scripts/make_triage_vignettes.py [--seed 20261129] [--n 300] [--out data/triage]
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from pathlib import Path

SEED = 20261129
N = 300
HELDOUT_FRACTION = 0.3
LEVEL_SHARE = {1: 0.08, 2: 0.27, 3: 0.30, 4: 0.20, 5: 0.15}

# level -> list of (chief complaint, history, resources needed, basis); resources = what the handbook counts
LEVEL1 = [
    ("found unresponsive at home", "", {"consciousness": "unresponsive"}, "A: unresponsive"),
    ("collapsed, not breathing", "", {"consciousness": "unresponsive", "respiratory_rate": 0}, "A: apnoea"),
    ("overdose of heroin, barely breathing", "opioid use disorder", {"consciousness": "pain", "respiratory_rate": 6},
     "A: respiratory depression"),
    ("severe shortness of breath, cannot speak", "COPD", {"spo2": (80, 89), "respiratory_rate": (30, 38)},
     "A: severe respiratory distress, SpO2 < 90"),
    ("lip and tongue swelling after bee sting, anaphylaxis", "", {"systolic_bp": (70, 85), "heart_rate": (120, 140)},
     "A: anaphylaxis"),
    ("vomiting blood, pale and clammy", "alcohol use", {"systolic_bp": (62, 78), "heart_rate": (125, 150)},
     "A: hypotension with hypoperfusion"),
    ("diabetic, unresponsive, glucose 1.8", "type 1 diabetes", {"consciousness": "pain"},
     "A: hypoglycaemia with altered mental status"),
]
LEVEL2_SITUATIONS = [
    ("chest pain radiating to the left arm", "hypertension", 35, 90, "B: chest pain suggestive of ACS"),
    ("central chest pressure and sweating", "type 2 diabetes", 40, 90, "B: chest pain suggestive of ACS"),
    ("sudden facial droop and slurred speech", "atrial fibrillation", 45, 95, "B: stroke signs"),
    ("right-sided weakness since one hour, stroke symptoms", "", 50, 95, "B: stroke signs"),
    ("suicidal thoughts with a plan", "depression", 16, 70, "B: suicidal ideation"),
    ("took an overdose of paracetamol tablets", "", 16, 60, "B: overdose"),
    ("worst headache of my life, sudden onset", "", 25, 70, "B: thunderclap headache"),
    ("vomiting blood twice this morning", "peptic ulcer", 40, 85, "B: GI bleeding"),
    ("fever and chills", "on chemotherapy for lymphoma", 30, 80, "B: neutropenic fever"),
    ("abdominal pain and vaginal spotting", "pregnant, 7 weeks", 18, 40, "B: possible ectopic pregnancy"),
    ("sudden testicular pain", "", 12, 25, "B: possible testicular torsion"),
    ("driver in a high-speed collision", "", 18, 60, "B: high-energy mechanism"),
    # paraphrases a keyword table may not know: the label still follows the handbook
    ("heavy pressure behind the breastbone going to the jaw", "smoker", 45, 85, "B: chest pain suggestive of ACS"),
    ("cannot lift left arm, words come out jumbled", "", 55, 90, "B: stroke signs"),
    ("says she wants to end her life", "", 18, 60, "B: suicidal ideation"),
]
LEVEL2_CONFUSION = [
    ("family says she is confused and not herself", "dementia-free, lives alone", 70, 95),
    ("fall at home, now disoriented", "", 65, 95),
    ("lethargic and difficult to rouse since morning", "urinary infection last week", 60, 95),
]
LEVEL2_PAIN = [
    ("right flank pain coming in waves, kidney stone before", "renal colic", "B: severe pain"),
    ("sickle cell crisis, pain in legs and back", "sickle cell disease", "B: severe pain"),
    ("burn to forearm from boiling water", "", "B: severe pain"),
]
# complaints that need two or more resources (labs, imaging, IV medication, consultation)
MANY_RESOURCES = [
    "abdominal pain and vomiting", "shortness of breath on exertion", "fainted at work (syncope)",
    "palpitations since this afternoon", "head injury after a fall", "vomiting and diarrhoea for 3 days",
    "dizziness and weakness", "cellulitis of the lower leg", "fever and cough, possible pneumonia",
    "fracture of the wrist after a fall",
]
CHILD_MANY_RESOURCES = [
    "vomiting and diarrhoea for 3 days", "fever and cough, possible pneumonia", "head injury after a fall",
    "abdominal pain and vomiting",
]
ONE_RESOURCE = [
    "laceration to the hand from a kitchen knife", "ankle injury playing football", "burning urination (dysuria)",
    "wrist injury, can move fingers", "foreign body in the eye", "finger injury caught in a door",
    "back pain after lifting",
]
NO_RESOURCES = [
    "sore throat for two days", "prescription refill for inhaler", "insect bite on the arm", "mild rash on the chest",
    "earache since yesterday", "suture removal", "cold symptoms and runny nose", "toothache",
]
# judgment cases: (label, complaint, history, vitals overrides, resources, basis)
JUDGMENT = [
    (3, "abdominal pain, comfortable, walking around", "", {"pain_score": 7}, 2,
     "judgment: pain 7 but no distress -> resources decide"),
    (3, "anxiety attack, palpitations", "panic disorder", {"heart_rate": (104, 112)}, 2,
     "judgment: danger-zone HR explained by anxiety -> 3"),
    (2, "back pain, sudden onset, tearing", "hypertension, smoker", {}, 3,
     "judgment: possible aortic aneurysm/dissection in the elderly"),
    (2, "dizziness after a fall", "takes warfarin", {}, 2, "judgment: anticoagulated head injury is high risk"),
    (4, "wound check after surgery", "", {}, 1, "judgment: one resource (dressing + review)"),
    (3, "sharp chest pain worse on breathing after a cold", "", {}, 2,
     "judgment: young adult, pleuritic pain, not suggestive of ACS"),
]

NAMES_OF_SEX = ["female", "male"]


def _pick(rng: random.Random, value):
    """A fixed value, or an inclusive (low, high) range sampled uniformly."""
    if isinstance(value, tuple):
        return rng.randint(*value)
    return value


def normal_vitals(rng: random.Random, age: int, *, fever: bool = False) -> dict:
    """Vitals inside the handbook's danger-zone limits for the age."""
    if age <= 2:
        hr, rr = rng.randint(100, 150), rng.randint(24, 38)
    elif age <= 8:
        hr, rr = rng.randint(80, 130), rng.randint(18, 28)
    else:
        hr, rr = rng.randint(58, 98), rng.randint(12, 20)
    sbp = rng.randint(95, 120) if age <= 12 else rng.randint(105, 165)
    return {
        "heart_rate": hr, "systolic_bp": sbp, "diastolic_bp": rng.randint(55, min(95, sbp - 25)),
        "respiratory_rate": rr, "spo2": rng.randint(94, 100),
        "temperature_c": round(rng.uniform(38.1, 39.6) if fever else rng.uniform(36.2, 37.6), 1),
        "pain_score": rng.randint(0, 5), "consciousness": "alert",
    }


def danger_vitals(rng: random.Random, age: int, *, boundary: bool) -> dict:
    """One handbook danger-zone vital (just past the limit when `boundary`)."""
    if age <= 2:
        hr_limit, rr_limit = 160, 40
    elif age <= 8:
        hr_limit, rr_limit = 140, 30
    else:
        hr_limit, rr_limit = 100, 20
    which = rng.choice(["heart_rate", "respiratory_rate", "spo2"])
    step = 1 if boundary else rng.randint(3, 25)
    if which == "heart_rate":
        return {"heart_rate": hr_limit + step}
    if which == "respiratory_rate":
        return {"respiratory_rate": rr_limit + (1 if boundary else rng.randint(2, 8))}
    return {"spo2": 91 if boundary else rng.randint(90, 91)}


def at_threshold_vitals(rng: random.Random, age: int) -> dict:
    """Exactly at a danger-zone limit: not in the danger zone (the handbook's limits are strict)."""
    if age <= 2:
        return rng.choice([{"heart_rate": 160}, {"respiratory_rate": 40}, {"spo2": 92}])
    if age <= 8:
        return rng.choice([{"heart_rate": 140}, {"respiratory_rate": 30}, {"spo2": 92}])
    return rng.choice([{"heart_rate": 100}, {"respiratory_rate": 20}, {"spo2": 92}])


def _row(rng, level, age, complaint, history, vitals, resources, basis, noise=None) -> dict:
    return {
        "esi": level, "synthetic": True, "age": age, "sex": rng.choice(NAMES_OF_SEX), "chief_complaint": complaint,
        "vitals": vitals, "history": history, "notes": "",
        # about half the rows record the resources the nurse expects; the rest leave them to be estimated
        "expected_resources": resources if rng.random() < 0.5 else None,
        "basis": basis, "noise": noise,
    }


def make_level1(rng):
    complaint, history, overrides, basis = rng.choice(LEVEL1)
    age = rng.randint(18, 88)
    vitals = normal_vitals(rng, age) | {k: _pick(rng, v) for k, v in overrides.items()}
    return _row(rng, 1, age, complaint, history, vitals, rng.randint(2, 5), basis)


def make_level2(rng):
    kind = rng.choices(["situation", "confusion", "pain", "danger"], weights=[5, 2, 1.5, 3])[0]
    if kind == "situation":
        complaint, history, lo, hi, basis = rng.choice(LEVEL2_SITUATIONS)
        age = rng.randint(lo, hi)
        vitals = normal_vitals(rng, age, fever="fever" in complaint)
        return _row(rng, 2, age, complaint, history, vitals, rng.randint(2, 4), basis)
    if kind == "confusion":
        complaint, history, lo, hi = rng.choice(LEVEL2_CONFUSION)
        age = rng.randint(lo, hi)
        vitals = normal_vitals(rng, age) | {"consciousness": rng.choice(["new_confusion", "voice", "alert"])}
        return _row(rng, 2, age, complaint, history, vitals, rng.randint(2, 4), "B: new confusion/lethargy")
    if kind == "pain":
        complaint, history, basis = rng.choice(LEVEL2_PAIN)
        age = rng.randint(18, 60)
        vitals = normal_vitals(rng, age) | {"pain_score": rng.randint(8, 10)}
        return _row(rng, 2, age, complaint, history, vitals, rng.randint(2, 3), basis)
    age = rng.choice([rng.randint(0, 2), rng.randint(3, 8), rng.randint(9, 90), rng.randint(18, 90)])
    boundary = rng.random() < 0.35
    vitals = normal_vitals(rng, age) | danger_vitals(rng, age, boundary=boundary)
    complaint = rng.choice(CHILD_MANY_RESOURCES if age <= 8 else MANY_RESOURCES)
    return _row(rng, 2, age, complaint, "", vitals, rng.randint(2, 4), "C: danger-zone vitals, many resources",
                "boundary" if boundary else None)


def make_level3(rng):
    age = rng.choice([rng.randint(0, 8), rng.randint(9, 90), rng.randint(18, 90)])
    complaint = rng.choice(CHILD_MANY_RESOURCES if age <= 8 else MANY_RESOURCES)
    vitals = normal_vitals(rng, age, fever="fever" in complaint)
    noise = None
    if rng.random() < 0.2:
        vitals |= at_threshold_vitals(rng, age)
        noise = "boundary"
    return _row(rng, 3, age, complaint, "", vitals, rng.randint(2, 4), "D: two or more resources", noise)


def make_level45(rng, level):
    age = rng.randint(2, 80)
    complaint = rng.choice(ONE_RESOURCE if level == 4 else NO_RESOURCES)
    vitals = normal_vitals(rng, age)
    noise = None
    if age > 8 and rng.random() < 0.15:
        # danger-zone vitals do not matter below two resources (decision point C is not reached)
        vitals["heart_rate"] = rng.randint(101, 115)
        noise = "boundary"
    basis = "D: one resource" if level == 4 else "D: no resources"
    return _row(rng, level, age, complaint, "", vitals, 1 if level == 4 else 0, basis, noise)


def make_judgment(rng):
    level, complaint, history, overrides, resources, basis = rng.choice(JUDGMENT)
    age = rng.randint(66, 85) if "aneurysm" in basis or "warfarin" in history else rng.randint(20, 29)
    vitals = normal_vitals(rng, age) | {k: _pick(rng, v) for k, v in overrides.items()}
    return _row(rng, level, age, complaint, history, vitals, resources, basis, "judgment")


def generate(seed: int = SEED, n: int = N) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if rng.random() < 0.08:
            row = make_judgment(rng)
        else:
            level = rng.choices(list(LEVEL_SHARE), weights=list(LEVEL_SHARE.values()))[0]
            if level == 1:
                row = make_level1(rng)
            elif level == 2:
                row = make_level2(rng)
            elif level == 3:
                row = make_level3(rng)
            else:
                row = make_level45(rng, level)
        rows.append({"id": f"v{i + 1:04d}", **row})
    return rows


def split(rows: list[dict], seed: int = SEED) -> tuple[list[dict], list[dict]]:
    """Stratified by label: 30% of each ESI level to held-out."""
    rng = random.Random(seed + 1)
    train, heldout = [], []
    for level in sorted({r["esi"] for r in rows}):
        group = [r for r in rows if r["esi"] == level]
        rng.shuffle(group)
        k = round(len(group) * HELDOUT_FRACTION)
        heldout += group[:k]
        train += group[k:]
    return sorted(train, key=lambda r: r["id"]), sorted(heldout, key=lambda r: r["id"])


def write(out: Path, seed: int = SEED, n: int = N) -> dict[str, list[dict]]:
    train, heldout = split(generate(seed, n), seed)
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("heldout", heldout)):
        with (out / f"{name}.jsonl").open("w") as fh:
            for r in rows:
                fh.write(json.dumps(r, sort_keys=True) + "\n")
    return {"train": train, "heldout": heldout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "data" / "triage")
    args = parser.parse_args()
    splits = write(args.out, args.seed, args.n)
    for name, rows in splits.items():
        dist = Counter(r["esi"] for r in rows)
        print(f"{name}: {len(rows)} rows, ESI " + ", ".join(f"{k}: {dist[k]}" for k in sorted(dist)))


if __name__ == "__main__":
    main()
