"""Medication checks against the drug knowledge base: known drug, dose (per route and schedule), allergy,
interactions, and the recorded allergies and current medications themselves.

What cannot be checked is an error a reviewer must acknowledge (``ACKNOWLEDGEABLE_CHECKS``), never a pass:
- ``drug_unverifiable``        an ordered drug (or part of its name) is not in the knowledge base; names are
                               matched exactly, so a misspelt drug is unverifiable;
- ``medication_unrecognised``  a recorded current medication is not recognised: interactions with it not checked;
- ``allergy_unrecognised``     a recorded allergy is neither a known drug/class/component nor a recognised
                               non-drug allergen (latex, foods, stings ...) nor "NKDA".
The texts are named in the findings (shown to the reviewer) and never logged.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from apps.medical.knowledge import DoseLimit, Drug, Knowledge
from apps.medical.verification.types import (
    DraftContent,
    EncounterFacts,
    Finding,
    MedicationOrder,
    _dose_label,
    _number,
    medication_line,
)

# --- routes ---------------------------------------------------------------------------------------------------
_ROUTE_WORDS: tuple[tuple[str, str], ...] = (
    ("oral", r"po|p\.o\.?|oral|orally|by mouth|per os|enteral|via ng|ng|peg|per ng|tablets?|tabs?|capsules?"),
    ("iv", r"iv|i\.v\.?|intravenous|intravenously|ivi|ivp|ivpb|iv push|iv bolus|iv infusion|infusion|io|"
           r"intraosseous|slow iv"),
    ("im", r"im|i\.m\.?|intramuscular|intramuscularly"),
    ("sc", r"sc|s\.c\.?|s/c|subcut|sub-cut|subcutaneous|subcutaneously|sq|subq|sub-q|sub q"),
    ("inhaled", r"inh|inhaled|inhalation|inhaler|neb|nebs|nebulised|nebulized|nebuliser|nebulizer|nebulisation|"
                r"nebulization|mdi|via spacer|puffs?"),
    ("pr", r"pr|p\.r\.?|rectal|rectally|per rectum|suppository|suppositories|supp"),
    ("sl", r"sl|s\.l\.?|sublingual|sublingually"),
    ("buccal", r"buccal|buccally"),
    ("topical", r"topical|topically|top|cutaneous|to skin|cream|ointment"),
    ("intranasal", r"intranasal|intranasally|nasal|nasally|nasal spray|i\.n\.?"),
    ("transdermal", r"transdermal|transdermally|patch|td"),
    ("local", r"local|infiltration|infiltrated|intradermal|local infiltration|nerve block|regional|local anaesthesia"),
)
_ROUTE_RES = tuple((route, re.compile(rf"(?<![a-z])(?:{words})(?![a-z])", re.I)) for route, words in _ROUTE_WORDS)


def normalise_route(text: str) -> tuple[str, ...] | None:
    """Canonical routes named in a route field ("PO" -> oral, "IV push" -> iv, "subcut"/"SQ" -> sc, "neb" ->
    inhaled, "IV/IM" -> iv and im). () when the field is empty; None when it says something not understood."""
    text = (text or "").strip()
    if not text:
        return ()
    if text.lower() in ("in", "i.n.", "i.n"):
        return ("intranasal",)
    found = tuple(route for route, pattern in _ROUTE_RES if pattern.search(text))
    return found or None


# --- frequency ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frequency:
    """How often a drug is given: ``per_day`` doses in 24 hours (a weekly dose is 1/7), or a single dose."""

    per_day: float | None = None
    once: bool = False

    @property
    def per_week(self) -> float | None:
        if self.once:
            return 1.0
        return None if self.per_day is None else self.per_day * 7

    def describe(self) -> str:
        if self.once:
            return "as a single dose"
        if self.per_day is None:
            return "at an unstated frequency"
        n, period = (self.per_day, "day") if self.per_day >= 1 else (self.per_day * 7, "week")
        return {1: f"once a {period}", 2: f"twice a {period}"}.get(n, f"{n:g} times a {period}")


_WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "other": 2, "second": 2, "third": 3}
_DAYS = r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
_WEEKLY: tuple[tuple[str, float], ...] = (
    (r"(?:three|3) times (?:a|per|each) week|(?:three|3) times weekly|thrice weekly|(?:3x|x3) ?(?:/|per|a) ?week", 3),
    (r"(?:twice|two times|2 times) (?:a|per|each) week|twice weekly|(?:2x|x2) ?(?:/|per|a) ?week|semi-?weekly", 2),
    (r"every (?:other|2nd|second|2|two) weeks?|fortnightly|every 14 days", 0.5),
    (rf"weekly|once (?:a|per|each|every) week|every week|(?:per|a) week|q ?wk|q ?week|qweek|/ ?wk|/ ?week|"
     rf"every (?:7|seven) days|(?:every|on|each) {_DAYS}", 1),
)
_EVERY_DAYS = re.compile(r"every (\d+|other|second|third|two|three) days?|alternate days|every other day|\bqod\b", re.I)
_EVERY_HOURS = re.compile(r"(?:every|q|q\.)\s*(\d+(?:\.\d+)?)\s*(?:(?:-|to|–)\s*(\d+(?:\.\d+)?))?\s*"
                          r"(?:h|hr|hrs|hours?|hourly)(?![a-z])", re.I)
_HOURLY = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?[- ]?(?:hourly|hrly)\b", re.I)
_EVERY_MINUTES = re.compile(r"(?:every|q)\s*(\d+)\s*(?:-\s*\d+\s*)?(?:min|mins|minutes)\b", re.I)
_N_TIMES = re.compile(r"(one|two|three|four|five|six|\d+)\s*(?:x|times)\s*(?:a|per|/|each)?\s*(?:day|daily|d)\b", re.I)
_PER_DAY: tuple[tuple[str, int], ...] = (
    (r"four times (?:a|per) day|four times daily|qds|qid|q\.i\.d\.?", 4),
    (r"three times (?:a|per) day|three times daily|tds|tid|t\.i\.d\.?", 3),
    (r"twice (?:a|per) day|twice daily|bd|bid|b\.i\.d\.?|q12h", 2),
    (r"hourly|every hour", 24),
    (r"once (?:a|per) day|once daily|daily|every day|od|o\.d\.|qd|q\.d\.|nocte|mane|at night|nightly|in the morning|"
     r"every (?:morning|night|evening)|at bedtime|qhs|qam|qpm|hs|om|(?:a|per|/) ?day", 1),
)
_ONCE = re.compile(r"(?<![a-z])(?:stat|once only|single dose|one dose|one-off|one off|x ?1|once|loading dose|"
                   r"single)(?![a-z])", re.I)


def _word_number(text: str) -> float:
    return float(_WORD_NUMBERS.get(text.lower(), text))


# "anaphylaxis", "angioedema", "urticaria/hives", "immediate hypersensitivity": a recorded allergy of that kind
_IMMEDIATE_REACTION = re.compile(r"anaphyla|angio-?o?edema|urticaria|hives|immediate|airway|throat swell|"
                                 r"lip swell|tongue swell|type i\b|ige", re.I)
_BETA_LACTAM_CLASSES = frozenset({"penicillin", "cephalosporin", "carbapenem", "beta_lactam"})
# "repeat every 10 min (max 300 mg)", "titrate every 15 minutes": a titration, not a schedule to multiply
_TITRATION = re.compile(r"\b(?:repeat|repeated|titrat\w*|until|to effect|max(?:imum)?)\b", re.I)


def parse_frequency(text: str) -> Frequency:
    """"qds" -> 4 a day; "every 4-6 hours" -> 6 (the most frequent); "once weekly" -> 1/7 a day; "every other
    day" -> 1/2; "stat" / "once" -> a single dose; "prn" alone -> not understood."""
    text = (text or "").strip().lower()
    if not text:
        return Frequency()
    for pattern, per_week in _WEEKLY:
        if re.search(rf"(?<![a-z])(?:{pattern})(?![a-z])", text):
            return Frequency(per_day=per_week / 7)
    hit = _EVERY_DAYS.search(text)
    if hit:
        days = _word_number(hit.group(1)) if hit.group(1) else 2.0
        return Frequency(per_day=1 / days if days else None)
    hit = _EVERY_MINUTES.search(text)
    if hit and int(hit.group(1)):
        if _TITRATION.search(text):
            return Frequency()  # titrated to effect: the single dose is checked, the daily total is not known
        return Frequency(per_day=24 * 60 / int(hit.group(1)))
    hit = _EVERY_HOURS.search(text) or _HOURLY.search(text)
    if hit:
        hours = min(float(h) for h in hit.groups() if h)
        if hours <= 0:
            return Frequency()
        return Frequency(per_day=float(math.ceil(24 / hours - 1e-9)) if hours <= 24 else 24 / hours)
    hit = _N_TIMES.search(text)
    if hit:
        return Frequency(per_day=_word_number(hit.group(1)))
    for pattern, n in _PER_DAY:
        if re.search(rf"(?<![a-z])(?:{pattern})(?![a-z])", text):
            return Frequency(per_day=float(n))
    if _ONCE.search(text):
        return Frequency(once=True)
    return Frequency()


def order_frequency(m: MedicationOrder) -> Frequency:
    """The frequency text when it says weekly, every few days or once; else ``times_per_day`` when given;
    else what the text says."""
    parsed = parse_frequency(m.frequency)
    if parsed.once or (parsed.per_day is not None and parsed.per_day < 1):
        return parsed
    given = _number(m.times_per_day)
    if given is not None and given >= 1:
        return Frequency(per_day=float(int(given)))
    return parsed


def times_per_day(m: MedicationOrder) -> int | None:
    """Doses a day: times_per_day, else from the frequency ("every 4-6 hours" counts the most frequent: 6);
    a single dose counts 1; weekly or every-few-days schedules and unknown frequencies give None."""
    freq = order_frequency(m)
    if freq.once:
        return 1
    return int(freq.per_day) if freq.per_day is not None and freq.per_day >= 1 else None


# --- doses ----------------------------------------------------------------------------------------------------
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?|\.\d+)"
_UNITS: dict[str, tuple[str, float]] = {
    "mg": ("mg", 1.0), "milligram": ("mg", 1.0), "milligrams": ("mg", 1.0), "g": ("mg", 1000.0),
    "gm": ("mg", 1000.0), "gram": ("mg", 1000.0), "grams": ("mg", 1000.0), "mcg": ("mg", 0.001),
    "microgram": ("mg", 0.001), "micrograms": ("mg", 0.001), "µg": ("mg", 0.001), "ug": ("mg", 0.001),
    "unit": ("units", 1.0), "units": ("units", 1.0), "iu": ("units", 1.0), "international units": ("units", 1.0),
    "million units": ("units", 1e6), "million": ("units", 1e6), "mu": ("units", 1e6), "mega units": ("units", 1e6),
    "megaunits": ("units", 1e6), "mmol": ("mmol", 1.0), "millimole": ("mmol", 1.0), "millimoles": ("mmol", 1.0),
    "ml": ("ml", 1.0), "millilitre": ("ml", 1.0), "millilitres": ("ml", 1.0), "milliliter": ("ml", 1.0),
    "milliliters": ("ml", 1.0), "l": ("ml", 1000.0), "litre": ("ml", 1000.0), "litres": ("ml", 1000.0),
    "liter": ("ml", 1000.0), "liters": ("ml", 1000.0),
}
_COUNT_WORDS = r"tablets?|tabs?|capsules?|caps?|sachets?|puffs?|nebules?|vials?|patch(?:es)?|pieces?|lozenges?|sprays?"
_AMOUNT = re.compile(
    rf"({_NUM})(?:\s*(?:-|to|–)\s*({_NUM}))?\s*("
    + "|".join(sorted((re.escape(u) for u in _UNITS), key=len, reverse=True)) + rf"|{_COUNT_WORDS})(?![a-z])",
    re.I)
_MASS = r"mg|mcg|micrograms?|µg|ug|g"
_PARTS = re.compile(rf"({_NUM})\s*({_MASS})?\s*/\s*({_NUM})(?:\s*/\s*({_NUM}))?\s*({_MASS})?(?![a-z0-9/])", re.I)
_WEIGHT_BASED = re.compile(r"/\s*kg\b|per\s*kg\b|\bmg\s*kg\b|\bunits?\s*kg\b", re.I)


@dataclass(frozen=True)
class ParsedDose:
    amount: float | None = None         # in `unit`
    unit: str | None = None             # "mg" | "units" | "mmol" | "ml"
    count: float | None = None          # tablets, puffs, sachets ...
    parts: tuple[float, ...] | None = None   # "5/325 mg": mg of each component
    weight_based: bool = False


def _to_float(text: str) -> float:
    return float(text.replace(",", ""))


def parse_dose(text: str) -> ParsedDose:
    """"1 g" -> 1000 mg; "50 micrograms" -> 0.05 mg; "2.4 million units"; "20 mmol"; "1 L" -> 1000 ml;
    "2 tablets"; "5/325 mg" -> parts (5, 325); "15 mg/kg" -> weight-based. Ranges count their top."""
    text = (text or "").strip()
    if not text:
        return ParsedDose()
    if _WEIGHT_BASED.search(text):
        return ParsedDose(weight_based=True)
    parts = None
    hit = _PARTS.search(text)
    if hit:
        unit = (hit.group(5) or hit.group(2) or "mg").lower()
        factor = _UNITS.get(unit, ("mg", 1.0))[1]
        parts = tuple(_to_float(g) * factor for g in (hit.group(1), hit.group(3), hit.group(4)) if g)
    amount = unit = count = None
    for m in _AMOUNT.finditer(text):
        if parts and hit and hit.start() <= m.start() < hit.end():
            continue
        value = _to_float(m.group(2) or m.group(1))
        word = m.group(3).lower()
        if word in _UNITS:
            if amount is None:
                unit, factor = _UNITS[word]
                amount = value * factor
        elif count is None:
            count = value
    return ParsedDose(amount=amount, unit=unit, count=count, parts=parts)


def dose_in_mg(m: MedicationOrder) -> tuple[float | None, tuple[int, int] | None]:
    """(single dose in mg, span of the dose in medication_line) from dose_mg, else parsed from dose_text."""
    line = medication_line(m)
    label = _dose_label(m)
    at = line.find(label, len(m.name)) if label else -1
    span = (at, at + len(label)) if at >= 0 else None
    if _number(m.dose_mg) is not None:
        return _number(m.dose_mg), span
    parsed = parse_dose(m.dose_text)
    return (parsed.amount if parsed.unit == "mg" else None), span


def _fmt(amount: float, unit: str = "mg") -> str:
    shown = f"{amount:,.0f}" if amount >= 100000 else (f"{amount:.4g}" if amount < 1 else f"{amount:g}")
    if unit == "tablet":
        return f"{shown} tablet{'' if amount == 1 else 's'}"
    return f"{shown} {unit}"


# --- the check ------------------------------------------------------------------------------------------------
@dataclass
class _Order:
    index: int
    order: MedicationOrder
    drug: Drug
    line: str


def check_medications(draft: DraftContent, facts: EncounterFacts, kb: Knowledge) -> list[Finding]:
    out: list[Finding] = []
    known: list[_Order] = []
    totals: dict[str, list[tuple[int, str, float, DoseLimit]]] = {}
    for i, m in enumerate(draft.medications):
        line = medication_line(m)
        name = str(m.name or "")
        drug = kb.find_drug(name) if name.strip() else None
        if drug is None:
            out.append(_unverifiable(i, name, kb))
            continue
        known.append(_Order(i, m, drug, line))
        out += _dose_findings(i, m, drug, facts, line, kb, totals)
    out += _total_findings(totals, known, kb)
    allergies = _recorded(facts.allergies)
    for o in known:
        out += _allergy_findings(o, allergies, kb)
    out += _unrecognised_allergies(allergies, kb)
    current, unrecognised = _current_medications(facts.current_medications, kb)
    out += unrecognised
    out += _interaction_findings(known, current, kb)
    return out


def _unverifiable(i: int, name: str, kb: Knowledge) -> Finding:
    shown = name.strip() or "(no name)"
    return Finding(
        "drug_unverifiable", "error",
        f"{shown} is not in the drug knowledge base: dose, allergy and interaction checks could not run; "
        "correct the name or acknowledge",
        f"{shown}: not among the {len(kb.single_drugs)} drugs and {len(kb.combinations)} combination products of "
        "drugs.json (names and brand names are matched exactly; misspellings are not corrected)",
        "medications", 0, len(name), i)


# --- doses
def _dose_findings(i: int, m: MedicationOrder, drug: Drug, facts: EncounterFacts, line: str, kb: Knowledge,
                   totals: dict) -> list[Finding]:
    out: list[Finding] = []
    label = _dose_label(m)
    at = line.find(label, len(m.name)) if label else -1
    start, end = (at, at + len(label)) if at >= 0 else (0, len(line))
    child = facts.age < 16
    written = m.name if m.name.strip().lower() == drug.name else f"{m.name} ({drug.name})"

    def finding(severity: str, message: str, evidence: str, *, whole: bool = False, span=None) -> Finding:
        s, e = span or ((start, len(line)) if whole else (start, end))
        return Finding("dose_range", severity, message, evidence, "medications", s, e, i)

    evidence = f"{written}: {_usual(drug, kb)}"
    # route
    routes = normalise_route(m.route)
    if routes is None:
        r_at = line.rfind(m.route) if m.route else -1
        out.append(finding("warning", f"{m.name}: route {m.route!r} not understood; dose checked against every "
                                      f"listed route ({', '.join(drug.routes)})", evidence,
                           span=(r_at, r_at + len(m.route)) if r_at >= 0 else None))
        routes = ()
    unlisted = [r for r in routes if r not in drug.routes]
    if unlisted:
        r_at = line.rfind(m.route)
        out.append(finding("error", f"{m.name} is not given by the {'/'.join(unlisted)} route in the knowledge base "
                                    f"(listed: {', '.join(drug.routes)}): dose not checked", evidence,
                           span=(r_at, r_at + len(m.route)) if r_at >= 0 else None))
        return out
    freq = order_frequency(m)
    parsed = parse_dose(m.dose_text)
    mg_field = _number(m.dose_mg)
    if mg_field is not None and mg_field <= 0:
        return out + [finding("error", f"{m.name}: dose {_fmt(mg_field)} is not a positive amount", evidence)]
    if parsed.weight_based:
        return out + [finding("warning", f"{m.name}: weight-based dose ({m.dose_text}); the patient's weight is not "
                                         "recorded, so the dose was not checked", evidence)]

    amounts, problem = _amounts(m, drug, parsed, mg_field, routes)
    if problem:
        out.append(finding("warning", f"{m.name}: {problem}", evidence))
    if not amounts:
        return out
    if not routes:
        out.append(finding("info", f"{m.name}: route not stated; dose checked against the most lenient listed route",
                           evidence))
    unit = drug.unit if not drug.is_combination else "mg"
    for ingredient, amount in amounts.items():
        single = kb.drugs[ingredient]
        prefix = m.name if not drug.is_combination else f"{m.name}: {ingredient}"
        ev = evidence if not drug.is_combination else f"{written} contains {ingredient}: {_usual(single, kb)}"
        results, limit = _evaluate(single, amount, unit, routes, freq, prefix, child=child,
                                   component=drug.is_combination)
        for severity, message, whole in results:
            out.append(finding(severity, message, ev, whole=whole))
        daily = _daily_amount(amount, freq)
        if limit is not None and limit.schedule == "daily" and daily is not None:
            totals.setdefault(ingredient, []).append((i, m.name, daily, limit))
    if child:
        out.append(finding("info", f"patient is {facts.age}: ranges are adult doses (paediatric doses are "
                                   "weight-based)", evidence))
    return out


def _usual(drug: Drug, kb: Knowledge) -> str:
    parts = []
    for d in drug.doses:
        lo, hi = d.single
        text = f"{'/'.join(d.routes)} {_fmt(lo, drug.unit)}-{_fmt(hi, drug.unit)}"
        if d.schedule == "weekly":
            text += f" once weekly, max {_fmt(d.max_weekly, drug.unit)} a week"
        elif d.schedule == "once":
            text += f" as a single dose, max {_fmt(d.max_course, drug.unit)} a course"
        else:
            text += f", max {_fmt(d.max_daily, drug.unit)}/day" if d.max_daily else ", no fixed daily maximum"
        parts.append(text)
    if drug.is_combination:
        parts = [f"{' + '.join(drug.components)}; strengths "
                 + ", ".join("/".join(f"{x:g}" for x in s) for s in drug.strengths) + " mg"]
    return f"usual adult doses: {'; '.join(parts)}. Source: {drug.source}"


def _amounts(m: MedicationOrder, drug: Drug, parsed: ParsedDose, mg_field: float | None,
             routes: tuple[str, ...]) -> tuple[dict[str, float], str]:
    """Amount of each ingredient in one dose (in the drug's unit), and a problem when some could not be told.
    A combination's dose is read as "a/b mg", as a total or first-component mg matching a known strength for
    the route (co-amoxiclav 625 mg = 500/125), or as a count of units of a known strength."""
    if not drug.is_combination:
        if drug.unit == "mg" and mg_field is not None:
            return {drug.name: mg_field}, ""
        if parsed.amount is not None and parsed.unit == drug.unit:
            return {drug.name: parsed.amount}, ""
        if drug.unit == "tablet" and parsed.count is not None:
            return {drug.name: parsed.count}, ""
        if parsed.amount is not None:
            return {}, (f"dose written in {parsed.unit} but {drug.name} is dosed in {drug.unit}: dose not checked")
        if mg_field is not None:
            return {}, f"dose given as {mg_field:g} mg but {drug.name} is dosed in {drug.unit}: dose not checked"
        if parsed.count is not None:
            return {}, f"dose given as {parsed.count:g} tablets/units without a strength: dose not checked"
        return {}, "dose not stated"
    names = drug.components
    strengths = drug.strengths_for(routes)
    if parsed.parts and len(parsed.parts) == len(names):
        k = parsed.count or 1
        return {n: p * k for n, p in zip(names, parsed.parts, strict=True)}, ""
    total = mg_field if mg_field is not None else (parsed.amount if parsed.unit == "mg" else None)
    if total is not None:
        k = parsed.count or 1
        for match in (lambda s: abs(sum(s) - total) < 1e-6, lambda s: abs(s[0] - total) < 1e-6):
            strength = next((s for s in strengths if match(s)), None)
            if strength:
                return {n: x * k for n, x in zip(names, strength, strict=True)}, ""
        return {}, (f"{total:g} mg does not match a known strength of {drug.name} "
                    f"({', '.join('/'.join(f'{x:g}' for x in s) for s in strengths) or 'none listed'}): "
                    f"doses of {' and '.join(names)} not checked")
    if parsed.count is not None and strengths:
        amounts = {n: strengths[0][j] * parsed.count for j, n in enumerate(names)
                   if len({s[j] for s in strengths}) == 1}
        missing = [n for n in names if n not in amounts]
        problem = (f"strength not stated: dose of {' and '.join(missing)} not checked "
                   f"(write it as {'/'.join(['x'] * len(names))} mg)") if missing else ""
        return amounts, problem
    return {}, "dose not stated"


def _choose(limits: tuple[DoseLimit, ...], freq: Frequency, name: str, unit: str) -> tuple[DoseLimit, str]:
    """The limit matching the order's schedule, and an error message when the schedule itself is wrong."""
    daily = [d for d in limits if d.schedule == "daily"]
    weekly = [d for d in limits if d.schedule == "weekly"]
    once = [d for d in limits if d.schedule == "once"]
    if freq.once:
        return (once or daily or weekly)[0], ""
    if freq.per_day is None:
        if daily:
            return daily[0], ""
        if weekly:      # a weekly drug must say so, even if it has a single-dose use too (methotrexate)
            return weekly[0], (f"{name} is given once weekly (max {_fmt(weekly[0].max_weekly, unit)} a week) but "
                               "the order does not say weekly")
        return once[0], ""
    if freq.per_day >= 1:
        if daily:
            return daily[0], ""
        if weekly:
            return weekly[0], (f"{name} is a once-weekly drug (max {_fmt(weekly[0].max_weekly, unit)} a week) "
                               f"but is ordered {freq.describe()}")
        return once[0], f"{name} is given as a single dose but is ordered {freq.describe()}"
    if weekly or daily:
        return (weekly or daily)[0], ""
    return once[0], f"{name} is given as a single dose but is ordered {freq.describe()}"


def _evaluate(drug: Drug, amount: float, unit: str, routes: tuple[str, ...], freq: Frequency, prefix: str, *,
              child: bool, component: bool) -> tuple[list[tuple[str, str, bool]], DoseLimit | None]:
    """(severity, message, spans-the-rest-of-the-line) for one ingredient; routes given: every route is checked;
    route not stated: the most lenient route's outcome. Also the limit used (for daily totals)."""
    outcomes = []
    for route in (routes or drug.routes):
        limits = drug.limits(route)
        if not limits:
            continue
        limit, schedule_error = _choose(limits, freq, drug.name, unit)
        results = [("error", schedule_error, True)] if schedule_error else []
        results += _against(limit, amount, unit, freq, prefix, child=child, component=component,
                            totals=not schedule_error)
        outcomes.append((results, limit))
    if not outcomes:
        return [], None
    if routes:
        merged = []
        for results, _ in outcomes:
            merged += [r for r in results if r not in merged]
        return merged, outcomes[0][1]

    def badness(outcome):
        results = outcome[0]
        return (sum(r[0] == "error" for r in results), sum(r[0] == "warning" for r in results))
    return min(outcomes, key=badness)


def _against(limit: DoseLimit, amount: float, unit: str, freq: Frequency, prefix: str, *, child: bool,
             component: bool, totals: bool = True) -> list[tuple[str, str, bool]]:
    """Single-dose range, then (unless the schedule itself is wrong) the daily / weekly / course total."""
    out = []
    low, high = limit.single
    if amount > high:
        out.append(("error", f"{prefix} {_fmt(amount, unit)} is above the usual adult single dose "
                             f"({_fmt(high, unit)})", False))
    elif amount < low and not child and not component:
        out.append(("warning", f"{prefix} {_fmt(amount, unit)} is below the usual adult single dose "
                               f"({_fmt(low, unit)})", False))
    if not totals:
        return out
    if limit.schedule == "daily" and limit.max_daily is not None:
        daily = _daily_amount(amount, freq)
        if daily is None:
            out.append(("info", f"{prefix}: frequency not understood, daily total not checked", True))
        elif daily > limit.max_daily + 1e-9:
            how = (f"x {freq.per_day:g} a day = {_fmt(daily, unit)}" if freq.per_day and freq.per_day >= 1
                   else freq.describe())
            out.append(("error", f"{prefix} {_fmt(amount, unit)} {how} exceeds the maximum of "
                                 f"{_fmt(limit.max_daily, unit)} a day", True))
    elif limit.schedule == "weekly" and freq.per_week is not None:
        weekly = amount * freq.per_week
        if weekly > limit.max_weekly + 1e-9:
            out.append(("error", f"{prefix} {_fmt(amount, unit)} {freq.describe()} = {_fmt(weekly, unit)} a week "
                                 f"exceeds the maximum of {_fmt(limit.max_weekly, unit)} a week", True))
    elif limit.schedule == "once" and amount > limit.max_course + 1e-9:
        out.append(("error", f"{prefix} {_fmt(amount, unit)} exceeds the maximum of "
                             f"{_fmt(limit.max_course, unit)} for the course", False))
    return out


def _daily_amount(amount: float, freq: Frequency) -> float | None:
    if freq.once:
        return amount
    if freq.per_day is None:
        return None
    return amount * max(freq.per_day, 1.0) if freq.per_day >= 1 else amount


def _total_findings(totals: dict, known: list[_Order], kb: Knowledge) -> list[Finding]:
    """The same ingredient in several orders (paracetamol + Percocet): their daily amounts add up."""
    out = []
    lines = {o.index: o.line for o in known}
    for ingredient, entries in totals.items():
        if len({i for i, *_ in entries}) < 2:
            continue
        ceilings = [limit.max_daily for *_, limit in entries]
        if None in ceilings:
            continue
        ceiling = max(ceilings)
        total = sum(daily for _, _, daily, _ in entries)
        if total > ceiling + 1e-9:
            last = entries[-1][0]
            parts = " + ".join(f"{name} {_fmt(daily)}" for _, name, daily, _ in entries)
            out.append(Finding(
                "dose_range", "error",
                f"{ingredient} from {len(entries)} orders ({parts} a day) = {_fmt(total)} exceeds the maximum of "
                f"{_fmt(ceiling)} a day",
                f"{ingredient}: {_usual(kb.drugs[ingredient], kb)}", "medications", 0, len(lines[last]), last))
    return out


# --- allergies
def _recorded(texts) -> list[str]:
    return [str(t) for t in (texts or []) if str(t).strip()]


def _allergy_findings(o: _Order, allergies: list[str], kb: Knowledge) -> list[Finding]:
    out = []
    m, drug = o.order, o.drug
    ingredients = kb.ingredients(drug)
    names = {d.name for d in ingredients}
    for allergy in allergies:
        hits = []   # (rank, severity, message, evidence); rank: 0 direct, 1 class, 2 cross-reactive
        for mention in kb.recognise(allergy).of_kind("drug", "class"):
            written = allergy[mention.start:mention.end]
            base = f"{m.name} ({drug.name}) vs recorded allergy: {allergy!r}"
            if mention.kind == "drug":
                allergen = kb.ingredients(kb.drugs[mention.key])
                allergen_classes = {c: False for d in allergen for c in d.classes}
                same = sorted(names & {d.name for d in allergen})
                if same:
                    what = (f"{m.name} is a recorded allergy ({written})" if not drug.is_combination
                            else f"{m.name} contains {' and '.join(same)}, a recorded allergy ({written})")
                    hits.append((0, "error", what, base))
                    continue
            else:
                allergen_classes = {mention.key: True}
            for d in ingredients:
                for c in d.classes:
                    if c not in allergen_classes:
                        continue
                    klass = kb.classes[c]
                    severity = "error" if allergen_classes[c] else klass.allergy_class_severity
                    if allergen_classes[c] and klass.allergy_class_severity == "warning":
                        severity = "warning"
                    if severity is None:
                        continue
                    note = f"; {klass.allergy_note}" if klass.allergy_note else ""
                    who = m.name if d.name == drug.name else f"{m.name} (its {d.name})"
                    hits.append((1, severity, f"{who} is one of the {klass.label}; recorded allergy to {written}",
                                 f"{base}; {d.name} is one of the {klass.label}{note}"))
                for cross in kb.cross_reactivity:
                    if cross.allergy_class in allergen_classes and cross.drug_class in d.classes:
                        who = m.name if d.name == drug.name else f"{m.name} (its {d.name})"
                        # BNF (Penicillins, "Allergy and cross-sensitivity"): after an immediate reaction
                        # (anaphylaxis, angioedema, urticaria) a cross-reacting class is avoided, not just watched
                        severe = (cross.allergy_class in _BETA_LACTAM_CLASSES
                                  and _IMMEDIATE_REACTION.search(allergy) is not None)
                        hits.append((2, "error" if severe else cross.severity,
                                     f"{who} ({kb.classes[cross.drug_class].label}) may cross-react with the recorded "
                                     f"allergy to {written}" + (" (an immediate reaction: avoid)" if severe else ""),
                                     f"{base}; {cross.note}. Source: {cross.source}"
                                     + ("; BNF: after immediate hypersensitivity avoid cross-reacting classes"
                                        if severe else "")))
        if hits:
            _, severity, message, evidence = min(hits, key=lambda h: (h[1] != "error", h[0]))
            out.append(Finding("allergy_conflict", severity, message, evidence, "medications", 0, len(m.name),
                               o.index))
    return out


def _unrecognised_allergies(allergies: list[str], kb: Knowledge) -> list[Finding]:
    out = []
    for allergy in allergies:
        found = kb.recognise(allergy)
        if found.unrecognised or not found.mentions:
            parts = found.unrecognised or (allergy.strip(),)
            out.append(Finding(
                "allergy_unrecognised", "error",
                f"recorded allergy {allergy!r} is not recognised ({'; '.join(repr(p) for p in parts)}): allergy checks "
                "against it could not run; correct it or acknowledge",
                "neither a drug, brand, component or drug class of drugs.json nor a recognised non-drug allergen "
                "(latex, foods, stings, adhesives ...) nor 'no known allergies'", "plan", 0, 0))
    return out


# --- current medications and interactions
def _current_medications(texts, kb: Knowledge) -> tuple[list[tuple[str, Drug]], list[Finding]]:
    current: list[tuple[str, Drug]] = []
    findings = []
    for text in _recorded(texts):
        found = kb.recognise(text)
        mentions = found.of_kind("drug", "class", "nil")
        if found.unrecognised or not mentions:
            parts = found.unrecognised or (text.strip(),)
            findings.append(Finding(
                "medication_unrecognised", "error",
                f"current medication {text!r} is not recognised ({'; '.join(repr(p) for p in parts)}): interaction "
                "checks against it could not run; correct it or acknowledge",
                "not a drug, brand, combination product or drug class of drugs.json", "plan", 0, 0))
        for mention in mentions:
            if mention.kind == "nil":
                continue
            drug = kb.drugs[mention.key] if mention.kind == "drug" else kb.class_drug(mention.key)
            if all(drug.name != d.name for _, d in current):
                current.append((text, drug))
    return current, findings


def _interaction_findings(known: list[_Order], current: list[tuple[str, Drug]], kb: Knowledge) -> list[Finding]:
    out = []
    seen: set[frozenset] = set()
    for pos, o in enumerate(known):
        others = [(x.order.name, x.drug, "plan") for x in known[pos + 1:]] + [(t, d, "current") for t, d in current]
        for other_text, other, where in others:
            pair = frozenset((o.drug.name, other.name))
            if other.name == o.drug.name or pair in seen:
                continue
            hits = kb.interactions_between(o.drug, other)
            if not hits:
                continue
            seen.add(pair)
            severity = "error" if any(h.severity == "error" for h in hits) else "warning"
            top = [h for h in hits if h.severity == severity]
            best = max(h.specificity for h in top)
            source = "also in the plan" if where == "plan" else "a current medication"
            for inter in (h for h in top if h.specificity == best):
                out.append(Finding(
                    "interaction", inter.severity,
                    f"{o.order.name} with {other_text} ({source}): {inter.reason}",
                    f"{o.order.name} + {other_text} ({o.drug.name} + {other.name}; entry {inter.a} + {inter.b}): "
                    f"{inter.reason}. Source: {inter.source}",
                    "medications", 0, len(o.order.name), o.index,
                ))
    return out
