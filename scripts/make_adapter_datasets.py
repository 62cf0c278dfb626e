"""Write the small synthetic training and held-out sets of the finance, medical and general domains.

SYNTHETIC: every company, figure, patient and vital sign here is made up by this script from a fixed seed.
The rows teach a style (how our reports state a computed figure, how our notes summarise vitals); they are
not facts about the world. Run: python scripts/make_adapter_datasets.py [--out data/adapters]
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SEED = 20261129
N_TRAIN, N_HELDOUT = 300, 60
SECTORS = ["software", "retail", "logistics", "utilities", "semiconductors", "insurance", "media", "chemicals"]
SYLLABLES = ["ar", "bel", "cor", "dan", "el", "fin", "gar", "hol", "ix", "jor", "kel", "lum", "mor", "nex", "or", "pax"]


def company(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize() + rng.choice(
        [" Corp", " Holdings", " Group", " Systems", " plc"]
    )


def finance_row(rng: random.Random) -> dict:
    name, sector = company(rng), rng.choice(SECTORS)
    rev0 = rng.randint(200, 9000)
    growth = rng.uniform(-0.15, 0.35)
    rev1 = round(rev0 * (1 + growth))
    margin = rng.uniform(0.03, 0.32)
    op = round(rev1 * margin)
    kind = rng.choice(["growth", "margin", "both"])
    facts = f"{name} ({sector}, fictional). Revenue FY2024: {rev0} m; FY2025: {rev1} m. Operating profit FY2025: {op} m."
    g = (rev1 - rev0) / rev0 * 100
    m = op / rev1 * 100
    direction = "grew" if rev1 >= rev0 else "declined"
    if kind == "growth":
        prompt = f"{facts}\nState the revenue growth in one sentence."
        completion = f"Revenue {direction} {abs(g):.1f}% year on year, from {rev0} m to {rev1} m."
    elif kind == "margin":
        prompt = f"{facts}\nState the FY2025 operating margin in one sentence."
        completion = f"The FY2025 operating margin was {m:.1f}% ({op} m on revenue of {rev1} m)."
    else:
        prompt = f"{facts}\nSummarise growth and profitability for a research note."
        completion = (
            f"Revenue {direction} {abs(g):.1f}% to {rev1} m, with an operating margin of {m:.1f}%. "
            f"{'Growth supports' if g > 5 else 'Muted growth tempers'} our view of the {sector} franchise."
        )
    return {"prompt": prompt, "completion": completion}


COMPLAINTS = ["chest pain", "shortness of breath", "abdominal pain", "headache", "fever and cough", "ankle injury",
              "dizziness", "back pain", "sore throat", "rash"]


def medical_row(rng: random.Random) -> dict:
    age, sex = rng.randint(18, 90), rng.choice(["F", "M"])
    hr, rr = rng.randint(48, 140), rng.randint(10, 32)
    sbp, spo2 = rng.randint(80, 190), rng.randint(84, 100)
    temp = round(rng.uniform(35.8, 40.1), 1)
    complaint = rng.choice(COMPLAINTS)
    prompt = (
        f"Synthetic encounter. Patient {age}{sex}, chief complaint: {complaint}. "
        f"HR {hr}, RR {rr}, BP {sbp}/{rng.randint(50, 110)}, SpO2 {spo2}%, T {temp} C.\nWrite the Objective line."
    )
    flags = []
    if hr > 100:
        flags.append("tachycardic")
    if hr < 50:
        flags.append("bradycardic")
    if rr > 20:
        flags.append("tachypnoeic")
    if spo2 < 92:
        flags.append("hypoxic")
    if temp >= 38.0:
        flags.append("febrile")
    if sbp < 90:
        flags.append("hypotensive")
    summary = ", ".join(flags) if flags else "vital signs within normal limits"
    completion = f"O: HR {hr}, RR {rr}, SBP {sbp}, SpO2 {spo2}%, T {temp} C; {summary}."
    return {"prompt": prompt, "completion": completion}


def general_row(rng: random.Random) -> dict:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    kind = rng.choice(["add", "compare", "spell", "list"])
    if kind == "add":
        return {"prompt": f"What is {a} plus {b}?", "completion": f"{a} plus {b} is {a + b}."}
    if kind == "compare":
        big = max(a, b)
        return {"prompt": f"Which is larger, {a} or {b}?", "completion": f"{big} is larger." if a != b else "They are equal."}
    if kind == "spell":
        word = rng.choice(["report", "margin", "patient", "review", "ledger", "triage", "audit", "model"])
        return {"prompt": f"Spell the word '{word}' backwards.", "completion": f"{word[::-1]}"}
    items = rng.sample(["apples", "pears", "plums", "figs", "dates", "limes"], 3)
    return {"prompt": f"List these in alphabetical order: {', '.join(items)}.", "completion": ", ".join(sorted(items)) + "."}


MAKERS = {"finance": finance_row, "medical": medical_row, "general": general_row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "data" / "adapters")
    args = parser.parse_args()
    for domain, make in MAKERS.items():
        rng = random.Random(f"{SEED}-{domain}")
        out = args.out / domain
        out.mkdir(parents=True, exist_ok=True)
        for split, n in (("train", N_TRAIN), ("heldout", N_HELDOUT)):
            with open(out / f"{split}.jsonl", "w") as fh:
                for _ in range(n):
                    fh.write(json.dumps(make(rng)) + "\n")
        print(f"{domain}: {N_TRAIN} train + {N_HELDOUT} held-out rows in {out}")


if __name__ == "__main__":
    main()
