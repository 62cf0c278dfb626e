"""Knowledge-base verification of an EMR (SOAP) draft: deterministic checks, each finding with evidence and a span.

Checks (``Finding.check``):
- ``icd_exists``       the code is in the ICD-10-CM table shipped by ``simple-icd-10-cm`` (error);
- ``icd_billable``     the code is a leaf category/subcategory, i.e. billable (error), e.g. "I21" is not, "I21.4" is;
- ``drug_known``       the medication is in ``knowledge/drugs.json`` (warning: the other drug checks cannot run);
- ``dose_range``       single dose above the usual adult range, or daily total (dose x times a day) above the
                       maximum (error); below the usual range or dose not stated (warning);
- ``allergy_conflict`` the drug, or its class, is a recorded allergy (error; opioid class: warning), or a
                       cross-reacting class (penicillin -> cephalosporin: warning);
- ``interaction``      a serious pair among the plan's drugs, and between the plan and current medications
                       (severity from ``knowledge/interactions.json``);
- ``vitals_mismatch``  a number in Objective ("HR 80", "BP 120/80", "SpO2 98%", "T 37.1") differs from the
                       recorded vitals beyond a small tolerance, or a claim ("afebrile", "tachycardic",
                       "vital signs normal", "alert and oriented") contradicts them (error);
- ``triage_consistency`` the assessment's codes or words name a condition that needs a more urgent ESI level
                       than the one recorded (error), ESI 1 with only minor codes (warning), or the draft's
                       ESI differs from the encounter's (warning).

Spans. ``Finding.section`` is "subjective" | "objective" | "assessment" | "plan" (offsets into that text),
"icd_codes" (offsets into ``code_line(code)`` of item ``Finding.item``) or "medications" (offsets into
``medication_line(order)`` of item ``Finding.item``). ``finding_text(draft, finding)`` returns the spanned
text. Evidence names the code or drug as the draft wrote it, and the fact or source the check relied on.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from apps.medical.clinical import Vitals
from apps.medical.knowledge import Drug, Knowledge, default_knowledge

Severity = Literal["error", "warning", "info"]
TEXT_SECTIONS = ("subjective", "objective", "assessment", "plan")


@dataclass(frozen=True)
class CodedDiagnosis:
    code: str
    description: str = ""


@dataclass(frozen=True)
class MedicationOrder:
    name: str
    dose_mg: float | None = None
    dose_text: str = ""
    route: str = ""
    frequency: str = ""
    times_per_day: int | None = None


@dataclass(frozen=True)
class DraftContent:
    subjective: str = ""
    objective: str = ""
    assessment: str = ""
    plan: str = ""
    icd_codes: list[CodedDiagnosis] = field(default_factory=list)
    medications: list[MedicationOrder] = field(default_factory=list)
    triage_level: int | None = None


@dataclass(frozen=True)
class EncounterFacts:
    age: int
    sex: str
    vitals: Vitals
    allergies: list[str] = field(default_factory=list)
    current_medications: list[str] = field(default_factory=list)
    triage_level: int | None = None


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    message: str
    evidence: str
    section: str
    start: int
    end: int
    item: int | None = None  # index into icd_codes / medications for those sections


def verified(findings: list[Finding]) -> bool:
    """True when no finding is an error."""
    return not any(f.severity == "error" for f in findings)


def code_line(c: CodedDiagnosis) -> str:
    """The line a code's spans point into."""
    return f"{c.code} {c.description}".strip()


def medication_line(m: MedicationOrder) -> str:
    """The line a medication's spans point into: name, dose, route, frequency."""
    return " ".join(p for p in (m.name, _dose_label(m), m.route, m.frequency) if p)


def _dose_label(m: MedicationOrder) -> str:
    if m.dose_text:
        return str(m.dose_text)
    mg = _number(m.dose_mg)
    return f"{mg:g} mg" if mg is not None else ("" if m.dose_mg is None else str(m.dose_mg))


def _number(value) -> float | None:
    """A float from model output that may be a number, a numeric string, or junk (None)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def finding_text(draft: DraftContent, f: Finding) -> str:
    """The text a finding's span covers."""
    if f.section in TEXT_SECTIONS:
        text = getattr(draft, f.section)
    elif f.section == "icd_codes":
        text = code_line(draft.icd_codes[f.item])
    elif f.section == "medications":
        text = medication_line(draft.medications[f.item])
    else:
        return ""
    return text[f.start:f.end]


# ---------------------------------------------------------------- ICD-10-CM

@lru_cache(maxsize=1)
def _icd():
    import warnings

    with warnings.catch_warnings():  # the package loads its data with a deprecated importlib API
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm  # ~3 s to load the table: only when a draft is verified
    return simple_icd_10_cm


def _icd_table_name() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ICD-10-CM table of simple-icd-10-cm {version('simple-icd-10-cm')}"
    except PackageNotFoundError:  # pragma: no cover
        return "ICD-10-CM table of simple-icd-10-cm"


def check_codes(draft: DraftContent) -> list[Finding]:
    icd = _icd()
    out = []
    for i, c in enumerate(draft.icd_codes):
        code = c.code.strip().upper()
        line = code_line(c)
        start = max(0, line.find(c.code.strip())) if c.code.strip() else 0
        span = dict(section="icd_codes", start=start, end=start + len(c.code.strip()), item=i)
        if not code:
            out.append(Finding("icd_exists", "error", "empty ICD-10-CM code", "code: ''", **span))
            continue
        if not icd.is_valid_item(code):
            out.append(Finding("icd_exists", "error", f"{c.code} is not an ICD-10-CM code",
                               f"{c.code}: not in the {_icd_table_name()}", **span))
            continue
        official = icd.get_description(code)
        if not (icd.is_category_or_subcategory(code) and icd.is_leaf(code)):
            kind = "chapter or block" if icd.is_chapter_or_block(code) else "category with subcodes"
            children = [] if icd.is_chapter_or_block(code) else icd.get_children(code)[:4]
            hint = f"; use a more specific code such as {', '.join(children)}" if children else ""
            out.append(Finding("icd_billable", "error", f"{c.code} is a {kind}, not a billable code{hint}",
                               f"{c.code} ({official}): has subcodes in the {_icd_table_name()}", **span))
    return out


# ---------------------------------------------------------------- medications

_DOSE = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|milligrams?|g|grams?|mcg|micrograms?|µg|ug)\b", re.I)
_UNIT_MG = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "gram": 1000.0, "grams": 1000.0,
            "mcg": 0.001, "microgram": 0.001, "micrograms": 0.001, "µg": 0.001, "ug": 0.001}
# frequency phrases -> times a day (checked in order; "every N hours" handled separately)
FREQUENCIES: tuple[tuple[str, int], ...] = (
    (r"\b(four times (a|per) day|four times daily|qds|qid|q\.i\.d\.?)\b", 4),
    (r"\b(three times (a|per) day|three times daily|tds|tid|t\.i\.d\.?)\b", 3),
    (r"\b(twice (a|per) day|twice daily|bd|bid|b\.i\.d\.?)\b", 2),
    (r"\b(once (a|per) day|once daily|daily|od|qd|nocte|mane|at night|in the morning|stat|once|single dose)\b", 1),
)
_EVERY_HOURS = re.compile(r"\b(?:every|q)\s*(\d+)(?:\s*(?:-|to)\s*(\d+))?\s*(?:h|hr|hrs|hours?|hourly)\b", re.I)
_HOURLY = re.compile(r"\b(\d+)(?:\s*-\s*(\d+))?[- ]hourly\b", re.I)


def dose_in_mg(m: MedicationOrder) -> tuple[float | None, tuple[int, int] | None]:
    """(single dose in mg, span of the dose in medication_line) from dose_mg, else parsed from dose_text."""
    line = medication_line(m)
    label = _dose_label(m)
    at = line.find(label, len(m.name)) if label else -1
    span = (at, at + len(label)) if at >= 0 else None
    if _number(m.dose_mg) is not None:
        return _number(m.dose_mg), span
    hit = _DOSE.search(m.dose_text or "")
    if not hit:
        return None, span
    return float(hit.group(1)) * _UNIT_MG[hit.group(2).lower()], span


def times_per_day(m: MedicationOrder) -> int | None:
    """times_per_day, else from the frequency ("every 4-6 hours" counts the most frequent: 6)."""
    given = _number(m.times_per_day)
    if given is not None and given >= 1:
        return int(given)
    text = m.frequency or ""
    hit = _EVERY_HOURS.search(text) or _HOURLY.search(text)
    if hit:
        hours = min(int(h) for h in hit.groups() if h)
        return max(1, 24 // hours) if hours else None
    for pattern, n in FREQUENCIES:
        if re.search(pattern, text, re.I):
            return n
    return None


def _fmt(mg: float) -> str:
    return f"{mg:g} mg"


def check_medications(draft: DraftContent, facts: EncounterFacts, kb: Knowledge) -> list[Finding]:
    out: list[Finding] = []
    known: list[tuple[int, MedicationOrder, Drug]] = []
    for i, m in enumerate(draft.medications):
        line = medication_line(m)
        name_span = dict(section="medications", start=0, end=len(m.name), item=i)
        drug = kb.find_drug(m.name)
        if drug is None:
            out.append(Finding("drug_known", "warning",
                               f"{m.name} is not in the drug knowledge base: dose, allergy and interaction checks "
                               "did not run", f"{m.name}: not among the {len(kb.drugs)} drugs of drugs.json",
                               **name_span))
            continue
        known.append((i, m, drug))
        out += _dose_findings(i, m, drug, facts, line)
        out += _allergy_findings(i, m, drug, facts, kb)
    out += _interaction_findings(known, facts, kb)
    return out


def _dose_findings(i, m: MedicationOrder, drug: Drug, facts: EncounterFacts, line: str) -> list[Finding]:
    out = []
    dose, span = dose_in_mg(m)
    low, high = drug.single_dose_mg
    written = m.name if m.name.lower() == drug.name else f"{m.name} ({drug.name})"
    usual = f"usual adult single dose {_fmt(low)}-{_fmt(high)}" + (
        f", max {_fmt(drug.max_daily_mg)}/day" if drug.max_daily_mg else ", no fixed daily maximum")
    evidence = f"{written}: {usual}. Source: {drug.source}"
    if dose is None:
        return [Finding("dose_range", "warning", f"{m.name}: dose not stated", evidence, "medications",
                        0, len(line), i)]
    start, end = span or (0, len(line))
    if dose <= 0:
        return [Finding("dose_range", "error", f"{m.name}: dose {_fmt(dose)} is not a positive amount", evidence,
                        "medications", start, end, i)]
    child = facts.age < 16
    if dose > high:
        out.append(Finding("dose_range", "error",
                           f"{m.name} {_fmt(dose)} is above the usual adult single dose ({_fmt(high)})",
                           evidence, "medications", start, end, i))
    elif dose < low and not child:
        out.append(Finding("dose_range", "warning",
                           f"{m.name} {_fmt(dose)} is below the usual adult single dose ({_fmt(low)})",
                           evidence, "medications", start, end, i))
    per_day = times_per_day(m)
    if drug.max_daily_mg is not None:
        if per_day is None:
            out.append(Finding("dose_range", "info", f"{m.name}: frequency not understood, daily total not checked",
                               evidence, "medications", start, len(line), i))
        elif dose * per_day > drug.max_daily_mg:
            out.append(Finding("dose_range", "error",
                               f"{m.name} {_fmt(dose)} x {per_day} a day = {_fmt(dose * per_day)} exceeds the "
                               f"maximum of {_fmt(drug.max_daily_mg)} a day",
                               evidence, "medications", start, len(line), i))
    if child:
        out.append(Finding("dose_range", "info",
                           f"patient is {facts.age}: ranges are adult doses (paediatric doses are weight-based)",
                           evidence, "medications", start, end, i))
    return out


def _allergy_findings(i, m: MedicationOrder, drug: Drug, facts: EncounterFacts, kb: Knowledge) -> list[Finding]:
    out = []
    klass = kb.classes[drug.drug_class]
    for allergy in facts.allergies:
        for mention in kb.mentions(allergy):
            allergen_class = kb.drugs[mention.key].drug_class if mention.kind == "drug" else mention.key
            written = allergy[mention.start:mention.end]
            evidence_base = f"{m.name} ({drug.name}) vs recorded allergy: {allergy!r}"
            if mention.kind == "drug" and mention.key == drug.name:
                out.append(Finding("allergy_conflict", "error", f"{m.name} is a recorded allergy ({written})",
                                   evidence_base, "medications", 0, len(m.name), i))
            elif allergen_class == drug.drug_class:
                note = f"; {klass.allergy_note}" if klass.allergy_note else ""
                out.append(Finding("allergy_conflict", klass.allergy_class_severity,
                                   f"{m.name} is one of the {klass.label}; recorded allergy to {written}",
                                   f"{evidence_base}; {drug.name} is one of the {klass.label}{note}",
                                   "medications", 0, len(m.name), i))
            else:
                for cross in kb.cross_reactivity:
                    if cross.allergy_class == allergen_class and cross.drug_class == drug.drug_class:
                        out.append(Finding("allergy_conflict", cross.severity,
                                           f"{m.name} ({klass.label}) may cross-react with the recorded allergy "
                                           f"to {written}",
                                           f"{evidence_base}; {cross.note}. Source: {cross.source}",
                                           "medications", 0, len(m.name), i))
    return out


def _interaction_findings(known, facts: EncounterFacts, kb: Knowledge) -> list[Finding]:
    out = []
    current = []
    for text in facts.current_medications:
        drug = kb.find_drug(text)
        if drug is not None and all(drug.name != d.name for _, d in current):
            current.append((text, drug))
    seen: set[frozenset] = set()
    for pos, (i, m, drug) in enumerate(known):
        others = [(o.name, d, "plan") for _, o, d in known[pos + 1:]] + [(t, d, "current") for t, d in current]
        for other_text, other, where in others:
            pair = frozenset((drug.name, other.name))
            if other.name == drug.name or pair in seen:
                continue
            for inter in kb.interactions_between(drug, other):
                seen.add(pair)
                source = "also in the plan" if where == "plan" else "a current medication"
                out.append(Finding(
                    "interaction", inter.severity,
                    f"{m.name} with {other_text} ({source}): {inter.reason}",
                    f"{m.name} + {other_text} ({drug.name} + {other.name}): {inter.reason}. Source: {inter.source}",
                    "medications", 0, len(m.name), i,
                ))
    return out


# ---------------------------------------------------------------- vitals in Objective

@dataclass(frozen=True)
class _Number:
    field: str
    pattern: re.Pattern
    tolerance: float
    label: str


_SEP = r"\s*(?:of|was|is|at|:|=)?\s*"
NUMBERS: tuple[_Number, ...] = (
    _Number("heart_rate", re.compile(r"\b(?:HR|heart rate|pulse(?: rate)?)" + _SEP + r"(\d{1,3})\b", re.I),
            10, "heart rate"),
    _Number("respiratory_rate",
            re.compile(r"\b(?:RR|resp(?:iratory)? rate|respirations|resps)" + _SEP + r"(\d{1,2})\b", re.I),
            4, "respiratory rate"),
    _Number("spo2", re.compile(r"(?:\bSpO2|\bSpO₂|\bO2 sat(?:uration)?s?|\bsats|\boxygen saturations?|\bsaturations?)"
                               + _SEP + r"(\d{2,3})\s*%?", re.I), 2, "SpO2"),
    _Number("temperature_c",
            re.compile(r"\b(?:T|temp|temperature)" + _SEP + r"(\d{2,3}(?:\.\d+)?)\s*(?:°|º|deg(?:rees)?)?\s*([CF])?\b",
                       re.I), 0.3, "temperature"),
    _Number("pain_score", re.compile(r"\bpain(?: score)?" + _SEP + r"(\d{1,2})\s*/\s*10\b", re.I), 1, "pain score"),
)
_BP = re.compile(r"\b(?:BP|blood pressure)" + _SEP + r"(\d{2,3})\s*/\s*(\d{2,3})\b", re.I)
BP_TOLERANCE = 10


def _abnormal(v: Vitals) -> list[str]:
    found = []
    if v.heart_rate is not None and not 50 <= v.heart_rate <= 100:
        found.append(f"HR {v.heart_rate}")
    if v.systolic_bp is not None and v.systolic_bp < 90:
        found.append(f"SBP {v.systolic_bp}")
    if v.respiratory_rate is not None and not 10 <= v.respiratory_rate <= 20:
        found.append(f"RR {v.respiratory_rate}")
    if v.spo2 is not None and v.spo2 < 94:
        found.append(f"SpO2 {v.spo2}%")
    if v.temperature_c is not None and not 35.5 <= v.temperature_c < 38.0:
        found.append(f"T {v.temperature_c} C")
    if v.consciousness not in (None, "alert"):
        found.append(f"consciousness {v.consciousness}")
    return found


# (claim pattern, contradicted when(vitals) -> recorded-fact string or None)
CLAIMS: tuple[tuple[re.Pattern, Callable[[Vitals], str | None]], ...] = (
    (re.compile(r"\bafebrile\b|\bapyrexial\b", re.I),
     lambda v: f"recorded temperature {v.temperature_c} C" if v.temperature_c is not None and v.temperature_c >= 38.0
     else None),
    (re.compile(r"(?<!a)\bfebrile\b|(?<!a)\bpyrexial\b", re.I),
     lambda v: f"recorded temperature {v.temperature_c} C" if v.temperature_c is not None and v.temperature_c < 37.5
     else None),
    (re.compile(r"\btachycardi(?:c|a)\b", re.I),
     lambda v: f"recorded HR {v.heart_rate}" if v.heart_rate is not None and v.heart_rate <= 100 else None),
    (re.compile(r"\bbradycardi(?:c|a)\b", re.I),
     lambda v: f"recorded HR {v.heart_rate}" if v.heart_rate is not None and v.heart_rate >= 60 else None),
    (re.compile(r"\bhypotensi(?:ve|on)\b", re.I),
     lambda v: f"recorded BP {v.systolic_bp}/{v.diastolic_bp}" if v.systolic_bp is not None and v.systolic_bp >= 100
     else None),
    (re.compile(r"\bnormotensive\b", re.I),
     lambda v: f"recorded BP {v.systolic_bp}/{v.diastolic_bp}"
     if v.systolic_bp is not None and not 90 <= v.systolic_bp < 160 else None),
    (re.compile(r"\btachypno?eic\b|\btachypno?ea\b", re.I),
     lambda v: f"recorded RR {v.respiratory_rate}" if v.respiratory_rate is not None and v.respiratory_rate <= 20
     else None),
    (re.compile(r"\bhypox(?:ic|ia|aemic|emic|aemia|emia)\b", re.I),
     lambda v: f"recorded SpO2 {v.spo2}%" if v.spo2 is not None and v.spo2 >= 95 else None),
    (re.compile(r"\bsaturating well\b|\bgood saturations?\b|\bnormal saturations?\b|\bnot hypoxic\b", re.I),
     lambda v: f"recorded SpO2 {v.spo2}%" if v.spo2 is not None and v.spo2 < 94 else None),
    (re.compile(r"\b(?:vital signs|vitals|observations|obs)\s+(?:are\s+|were\s+)?(?:normal|stable|unremarkable|"
                r"within normal limits)\b|\bnormal (?:vital signs|vitals|observations|obs)\b|\bVSS\b|"
                r"\bhae?modynamically stable\b", re.I),
     lambda v: "recorded " + ", ".join(_abnormal(v)) if _abnormal(v) else None),
    (re.compile(r"\balert and orie?ntated\b|\balert and oriented\b|\bGCS 15\b|\bA\s?&\s?O\s?x\s?[34]\b|"
                r"\bfully conscious\b", re.I),
     lambda v: f"recorded consciousness {v.consciousness}" if v.consciousness not in (None, "alert") else None),
    (re.compile(r"\bpain[- ]free\b|\bno pain\b", re.I),
     lambda v: f"recorded pain score {v.pain_score}/10" if v.pain_score is not None and v.pain_score >= 4
     else None),
)
_NEGATED_BEFORE = re.compile(r"\b(?:not|no|non|never)\s+(?:\w+\s+){0,1}$", re.I)


def check_vitals(draft: DraftContent, facts: EncounterFacts) -> list[Finding]:
    text, v = draft.objective or "", facts.vitals
    out = []
    for num in NUMBERS:
        recorded = getattr(v, num.field)
        if recorded is None:
            continue
        for hit in num.pattern.finditer(text):
            stated = float(hit.group(1))
            if num.field == "temperature_c":
                unit = (hit.group(2) or "").upper()
                if unit == "F" or (not unit and stated > 50):
                    stated = round((stated - 32) * 5 / 9, 1)
            if abs(stated - recorded) > num.tolerance:
                out.append(Finding("vitals_mismatch", "error",
                                   f"Objective says {hit.group(0).strip()!r} but the recorded {num.label} is "
                                   f"{recorded:g}", f"recorded {num.label}: {recorded:g}", "objective",
                                   hit.start(), hit.end()))
    if v.systolic_bp is not None and v.diastolic_bp is not None:
        for hit in _BP.finditer(text):
            sbp, dbp = int(hit.group(1)), int(hit.group(2))
            if abs(sbp - v.systolic_bp) > BP_TOLERANCE or abs(dbp - v.diastolic_bp) > BP_TOLERANCE:
                out.append(Finding("vitals_mismatch", "error",
                                   f"Objective says {hit.group(0)!r} but the recorded BP is "
                                   f"{v.systolic_bp}/{v.diastolic_bp}",
                                   f"recorded BP: {v.systolic_bp}/{v.diastolic_bp}", "objective",
                                   hit.start(), hit.end()))
    for pattern, contradicted in CLAIMS:
        for hit in pattern.finditer(text):
            if "not hypoxic" not in hit.group(0).lower() and _NEGATED_BEFORE.search(text[:hit.start()]):
                continue
            fact = contradicted(v)
            if fact:
                out.append(Finding("vitals_mismatch", "error",
                                   f"Objective says {hit.group(0)!r}, but {fact}", fact, "objective",
                                   hit.start(), hit.end()))
    return out


# ---------------------------------------------------------------- triage consistency

# ICD-10-CM prefix -> (least urgent ESI consistent with it, condition)
URGENT_CODES: tuple[tuple[str, int, str], ...] = (
    ("I46", 1, "cardiac arrest"), ("R57", 1, "shock"), ("R40.2", 1, "coma"), ("T78.2", 2, "anaphylactic shock"),
    ("I21", 2, "acute myocardial infarction"), ("I22", 2, "subsequent myocardial infarction"),
    ("I24", 2, "acute ischaemic heart disease"), ("I60", 2, "subarachnoid haemorrhage"),
    ("I61", 2, "intracerebral haemorrhage"), ("I62", 2, "intracranial haemorrhage"), ("I63", 2, "cerebral infarction"),
    ("I71.0", 2, "aortic dissection"), ("I26", 2, "pulmonary embolism"), ("A41", 2, "sepsis"),
    ("R65.2", 2, "severe sepsis"), ("J96.0", 2, "acute respiratory failure"), ("E10.1", 2, "diabetic ketoacidosis"),
    ("E11.1", 2, "diabetic ketoacidosis"), ("R45.851", 2, "suicidal ideation"), ("T14.91", 2, "suicide attempt"),
    ("N44.0", 2, "testicular torsion"), ("O00", 2, "ectopic pregnancy"), ("K92.0", 2, "haematemesis"),
    ("S06", 3, "intracranial injury"),
)
URGENT_WORDS: tuple[tuple[re.Pattern, int, str], ...] = (
    (re.compile(r"\bcardiac arrest\b", re.I), 1, "cardiac arrest"),
    (re.compile(r"\b(?:n?stemi|myocardial infarction|acute coronary syndrome|ACS)\b", re.I), 2,
     "acute coronary syndrome"),
    (re.compile(r"\b(?:stroke|CVA|subarachnoid|intracranial (?:haemorrhage|hemorrhage|bleed))\b", re.I), 2, "stroke"),
    (re.compile(r"\b(?:sepsis|septic shock)\b", re.I), 2, "sepsis"),
    (re.compile(r"\banaphylaxis\b", re.I), 2, "anaphylaxis"),
    (re.compile(r"\bpulmonary embol(?:ism|us)\b", re.I), 2, "pulmonary embolism"),
    (re.compile(r"\baortic dissection\b", re.I), 2, "aortic dissection"),
    (re.compile(r"\b(?:diabetic ketoacidosis|DKA)\b", re.I), 2, "diabetic ketoacidosis"),
    (re.compile(r"\bsuicidal\b", re.I), 2, "suicidal ideation"),
)
MINOR_CODES = ("J00", "J02.9", "J06.9", "H10", "H66.9", "L30.9", "S93.4", "Z76.0", "K08.8", "W57", "S60")
_NEGATED_WORD = re.compile(r"\b(?:no|not|without|ruled out|excluded|negative for)\b[^.;\n]*$", re.I)


def _code_key(code: str) -> str:
    code = code.strip().upper()
    return code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def check_triage(draft: DraftContent, facts: EncounterFacts) -> list[Finding]:
    out = []
    level = facts.triage_level if facts.triage_level is not None else draft.triage_level
    if facts.triage_level is not None and draft.triage_level is not None and facts.triage_level != draft.triage_level:
        at = draft.assessment.find(f"ESI {draft.triage_level}")
        span = (at, at + 5) if at >= 0 else (0, 0)
        out.append(Finding("triage_consistency", "warning",
                           f"draft states ESI {draft.triage_level} but the encounter was triaged ESI "
                           f"{facts.triage_level}", f"encounter triage: ESI {facts.triage_level}", "assessment",
                           *span))
    if level is None:
        return out
    coded = False
    for i, c in enumerate(draft.icd_codes):
        key = _code_key(c.code)
        for prefix, worst, condition in URGENT_CODES:
            if key.startswith(prefix) and level > worst:
                start = max(0, code_line(c).find(c.code.strip()))
                out.append(Finding("triage_consistency", "error",
                                   f"assessment codes {c.code} ({condition}) but triage is ESI {level}; "
                                   f"{condition} needs ESI {worst} or more urgent",
                                   f"{c.code}: {condition}; recorded triage ESI {level}", "icd_codes",
                                   start, start + len(c.code.strip()), i))
                coded = True
                break
    if not coded:
        for pattern, worst, condition in URGENT_WORDS:
            for hit in pattern.finditer(draft.assessment):
                clause = draft.assessment[:hit.start()]
                if _NEGATED_WORD.search(clause) or level <= worst:
                    continue
                out.append(Finding("triage_consistency", "error",
                                   f"assessment names {hit.group(0)!r} ({condition}) but triage is ESI {level}; "
                                   f"it needs ESI {worst} or more urgent",
                                   f"recorded triage ESI {level}", "assessment", hit.start(), hit.end()))
                break
    if level == 1 and draft.icd_codes and all(_code_key(c.code).startswith(MINOR_CODES) for c in draft.icd_codes):
        c = draft.icd_codes[0]
        out.append(Finding("triage_consistency", "warning",
                           f"triage is ESI 1 but every assessment code is a minor condition ({c.code} ...)",
                           f"{c.code}; recorded triage ESI 1", "icd_codes", 0, len(c.code.strip()), 0))
    return out


# ---------------------------------------------------------------- entry point

def verify_draft(draft: DraftContent, facts: EncounterFacts, knowledge: Knowledge | None = None) -> list[Finding]:
    """Every finding of every check, in check order (codes, medications, vitals, triage)."""
    kb = knowledge or default_knowledge()
    return (check_codes(draft) + check_medications(draft, facts, kb) + check_vitals(draft, facts)
            + check_triage(draft, facts))
