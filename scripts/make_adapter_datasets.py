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
    """A report section as the platform asks for it (apps.finance.reports.prompts: the facts, each with its
    reference, in the system message; the task in the user message), answered in prose whose every figure is a
    reference ({{revenue.2025}}) and every fiscal year {{FY2025}}: what the generation grammar allows."""
    from apps.finance.analytics.facts import format_value
    from apps.finance.reports.prompts import REFERENCE_RULES, SYSTEM

    name, sector = company(rng), rng.choice(SECTORS)
    y0, y1 = 2024, 2025
    rev0 = rng.randint(200, 9000) * 1e6
    growth = rng.uniform(-0.15, 0.35)
    rev1 = rev0 * (1 + growth)
    op_margin = rng.uniform(0.03, 0.32)
    gross_margin = op_margin + rng.uniform(0.08, 0.35)
    net_margin = op_margin * rng.uniform(0.55, 0.8)
    roe = rng.uniform(0.04, 0.3)
    leverage = rng.uniform(-0.5, 3.5)
    facts = [  # (key, label, value, unit, year)
        (f"revenue.{y1}", "Revenue", rev1, "currency", y1), (f"revenue.{y0}", "Revenue", rev0, "currency", y0),
        (f"revenue_growth_yoy.{y1}", "Revenue growth", growth, "ratio", y1),
        (f"gross_margin.{y1}", "Gross margin", gross_margin, "ratio", y1),
        (f"operating_margin.{y1}", "Operating margin", op_margin, "ratio", y1),
        (f"net_margin.{y1}", "Net margin", net_margin, "ratio", y1),
        (f"roe.{y1}", "Return on equity", roe, "ratio", y1),
        (f"net_debt_to_ebitda.{y1}", "Net debt / EBITDA", leverage, "multiple", y1),
    ]
    rng.shuffle(facts)
    shown = facts[: rng.randint(5, len(facts))]
    keys = {k for k, *_ in shown}
    lines = [f"- {label} (FY{year}): {format_value(value, unit)} -> write {{{{{key}}}}}"
             for key, label, value, unit, year in shown]
    system = f"{SYSTEM}{REFERENCE_RULES}\n\nFacts about {name} (figures in USD):\n" + "\n".join(lines)

    def ref(key: str) -> str:
        return f"{{{{{key}}}}}"

    sentences = []
    if f"revenue_growth_yoy.{y1}" in keys and f"revenue.{y1}" in keys:
        verb = "grew" if growth >= 0 else "contracted, a change of"
        sentences.append(f"Revenue {verb} {ref(f'revenue_growth_yoy.{y1}')} in {ref(f'FY{y1}')} to "
                         f"{ref(f'revenue.{y1}')}.")
    elif f"revenue.{y1}" in keys:
        sentences.append(f"Revenue reached {ref(f'revenue.{y1}')} in {ref(f'FY{y1}')}.")
    margins = [(k, label) for k, label in ((f"gross_margin.{y1}", "gross margin"),
                                           (f"operating_margin.{y1}", "operating margin"),
                                           (f"net_margin.{y1}", "net margin")) if k in keys]
    if margins:
        parts = [f"a {label} of {ref(k)}" for k, label in margins[:2]]
        sentences.append(f"Profitability is {'solid' if op_margin > 0.12 else 'thin'}, with "
                         f"{' and '.join(parts)}.")
    if f"roe.{y1}" in keys:
        sentences.append(f"Return on equity was {ref(f'roe.{y1}')}.")
    if f"net_debt_to_ebitda.{y1}" in keys:
        word = "a net cash position" if leverage < 0 else "leverage"
        sentences.append(f"The balance sheet shows {word}, with net debt at {ref(f'net_debt_to_ebitda.{y1}')} "
                         "EBITDA.")
    sentences.append(f"{'Growth supports' if growth > 0.05 else 'Muted growth tempers'} our view of the "
                     f"{sector} franchise.")
    task = rng.choice([
        f"Write for {name} a short company overview: its scale, its revenue trend and its profitability.",
        "Comment in three sentences on margins, returns, leverage and cash flow. "
        f"The company is {name}.",
        f"Write for {name} a three-sentence investment summary: growth, profitability and valuation.",
    ])
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": task},
                         {"role": "assistant", "content": " ".join(sentences[:4])}]}


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
