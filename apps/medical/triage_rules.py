"""ESI v4 decision points as deterministic rules, and how they combine with the model's level.

Source: Gilboy N, Tanabe P, Travers D, Rosenau AM. *Emergency Severity Index (ESI): A Triage Tool
for Emergency Department Care, Version 4. Implementation Handbook*, 2012 edition (AHRQ Publication
No. 12-0014). The algorithm asks four questions in order; the first that applies decides:

A. Does the patient need an immediate life-saving intervention?  -> ESI 1   (rule ``A_lifesaving``)
   Handbook criteria used: unresponsive (AVPU "P" or "U"); SpO2 < 90 % (severe respiratory
   distress); apnoea / respiratory or cardiac arrest, anaphylaxis, status epilepticus and the other
   complaints in ``LIFESAVING_COMPLAINTS``; hypotension with signs of hypoperfusion.
   Our operationalisation of the handbook's clinical wording (not numbers from the handbook):
   RR <= 8 (hypoventilation); RR >= 40 adult / >= 50 age 3-8 / >= 60 under 3; SBP < 80 with a shock
   sign (HR > 100 or altered consciousness); HR < 30 or > 180 in adults.
B. Is this a high-risk situation, new confusion/lethargy/disorientation, or severe pain/distress? -> ESI 2
   ``B_confusion``: AVPU "V" or "new_confusion", or the complaint says confused/lethargic/disoriented.
   ``B_high_risk``: a complaint in ``HIGH_RISK_SITUATIONS`` (the handbook's examples: chest pain
   suggestive of ACS, stroke signs, suicidal/homicidal ideation, ectopic pregnancy, testicular pain,
   neutropenic fever, high-energy trauma ...).
   ``B_severe_pain``: pain >= 7/10 *and* a complaint in ``SEVERE_PAIN_COMPLAINTS``; the handbook says
   pain >= 7 should be *considered* for ESI 2, not that it always is (a sprained ankle at 8/10 is not).
C. Danger-zone vitals (only asked for a patient who needs two or more resources)  -> consider ESI 2
   (rule ``C_danger_vitals``). Handbook thresholds: HR > 180 / RR > 50 under 3 months, HR > 160 /
   RR > 40 from 3 months to 3 years, HR > 140 / RR > 30 from 3 to 8 years, HR > 100 / RR > 20 over
   8 years; SpO2 < 92 % at any age. Ages are whole years here, so age 0 uses the 3 months-3 years
   band (more urgent than the under-3-months band: errs towards over-triage).
D. How many different resources will the patient need?  none -> 5, one -> 4, two or more -> 3
   (rule ``D_resources``). ``TriageCase.expected_resources`` when known, otherwise estimated from the
   complaint with ``RESOURCE_ESTIMATES``; an unknown complaint counts as two (ESI 3, the safe side).

``combine`` applies the safety rule of the product: the rules may make the model's level more urgent
(numerically lower), never less urgent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from apps.medical.clinical import TriageCase

RULES = ("A_lifesaving", "B_high_risk", "B_confusion", "B_severe_pain", "C_danger_vitals", "D_resources")
ESI_LEVELS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class RuleResult:
    level: int
    rule: str
    reason: str


@dataclass(frozen=True)
class FinalTriage:
    level: int
    model_level: int | None
    rules_level: int
    rule_fired: str
    raised_by_rules: bool
    explanation: str


@dataclass(frozen=True)
class ComplaintPattern:
    """A complaint the table recognises: any phrase of `phrases` in the chief complaint or notes,
    and (when given) any phrase of `with_any` anywhere including the history; optional age bounds."""

    phrases: tuple[str, ...]
    reason: str
    with_any: tuple[str, ...] = ()
    min_age: int | None = None
    max_age: int | None = None


# --- decision point A: complaints that mean an immediate life-saving intervention ---
LIFESAVING_COMPLAINTS: tuple[ComplaintPattern, ...] = (
    ComplaintPattern(("cardiac arrest", "pulseless", "no pulse", "cpr in progress"), "cardiac arrest"),
    ComplaintPattern(("respiratory arrest", "not breathing", "apnoeic", "apneic", "apnoea", "apnea"),
                     "apnoea / respiratory arrest"),
    ComplaintPattern(("anaphylaxis", "anaphylactic"), "anaphylaxis needs adrenaline now"),
    ComplaintPattern(("status epilepticus", "actively seizing", "seizing now", "continuous seizure"),
                     "ongoing seizure"),
    ComplaintPattern(("intubated",), "intubated patient"),
    ComplaintPattern(("flaccid",), "flaccid infant / patient", max_age=2),
)

# --- decision point B: high-risk situations (handbook examples) ---
HIGH_RISK_SITUATIONS: tuple[ComplaintPattern, ...] = (
    ComplaintPattern(("chest pain", "chest pressure", "chest tightness", "crushing chest"),
                     "chest pain suggestive of acute coronary syndrome", min_age=30),
    ComplaintPattern(("tearing pain", "tearing chest", "tearing back"), "possible aortic dissection"),
    ComplaintPattern(("facial droop", "slurred speech", "one-sided weakness", "unilateral weakness",
                      "arm weakness", "hemiparesis", "aphasia", "stroke", "sudden vision loss"),
                     "signs of stroke"),
    ComplaintPattern(("suicidal", "suicide", "self-harm", "self harm", "homicidal"),
                     "suicidal or homicidal ideation"),
    ComplaintPattern(("overdose", "intentional ingestion", "poisoning"), "overdose / poisoning"),
    ComplaintPattern(("worst headache", "thunderclap", "sudden severe headache"),
                     "sudden severe headache (subarachnoid haemorrhage)"),
    ComplaintPattern(("vomiting blood", "haematemesis", "hematemesis", "melaena", "melena", "black stools"),
                     "gastrointestinal bleeding"),
    ComplaintPattern(("testicular pain", "testicular torsion", "scrotal pain"), "possible testicular torsion"),
    ComplaintPattern(("vaginal bleeding", "abdominal pain", "pelvic pain"), "possible ectopic pregnancy",
                     with_any=("pregnant", "pregnancy", "positive pregnancy test")),
    ComplaintPattern(("fever", "febrile"), "fever in an immunocompromised patient (neutropenic sepsis)",
                     with_any=("chemotherapy", "neutropenic", "immunocompromised", "transplant")),
    ComplaintPattern(("fever", "febrile"), "fever in a neonate",
                     with_any=("newborn", "neonate", "days old", "weeks old"), max_age=0),
    ComplaintPattern(("high-speed", "high speed", "rollover", "ejected", "fall from height",
                      "pedestrian struck", "stab wound", "gunshot"), "high-energy mechanism of injury"),
    ComplaintPattern(("sexual assault",), "sexual assault"),
    ComplaintPattern(("chemical splash", "chemical in eye", "chemical burn to eye"), "chemical eye injury"),
    ComplaintPattern(("throat swelling", "tongue swelling", "lip swelling", "difficulty swallowing saliva"),
                     "angio-oedema / threatened airway"),
    ComplaintPattern(("diabetic ketoacidosis", "dka"), "diabetic ketoacidosis"),
    ComplaintPattern(("open fracture", "cold limb", "pulseless limb"), "limb-threatening injury"),
)

CONFUSION_COMPLAINTS: tuple[ComplaintPattern, ...] = (
    ComplaintPattern(("confused", "confusion", "disoriented", "disorientated", "lethargic", "lethargy"),
                     "new confusion, lethargy or disorientation"),
)

# pain >= 7 in these complaints is taken as severe pain/distress for ESI 2
SEVERE_PAIN_COMPLAINTS: tuple[ComplaintPattern, ...] = (
    ComplaintPattern(("abdominal pain", "flank pain", "renal colic", "kidney stone"), "severe abdominal/flank pain"),
    ComplaintPattern(("sickle cell", "sickle-cell"), "sickle cell pain crisis"),
    ComplaintPattern(("burn",), "severe pain from a burn"),
    ComplaintPattern(("headache",), "severe headache"),
    ComplaintPattern(("fracture", "dislocation", "deformity"), "severe pain from a fracture or dislocation"),
    ComplaintPattern(("eye pain",), "severe eye pain"),
)
SEVERE_PAIN_THRESHOLD = 7

# --- decision point D: resources estimated from the complaint (first match wins) ---
# 0: history, examination, prescription, simple dressing; 1: one lab panel, one X-ray or a simple
# procedure (laceration repair); 2: labs + imaging, IV fluids/medication, specialist consult.
RESOURCE_ESTIMATES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("abdominal pain", "shortness of breath", "difficulty breathing", "syncope", "fainted", "palpitations",
      "head injury", "flank pain", "vomiting and diarrhoea", "vomiting and diarrhea", "dehydration",
      "dizziness", "weakness", "cellulitis", "pneumonia", "fall", "fracture", "back pain with fever"), 2),
    (("laceration", "cut", "ankle injury", "ankle sprain", "wrist injury", "finger injury", "foot injury",
      "toe injury", "knee injury", "dysuria", "urinary", "burning urination", "foreign body",
      "back pain"), 1),
    (("prescription refill", "medication refill", "suture removal", "insect bite", "rash", "cold symptoms",
      "sore throat", "earache", "ear pain", "conjunctivitis", "red eye", "toothache", "dental pain",
      "dressing change", "sunburn", "runny nose"), 0),
)
UNKNOWN_COMPLAINT_RESOURCES = 2

# --- decision point A/C vital sign thresholds ---
# (max age in whole years inclusive, HR above, RR above): the handbook's danger-zone bands
DANGER_ZONE_BANDS: tuple[tuple[int, int, int], ...] = (
    (2, 160, 40),   # 3 months - 3 years (age 0 included: see module docstring)
    (8, 140, 30),   # 3 - 8 years
    (200, 100, 20),  # over 8 years
)
DANGER_ZONE_SPO2_BELOW = 92
LIFESAVING_SPO2_BELOW = 90
LIFESAVING_RR_AT_MOST = 8
LIFESAVING_RR_AT_LEAST = ((2, 60), (8, 50), (200, 40))
SHOCK_SBP_BELOW = 80
ADULT_HR_EXTREMES = (30, 180)  # below / above: unstable brady- or tachycardia (age > 8)

_NEGATION = re.compile(r"\b(no|not|denies|denied|without|negative for)\b")
_CLAUSE_BREAK = re.compile(r"[.;,:\n]| but ")


def _phrase_re(phrase: str) -> re.Pattern:
    return re.compile(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])")


def find_phrase(text: str, phrases: tuple[str, ...]) -> str | None:
    """The first phrase that occurs in `text` (lower-case, whole words) and is not negated in its clause
    ("denies chest pain", "no fever")."""
    low = text.lower()
    for phrase in phrases:
        for m in _phrase_re(phrase).finditer(low):
            clause_start = max((b.end() for b in _CLAUSE_BREAK.finditer(low, 0, m.start())), default=0)
            if not _NEGATION.search(low, clause_start, m.start()):
                return phrase
    return None


def match_table(case: TriageCase, table: tuple[ComplaintPattern, ...]) -> tuple[ComplaintPattern, str] | None:
    """The first table entry the case matches, with the phrase that matched."""
    complaint = f"{case.chief_complaint}. {case.notes}"
    everything = f"{complaint}. {case.history}"
    for entry in table:
        if entry.min_age is not None and case.age < entry.min_age:
            continue
        if entry.max_age is not None and case.age > entry.max_age:
            continue
        phrase = find_phrase(complaint, entry.phrases)
        if phrase is None:
            continue
        if entry.with_any and find_phrase(everything, entry.with_any) is None:
            continue
        return entry, phrase
    return None


def _band(age: int, bands):
    for row in bands:
        if age <= row[0]:
            return row
    return bands[-1]


def lifesaving_reason(case: TriageCase) -> str | None:
    v = case.vitals
    if v.consciousness in ("pain", "unresponsive"):
        return f"unresponsive (AVPU {v.consciousness!r})"
    if v.spo2 is not None and v.spo2 < LIFESAVING_SPO2_BELOW:
        return f"SpO2 {v.spo2}% < {LIFESAVING_SPO2_BELOW}%: severe respiratory distress"
    if v.respiratory_rate is not None:
        high = _band(case.age, LIFESAVING_RR_AT_LEAST)[1]
        if v.respiratory_rate <= LIFESAVING_RR_AT_MOST:
            return f"RR {v.respiratory_rate} <= {LIFESAVING_RR_AT_MOST}: needs airway/ventilation support"
        if v.respiratory_rate >= high:
            return f"RR {v.respiratory_rate} >= {high} for age {case.age}: severe respiratory distress"
    if v.systolic_bp is not None and v.systolic_bp < SHOCK_SBP_BELOW:
        shock_signs = []
        if v.heart_rate is not None and v.heart_rate > 100:
            shock_signs.append(f"HR {v.heart_rate}")
        if v.consciousness in ("voice", "new_confusion"):
            shock_signs.append(f"consciousness {v.consciousness}")
        if shock_signs:
            return f"SBP {v.systolic_bp} < {SHOCK_SBP_BELOW} with {' and '.join(shock_signs)}: shock"
    if v.heart_rate is not None and case.age > 8:
        low, high = ADULT_HR_EXTREMES
        if v.heart_rate < low or v.heart_rate > high:
            return f"HR {v.heart_rate} outside {low}-{high}: unstable rhythm"
    hit = match_table(case, LIFESAVING_COMPLAINTS)
    if hit:
        return f"{hit[0].reason} ({hit[1]!r})"
    return None


def danger_zone_reason(case: TriageCase) -> str | None:
    v = case.vitals
    _, hr_above, rr_above = _band(case.age, DANGER_ZONE_BANDS)
    found = []
    if v.heart_rate is not None and v.heart_rate > hr_above:
        found.append(f"HR {v.heart_rate} > {hr_above}")
    if v.respiratory_rate is not None and v.respiratory_rate > rr_above:
        found.append(f"RR {v.respiratory_rate} > {rr_above}")
    if v.spo2 is not None and v.spo2 < DANGER_ZONE_SPO2_BELOW:
        found.append(f"SpO2 {v.spo2}% < {DANGER_ZONE_SPO2_BELOW}%")
    if not found:
        return None
    return f"danger-zone vitals for age {case.age}: {', '.join(found)}"


def estimate_resources(case: TriageCase) -> tuple[int, str]:
    """(resources, where the number came from)."""
    if case.expected_resources is not None:
        return case.expected_resources, "recorded"
    for phrases, count in RESOURCE_ESTIMATES:
        phrase = find_phrase(case.chief_complaint, phrases)
        if phrase:
            return count, f"estimated from {phrase!r}"
    return UNKNOWN_COMPLAINT_RESOURCES, "complaint not in the resource table, assumed"


def rules_triage(case: TriageCase) -> RuleResult:
    """The ESI level the handbook's decision points demand, and the decision point that decided it."""
    reason = lifesaving_reason(case)
    if reason:
        return RuleResult(1, "A_lifesaving", reason)

    if case.vitals.consciousness in ("voice", "new_confusion"):
        return RuleResult(2, "B_confusion", f"altered consciousness ({case.vitals.consciousness})")
    hit = match_table(case, CONFUSION_COMPLAINTS)
    if hit:
        return RuleResult(2, "B_confusion", f"{hit[0].reason} ({hit[1]!r})")
    hit = match_table(case, HIGH_RISK_SITUATIONS)
    if hit:
        return RuleResult(2, "B_high_risk", f"{hit[0].reason} ({hit[1]!r})")
    pain = case.vitals.pain_score
    if pain is not None and pain >= SEVERE_PAIN_THRESHOLD:
        hit = match_table(case, SEVERE_PAIN_COMPLAINTS)
        if hit:
            return RuleResult(2, "B_severe_pain", f"pain {pain}/10: {hit[0].reason} ({hit[1]!r})")

    resources, source = estimate_resources(case)
    if resources >= 2:
        danger = danger_zone_reason(case)
        if danger:
            return RuleResult(2, "C_danger_vitals", f"{danger}; needs {resources} resources ({source})")
        return RuleResult(3, "D_resources", f"{resources} resources ({source})")
    if resources == 1:
        return RuleResult(4, "D_resources", f"one resource ({source})")
    return RuleResult(5, "D_resources", f"no resources ({source})")


def combine(model_level: int | None, rules: RuleResult) -> FinalTriage:
    """Final level = the more urgent of the model's and the rules' (1 is most urgent).
    Rules can raise the urgency the model proposed, never lower it; no model level -> the rules alone."""
    if rules.level not in ESI_LEVELS:
        raise ValueError(f"rules level must be one of 1-5, got {rules.level!r}")
    if model_level is None:
        return FinalTriage(
            level=rules.level, model_level=None, rules_level=rules.level, rule_fired=rules.rule,
            raised_by_rules=False,
            explanation=f"No model suggestion; ESI {rules.level} from the rules ({rules.rule}: {rules.reason}).",
        )
    if isinstance(model_level, bool) or model_level not in ESI_LEVELS:
        raise ValueError(f"model level must be one of 1-5, got {model_level!r}")
    if rules.level < model_level:
        return FinalTriage(
            level=rules.level, model_level=model_level, rules_level=rules.level, rule_fired=rules.rule,
            raised_by_rules=True,
            explanation=(f"Model suggested ESI {model_level}; rule {rules.rule} raised it to ESI {rules.level}: "
                         f"{rules.reason}."),
        )
    return FinalTriage(
        level=model_level, model_level=model_level, rules_level=rules.level, rule_fired=rules.rule,
        raised_by_rules=False,
        explanation=(f"Model suggested ESI {model_level}; the rules ({rules.rule}: {rules.reason}) give "
                     f"ESI {rules.level}, which does not make it more urgent."),
    )
