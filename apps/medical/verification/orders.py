"""Reading a medication order: its route(s), its frequency (per day, weekly, once) and its dose (amount, unit,
combination parts), from what a clinician or the model wrote. Pure parsing; the checks are in medications.py."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from apps.medical.verification.types import MedicationOrder, _dose_label, _number, medication_line

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


def fmt_amount(amount: float, unit: str = "mg") -> str:
    shown = f"{amount:,.0f}" if amount >= 100000 else (f"{amount:.4g}" if amount < 1 else f"{amount:g}")
    if unit == "tablet":
        return f"{shown} tablet{'' if amount == 1 else 's'}"
    return f"{shown} {unit}"
