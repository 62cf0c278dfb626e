"""Abbreviations, synonyms and spelling variants of emergency-department notes, each mapped to one canonical
phrase (lower case, as a rule table writes it), with the source it comes from.

An entry's ``surface`` is written literally (case-insensitive unless ``case_sensitive``; spaces match any
run of whitespace or hyphens, a hyphen matches none, a space or a hyphen, an apostrophe may be left out)
or, with ``pattern=True``, as a regular expression over lower-case text. ``context`` restricts an entry
to the places where it is safe: an ambiguous abbreviation expands only where the check says so.
``broader`` names canonical phrases the entry also stands for (melaena is a gastrointestinal bleed).
``shadows`` means the words inside the surface do not stand for themselves: "near syncope" is not
syncope, "heat stroke" is not a stroke.

Policy for ambiguous abbreviations (each is tested both ways in tests/apps/medical/test_text_lexicon.py):
- ``PE``: pulmonary embolism vs "physical exam(ination)". Upper case only, and only next to words that
  make the embolism reading safe ("r/o PE", "?PE", "h/o PE", "massive PE", "no PE on CTPA", "DVT/PE");
  never before ":" (a section header). Anywhere else it is left as written.
- ``CP``: chest pain vs cerebral palsy. Chest pain, unless the note names cerebral palsy or its
  hallmarks (spastic, quadriplegia, diplegia, G-tube, baclofen pump, developmental delay); there it is
  cerebral palsy. Missing chest pain is the dangerous error, so the cerebral palsy cues are narrow.
- ``HA``: headache vs hepatitis A / hyaluronic acid. Upper case (or "h/a"), not after "hep", not
  before vaccine/antibody words.
- ``SI``: suicidal ideation vs sacroiliac. Upper case, not before "joint".
- ``LOC``: loss vs level of consciousness. "decreased/altered/reduced LOC" is altered mental status;
  "LOC:" is a field label and is left alone.
- ``MS`` (mental status / multiple sclerosis / morphine or magnesium sulphate, on the Joint Commission
  do-not-use list), ``OD`` and single letters (L, R) are never expanded.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

STEDMAN = "Stedman's Medical Abbreviations, Acronyms & Symbols"
STEDMAN_JC = STEDMAN + "; not on the Joint Commission do-not-use list"
MESH = "MeSH entry term"
MESH_TREE = "MeSH tree (narrower term of the canonical descriptor)"
DERIVED = "adjectival or inflected form of the canonical term"
CLINICAL = "clinical synonym in emergency-department usage (clinician-curated here, no external list)"
SPELLING = "British/American spelling variant (Oxford English Dictionary / Merriam-Webster)"
CANONICAL = "canonical form"
LAY = "lay or colloquial term in triage notes (clinician-curated here, no external list)"

ContextCheck = Callable[[str, int, int], bool]


@dataclass(frozen=True)
class Entry:
    surface: str
    canonical: str
    source: str
    case_sensitive: bool = False
    pattern: bool = False
    context: ContextCheck | None = None
    broader: tuple[str, ...] = ()
    shadows: bool = False

    def __post_init__(self):
        if self.canonical != self.canonical.lower().strip():
            raise ValueError(f"canonical phrase must be lower case and stripped, got {self.canonical!r}")
        if not self.source:
            raise ValueError(f"entry {self.surface!r} has no source")


# --- context checks for ambiguous abbreviations: (text as written, start, end) -> expand here? ---
_CP_CUES = re.compile(
    r"cerebral\s+palsy|spastic|quadripleg|tetrapleg|diplegi|\bg[\s-]?tube|baclofen\s+pump|developmental\s+delay",
    re.IGNORECASE)
_PE_BEFORE = re.compile(
    r"(?:r/o|rule\s+out|ruled\s+out|rules\s+out|\?|h/o|hx\s+of|hx|history\s+of|concern\s+for|concerning\s+for|"
    r"suspected|suspect|suspicion\s+(?:of|for)|suspicious\s+for|possible|probable|likely|known|recent|massive|"
    r"saddle|sub-?massive|bilateral|segmental|subsegmental|acute|chronic|prior|previous|recurrent|provoked|"
    r"unprovoked|diagnosed\s+with|dx(?:\s+of)?|treated\s+for|anticoagulated\s+for|workup\s+for|w/u\s+for|"
    r"evaluate\s+for|eval\s+for|wells(?:\s+score)?(?:\s+for)?|perc(?:\s+rule)?(?:\s+for)?|no|"
    r"dvt\s*(?:/|and|or|&|\+))\s*$",
    re.IGNORECASE)
_PE_AFTER = re.compile(
    r"^\s*(?:on\s+(?:ct|cta|ctpa|imaging|v/?q|scan)|protocol|study|risk|score|\?|(?:/|and|or|&|\+)\s*dvt)",
    re.IGNORECASE)
_HEADER_AFTER = re.compile(r"^\s*[:=]")


def _not_costovertebral(text: str, start: int, end: int) -> bool:
    """"CVA tenderness" / "CVA angle" is the costovertebral angle (renal), not a stroke."""
    return not re.match(r"\s*(?:tender|tenderness|angle|pain|percussion|ttp)\b", text[end:end + 16], re.IGNORECASE)


def _not_cerebral_palsy(text: str, start: int, end: int) -> bool:
    return _CP_CUES.search(text) is None


def _cerebral_palsy(text: str, start: int, end: int) -> bool:
    return _CP_CUES.search(text) is not None


def _pulmonary_embolism(text: str, start: int, end: int) -> bool:
    after = text[end:end + 24]
    if _HEADER_AFTER.match(after):
        return False
    return bool(_PE_BEFORE.search(text[max(0, start - 32):start]) or _PE_AFTER.match(after))


def _headache(text: str, start: int, end: int) -> bool:
    if re.search(r"hep(?:atitis)?\.?\s*$", text[max(0, start - 12):start], re.IGNORECASE):
        return False
    return not re.match(r"\s*(?:vaccin|antibod|ab\b|igg|igm|titer|titre|filler|inject)", text[end:end + 16],
                        re.IGNORECASE)


def _suicidal(text: str, start: int, end: int) -> bool:
    return not re.match(r"\s*(?:joint|jt|joints|dysfunction|pain)\b", text[end:end + 16], re.IGNORECASE)


def _loss_of_consciousness(text: str, start: int, end: int) -> bool:
    return not _HEADER_AFTER.match(text[end:end + 4])


def _weak(text: str, start: int, end: int) -> bool:
    return not re.match(r"\s*(?:pulses?|cry|stream|signal|positive|negative|acid|base|coffee|tea)\b",
                        text[end:end + 16], re.IGNORECASE)


def _fits(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 14):start]
    if re.search(r"\b(?:it|that|which|this|who|what|shoe|shoes|ring|cast|splint|brace|device|mask|one)\s*$", before,
                 re.IGNORECASE):
        return False
    return not re.match(r"\s*(?:well|nicely|comfortably|properly|correctly|poorly|in|into|the|criteria|"
                        r"description|with|within|under|over|his|her|their)\b", text[end:end + 16], re.IGNORECASE)


def _fitting(text: str, start: int, end: int) -> bool:
    if re.search(r"\b(?:well|poorly|ill|tight|tightly|loose|loosely|properly|badly|a|the|cast|splint|brace|"
                 r"for|after|mask)[\s-]*$", text[max(0, start - 12):start], re.IGNORECASE):
        return False
    return not re.match(r"\s*(?:of|for|a|an|the|cast|splint|brace|mask|room)\b", text[end:end + 12], re.IGNORECASE)


E = Entry
_SOB = "shortness of breath"
_GIB = ("gastrointestinal bleeding",)
_REL = r"(?:his|her|their|my|the)\s+"

ENTRIES: tuple[Entry, ...] = (
    # --- chest pain / cerebral palsy (CP policy in the module docstring) ---
    E("cp", "chest pain", STEDMAN_JC, context=_not_cerebral_palsy),
    E("cp", "cerebral palsy", STEDMAN_JC, context=_cerebral_palsy),
    E("c/p", "chest pain", STEDMAN_JC),
    E("chestpain", "chest pain", LAY),
    E(r"pain\s+in\s+(?:(?:the|his|her|their|my)\s+)?chest", "chest pain", LAY, pattern=True),
    # --- acute coronary syndrome / myocardial infarction ---
    E("MI", "myocardial infarction", STEDMAN_JC, case_sensitive=True),
    E("AMI", "acute myocardial infarction", STEDMAN_JC, case_sensitive=True),
    E("heart attack", "myocardial infarction", MESH),
    E("myocardial infarct", "myocardial infarction", CLINICAL),
    E("stemi", "st elevation myocardial infarction", STEDMAN_JC),
    E("st elevation mi", "st elevation myocardial infarction", STEDMAN_JC),
    E("nstemi", "non st elevation myocardial infarction", STEDMAN_JC),
    E("non-stemi", "non st elevation myocardial infarction", STEDMAN_JC),
    E("acs", "acute coronary syndrome", STEDMAN_JC),
    # --- breathing ---
    E("sob", _SOB, STEDMAN_JC),
    E("soboe", _SOB + " on exertion", STEDMAN_JC),
    E("DOE", _SOB + " on exertion", STEDMAN_JC, case_sensitive=True),
    E("dyspnea on exertion", _SOB + " on exertion", MESH),
    E("dyspnoea on exertion", _SOB + " on exertion", SPELLING),
    E("dib", _SOB, STEDMAN_JC),
    E("dyspnea", _SOB, MESH),
    E("dyspnoea", _SOB, SPELLING),
    E("dyspneic", _SOB, DERIVED),
    E("dyspnoeic", _SOB, SPELLING),
    E("breathlessness", _SOB, MESH),
    E("breathless", _SOB, LAY),
    E("short of breath", _SOB, LAY),
    E("difficulty breathing", _SOB, LAY),
    E("difficulty in breathing", _SOB, LAY),
    E("trouble breathing", _SOB, LAY),
    E("breathing difficulty", _SOB, LAY),
    E("breathing difficulties", _SOB, DERIVED),
    E(r"(?:can'?t|cannot|can\s+not|could\s?n'?t|unable\s+to)\s+catch\s+(?:(?:his|her|their|my)\s+)?breath", _SOB,
      LAY, pattern=True),
    E(r"(?:can'?t|cannot|can\s+not|unable\s+to)\s+breathe", _SOB, LAY, pattern=True),
    E("air hunger", _SOB, LAY),
    E("apnoea", "apnea", SPELLING),
    E("apnoeic", "apnea", SPELLING),
    E("apneic", "apnea", DERIVED),
    E("not breathing", "apnea", LAY),
    E("resp arrest", "respiratory arrest", STEDMAN_JC),
    E("tachypnoea", "tachypnea", SPELLING),
    E("tachypnoeic", "tachypnea", SPELLING),
    E("tachypneic", "tachypnea", DERIVED),
    E("orthopnoea", "orthopnea", SPELLING),
    # --- head, neurology ---
    E("HA", "headache", STEDMAN_JC, case_sensitive=True, context=_headache),
    E("h/a", "headache", STEDMAN_JC),
    E("head ache", "headache", LAY),
    E("cephalgia", "headache", MESH),
    E("cephalalgia", "headache", MESH),
    E("ams", "altered mental status", STEDMAN_JC),
    E("altered mental state", "altered mental status", LAY),
    E("altered mentation", "altered mental status", LAY),
    E("mental status change", "altered mental status", LAY),
    E("mental status changes", "altered mental status", DERIVED),
    E("change in mental status", "altered mental status", LAY),
    E(r"(?:decreased|altered|reduced|depressed|diminished|impaired|fluctuating)\s+loc", "altered mental status",
      STEDMAN_JC, pattern=True),
    E(r"(?:decreased|altered|reduced|depressed|diminished|impaired)\s+level\s+of\s+consciousness",
      "altered mental status", CLINICAL, pattern=True),
    E("loc", "loss of consciousness", STEDMAN_JC, context=_loss_of_consciousness),
    E("lost consciousness", "loss of consciousness", LAY),
    E("knocked out", "loss of consciousness", LAY),
    E("unresponsive episode", "loss of consciousness", LAY),
    E("not responding", "unresponsive", LAY),
    E("nonresponsive", "unresponsive", LAY),
    E("non-responsive", "unresponsive", LAY),
    E("unrousable", "unresponsive", LAY),
    E("unarousable", "unresponsive", CLINICAL),
    E("passed out", "syncope", LAY),
    E("passing out", "syncope", LAY),
    E("fainted", "syncope", LAY),
    E("fainting", "syncope", LAY),
    E("fainting episode", "syncope", LAY),
    E("blacked out", "syncope", LAY),
    E("syncopal", "syncope", DERIVED),
    E("syncopal episode", "syncope", MESH),
    E("near syncope", "presyncope", CLINICAL, shadows=True),
    E("near-syncope", "presyncope", CLINICAL, shadows=True),
    E("pre-syncope", "presyncope", CLINICAL, shadows=True),
    E("presyncopal", "presyncope", DERIVED),
    E("fits", "seizure", LAY, context=_fits),
    E("fitting", "seizure", LAY, context=_fitting),
    E(r"(?:had|having|has|have)\s+(?:a\s+|another\s+)?fit", "seizure", LAY, pattern=True),
    E("sz", "seizure", STEDMAN_JC),
    E("szs", "seizure", DERIVED),
    E("seizing", "seizure", DERIVED),
    E("seized", "seizure", DERIVED),
    E("convulsion", "seizure", MESH),
    E("convulsions", "seizure", DERIVED),
    E("convulsing", "seizure", DERIVED),
    E("seizure activity", "seizure", LAY),
    E("tonic clonic", "generalized tonic clonic seizure", CLINICAL),
    E("tonic-clonic seizure", "generalized tonic clonic seizure", CLINICAL),
    E("gtc", "generalized tonic clonic seizure", STEDMAN_JC),
    E("gtcs", "generalized tonic clonic seizure", STEDMAN_JC),
    E("pseudoseizure", "psychogenic nonepileptic seizure", CLINICAL),
    E("pnes", "psychogenic nonepileptic seizure", STEDMAN_JC),
    E("cva", "stroke", STEDMAN_JC, context=_not_costovertebral),
    E("cerebrovascular accident", "stroke", MESH),
    E("brain attack", "stroke", CLINICAL),
    E("ischaemic stroke", "ischemic stroke", SPELLING),
    E("tia", "transient ischemic attack", STEDMAN_JC),
    E("transient ischaemic attack", "transient ischemic attack", SPELLING),
    E("mini stroke", "transient ischemic attack", LAY, shadows=True),
    E("mini-stroke", "transient ischemic attack", LAY, shadows=True),
    E("heat stroke", "heatstroke", MESH, shadows=True),
    E("sun stroke", "heatstroke", MESH, shadows=True),
    E("sunstroke", "heatstroke", MESH),
    E(r"word[\s-]*finding\s+(?:difficulty|difficulties|problems?|trouble)", "aphasia", CLINICAL, pattern=True),
    E(r"(?:difficulty|trouble|problems?)\s+(?:with\s+)?finding\s+(?:(?:his|her|their|the|my)\s+)?words", "aphasia",
      LAY, pattern=True),
    E(r"(?:not\s+able|unable)\s+to\s+(?:find|get\s+out)\s+(?:(?:his|her|their|the|my)\s+)?words", "aphasia", LAY,
      pattern=True),
    E(r"(?:can'?t|cannot|can\s+not|could\s?n'?t|could\s+not)\s+find\s+(?:(?:his|her|their|the|my)\s+)?words",
      "aphasia", LAY, pattern=True),
    E(r"(?:can'?t|cannot|can\s+not|could\s?n'?t|could\s+not|unable\s+to|not\s+able\s+to)\s+get\s+"
      r"(?:(?:his|her|their|the|my)\s+)?words\s+out", "aphasia", LAY, pattern=True),
    E("dysphasia", "aphasia", CLINICAL),
    E("dysphasic", "aphasia", DERIVED),
    E("aphasic", "aphasia", DERIVED),
    E("broca's aphasia", "expressive aphasia", CLINICAL),
    E("speech slurred", "slurred speech", LAY),
    E(r"slurring\s+(?:(?:his|her|their|my)\s+)?(?:speech|words)", "slurred speech", LAY, pattern=True),
    E("slurred words", "slurred speech", LAY),
    E("dysarthria", "slurred speech", CLINICAL),
    E("dysarthric", "slurred speech", DERIVED),
    E("face drooping", "facial droop", LAY),
    E("face droop", "facial droop", LAY),
    E("facial drooping", "facial droop", LAY),
    E("drooping face", "facial droop", LAY),
    E("droopy face", "facial droop", LAY),
    E("weak", "weakness", LAY, context=_weak),
    E("hemiparetic", "hemiparesis", DERIVED),
    E("hemiplegic", "hemiplegia", DERIVED),
    E("sah", "subarachnoid hemorrhage", STEDMAN_JC),
    E("subarachnoid haemorrhage", "subarachnoid hemorrhage", SPELLING),
    E("ich", "intracranial hemorrhage", STEDMAN_JC),
    E("intracranial haemorrhage", "intracranial hemorrhage", SPELLING),
    E("tbi", "traumatic brain injury", STEDMAN_JC),
    E("n/t", "numbness and tingling", STEDMAN_JC),
    E("dizzy", "dizziness", LAY),
    E("disorientated", "disoriented", SPELLING),
    # --- suicidal / homicidal ideation ---
    E("SI", "suicidal ideation", STEDMAN_JC, case_sensitive=True, context=_suicidal),
    E(r"si\s+(?:w/|with\s+|w\s+)(?:a\s+)?plan", "suicidal ideation with plan", STEDMAN_JC, pattern=True),
    E("suicidal ideation", "suicidal ideation", STEDMAN_JC),
    E("suicidal thoughts", "suicidal ideation", CLINICAL),
    E("suicidal thinking", "suicidal ideation", CLINICAL),
    E("thoughts of suicide", "suicidal ideation", LAY),
    E(r"(?:wants?|wanted|wanting|plans?|planning|planned|going|threatening|threatened|threatens)\s+to\s+"
      r"(?:kill|hurt|harm)\s+(?:himself|herself|themselves|themself|myself|self)", "suicidal ideation", LAY,
      pattern=True),
    E(r"(?:wants?|wanted|wanting)\s+to\s+(?:die|end\s+(?:his|her|their|my)\s+life)", "suicidal ideation", LAY,
      pattern=True),
    E("HI", "homicidal ideation", STEDMAN_JC, case_sensitive=True),
    E("homicidal thoughts", "homicidal ideation", LAY),
    E(r"(?:wants?|wanted|wanting|plans?|planning|threatening|threatened|threatens)\s+to\s+kill\s+"
      r"(?:someone|somebody|others|people|him|her|them|his\s+\w+|her\s+\w+)(?![a-z])", "homicidal ideation", LAY,
      pattern=True),
    E("attempted suicide", "suicide attempt", CLINICAL),
    E("self harm", "self-harm", LAY),
    E("self injury", "self-harm", CLINICAL),
    E("dsh", "self-harm", STEDMAN_JC),
    # --- trauma ---
    E("mvc", "motor vehicle collision", STEDMAN_JC),
    E("mva", "motor vehicle collision", STEDMAN_JC),
    E("rta", "motor vehicle collision", STEDMAN_JC),
    E("rtc", "motor vehicle collision", STEDMAN_JC),
    E("motor vehicle accident", "motor vehicle collision", MESH),
    E("road traffic accident", "motor vehicle collision", CLINICAL),
    E("road traffic collision", "motor vehicle collision", LAY),
    E("car crash", "motor vehicle collision", LAY),
    E("car accident", "motor vehicle collision", LAY),
    E("car wreck", "motor vehicle collision", LAY),
    E("auto accident", "motor vehicle collision", LAY),
    E("mcc", "motorcycle collision", STEDMAN_JC),
    E("motorcycle accident", "motorcycle collision", LAY),
    E("gsw", "gunshot wound", STEDMAN_JC),
    E("gsws", "gunshot wound", DERIVED),
    E("gun shot wound", "gunshot wound", LAY),
    E("gunshot wound", "gunshot wound", MESH),
    E("gun shot", "gunshot wound", LAY),
    E("gunshot", "gunshot wound", MESH),
    E("shot with a gun", "gunshot wound", LAY),
    E("stabbed", "stab wound", LAY),
    E("knife wound", "stab wound", MESH),
    E("stab wound", "stab wound", MESH),
    E("ped struck", "pedestrian struck", STEDMAN_JC),
    E("pedestrian hit", "pedestrian struck", LAY),
    E(r"ped(?:estrian)?\s+(?:vs\.?|versus)\s+(?:car|auto|vehicle|truck|bus|mvc|motor\s+vehicle)",
      "pedestrian struck", LAY, pattern=True),
    E(r"(?:hit|struck|knocked\s+down|run\s+over|ran\s+over|mowed\s+down)\s+by\s+(?:an?\s+|the\s+)?(?:moving\s+)?"
      r"(?:car|vehicle|truck|bus|van|motor\s+vehicle|taxi|lorry|suv|motorcycle)", "pedestrian struck", LAY,
      pattern=True),
    E("fx", "fracture", STEDMAN_JC),
    E("fxs", "fracture", DERIVED),
    E("lac", "laceration", STEDMAN_JC),
    E("fb", "foreign body", STEDMAN_JC),
    E("dislocated", "dislocation", DERIVED),
    E("ffh", "fall from height", STEDMAN_JC),
    E("rape", "sexual assault", CLINICAL),
    # --- alcohol, drugs ---
    E("etoh", "alcohol", STEDMAN_JC),
    E("ethanol", "alcohol", MESH),
    E("etoh intox", "alcohol intoxication", STEDMAN_JC),
    E("drunk", "alcohol intoxication", LAY),
    E("o/d", "overdose", STEDMAN_JC),
    E("od'd", "overdose", LAY),
    E("ivdu", "intravenous drug use", STEDMAN_JC),
    E("ivda", "intravenous drug use", STEDMAN_JC),
    E("iv drug use", "intravenous drug use", STEDMAN_JC),
    # --- history, documentation shorthand (ConText reads the canonical forms) ---
    E("h/o", "history", STEDMAN_JC),
    E("hx", "history", STEDMAN_JC),
    E("hx of", "history of", STEDMAN_JC),
    E("pmh", "past medical history", STEDMAN_JC),
    E("pmhx", "past medical history", STEDMAN_JC),
    E("fhx", "family history", STEDMAN_JC),
    E("fh", "family history", STEDMAN_JC),
    E("fam hx", "family history", STEDMAN_JC),
    E("family hx", "family history", STEDMAN_JC),
    E("shx", "social history", STEDMAN_JC),
    E("hpi", "history of present illness", STEDMAN_JC),
    E("s/p", "status post", STEDMAN_JC),
    E("c/o", "complains of", STEDMAN_JC),
    E("complaining of", "complains of", STEDMAN_JC),
    E("w/o", "without", STEDMAN_JC),
    E("pt", "patient", STEDMAN_JC),
    E("pts", "patient", DERIVED),
    E("b/l", "bilateral", STEDMAN_JC),
    E("y/o", "year old", STEDMAN_JC),
    E("chemo", "chemotherapy", STEDMAN_JC),
    E("chemotx", "chemotherapy", STEDMAN_JC),
    # --- abdomen, GI ---
    E("abd", "abdominal", STEDMAN_JC),
    E("abdo", "abdominal", STEDMAN_JC),
    E("stomach ache", "abdominal pain", LAY),
    E("stomachache", "abdominal pain", LAY),
    E("stomach pain", "abdominal pain", LAY),
    E("belly ache", "abdominal pain", LAY),
    E("bellyache", "abdominal pain", LAY),
    E("belly pain", "abdominal pain", LAY),
    E("tummy ache", "abdominal pain", LAY),
    E("tummy pain", "abdominal pain", LAY),
    E("rlq", "right lower quadrant abdominal", STEDMAN_JC),
    E("ruq", "right upper quadrant abdominal", STEDMAN_JC),
    E("llq", "left lower quadrant abdominal", STEDMAN_JC),
    E("luq", "left upper quadrant abdominal", STEDMAN_JC),
    E("n/v", "nausea and vomiting", STEDMAN_JC),
    E("n&v", "nausea and vomiting", STEDMAN_JC),
    E("n+v", "nausea and vomiting", STEDMAN_JC),
    E("n/v/d", "nausea and vomiting and diarrhea", STEDMAN_JC),
    E("v/d", "vomiting and diarrhea", STEDMAN_JC),
    E("d/v", "vomiting and diarrhea", STEDMAN_JC),
    E("d&v", "vomiting and diarrhea", STEDMAN_JC),
    E("emesis", "vomiting", MESH),
    E("throwing up", "vomiting", LAY),
    E("diarrhoea", "diarrhea", SPELLING),
    E("gi bleed", "gastrointestinal bleeding", STEDMAN_JC),
    E("gi bleeding", "gastrointestinal bleeding", STEDMAN_JC),
    E("gib", "gastrointestinal bleeding", STEDMAN_JC),
    E("gi hemorrhage", "gastrointestinal bleeding", STEDMAN_JC),
    E("gi haemorrhage", "gastrointestinal bleeding", SPELLING),
    E("gastrointestinal hemorrhage", "gastrointestinal bleeding", MESH),
    E("gastrointestinal haemorrhage", "gastrointestinal bleeding", SPELLING),
    E("ugib", "upper gastrointestinal bleeding", STEDMAN_JC),
    E("upper gi bleed", "upper gastrointestinal bleeding", STEDMAN_JC),
    E("lgib", "lower gastrointestinal bleeding", STEDMAN_JC),
    E("lower gi bleed", "lower gastrointestinal bleeding", STEDMAN_JC),
    E("melaena", "melena", SPELLING, broader=_GIB),
    E("melena", "melena", MESH_TREE, broader=_GIB),
    E("melenic", "melena", DERIVED, broader=_GIB),
    E(r"(?:black|dark)\s+(?:and\s+)?tarry\s+stools?", "melena", MESH_TREE, pattern=True, broader=_GIB),
    E("tarry stools", "melena", MESH_TREE, broader=_GIB),
    E("haematemesis", "hematemesis", SPELLING, broader=_GIB),
    E("hematemesis", "hematemesis", MESH_TREE, broader=_GIB),
    E("vomiting blood", "hematemesis", LAY, broader=_GIB),
    E("throwing up blood", "hematemesis", LAY, broader=_GIB),
    E(r"coffee[\s-]*grounds?\s+(?:emesis|vomit|vomitus|vomiting)", "coffee ground emesis", CLINICAL, pattern=True,
      broader=("hematemesis",) + _GIB),
    E("brbpr", "bright red blood per rectum", STEDMAN_JC, broader=_GIB),
    E("pr bleeding", "rectal bleeding", STEDMAN_JC, broader=_GIB),
    E("rectal bleeding", "rectal bleeding", MESH_TREE, broader=_GIB),
    E("oesophageal", "esophageal", SPELLING),
    E("oesophagus", "esophagus", SPELLING),
    E("faeces", "feces", SPELLING),
    # --- fever, infection ---
    E("febrile", "fever", DERIVED),
    E("pyrexia", "fever", MESH),
    E("pyrexial", "fever", DERIVED),
    E("feverish", "fever", LAY),
    E(r"(?:has|had|having|running|ran|runs|with)\s+a\s+(?:high\s+)?temp(?:erature)?", "fever", LAY, pattern=True),
    E("neutropenic", "neutropenia", DERIVED),
    E("immunosuppressed", "immunocompromised", CLINICAL),
    E("immunosuppression", "immunocompromised", CLINICAL),
    E("septic", "sepsis", DERIVED),
    E("septicaemia", "septicemia", SPELLING),
    E("uti", "urinary tract infection", STEDMAN_JC),
    E("uri", "upper respiratory infection", STEDMAN_JC),
    E("sti", "sexually transmitted infection", STEDMAN_JC),
    E("std", "sexually transmitted infection", STEDMAN_JC),
    E("abx", "antibiotics", STEDMAN_JC),
    # --- obstetrics ---
    E("pregnant", "pregnancy", DERIVED),
    E("gravid", "pregnancy", CLINICAL),
    E("iup", "intrauterine pregnancy", STEDMAN_JC),
    E(r"g\d{1,2}\s*p\d{1,2}(?:[\d\-]*)\s*(?:@|at)?\s*\d{1,2}(?:\s*\+\s*\d)?\s*(?:weeks?|wks?|/40)", "pregnancy",
      STEDMAN_JC, pattern=True),
    E(r"\d{1,2}(?:\s*\+\s*\d)?\s*(?:weeks?|wks?)\s+(?:gestation|gestational\s+age|ga|pregnant)", "pregnancy",
      STEDMAN_JC, pattern=True),
    E("pv bleeding", "vaginal bleeding", STEDMAN_JC),
    E("pvb", "vaginal bleeding", STEDMAN_JC),
    E("foetal", "fetal", SPELLING),
    E("paediatric", "pediatric", SPELLING),
    E("gynaecological", "gynecological", SPELLING),
    # --- cardiovascular, haematology, metabolic ---
    E("PE", "pulmonary embolism", STEDMAN_JC, case_sensitive=True, context=_pulmonary_embolism),
    E("pulmonary embolus", "pulmonary embolism", MESH),
    E("dvt", "deep vein thrombosis", STEDMAN_JC),
    E("afib", "atrial fibrillation", STEDMAN_JC),
    E("a-fib", "atrial fibrillation", STEDMAN_JC),
    E("AF", "atrial fibrillation", STEDMAN_JC, case_sensitive=True),
    E("htn", "hypertension", STEDMAN_JC),
    E("chf", "congestive heart failure", STEDMAN_JC),
    E("cad", "coronary artery disease", STEDMAN_JC),
    E("copd", "chronic obstructive pulmonary disease", STEDMAN_JC),
    E("dm", "diabetes mellitus", STEDMAN_JC),
    E("t2dm", "type 2 diabetes mellitus", STEDMAN_JC),
    E("t1dm", "type 1 diabetes mellitus", STEDMAN_JC),
    E("iddm", "insulin dependent diabetes mellitus", STEDMAN_JC),
    E("dka", "diabetic ketoacidosis", STEDMAN_JC),
    E("hhs", "hyperosmolar hyperglycemic state", STEDMAN_JC),
    E("hypoglycaemia", "hypoglycemia", SPELLING),
    E("hypoglycaemic", "hypoglycemia", SPELLING),
    E("hypoglycemic", "hypoglycemia", DERIVED),
    E("hypo", "hypoglycemia", LAY),
    E("hyperglycaemia", "hyperglycemia", SPELLING),
    E("ckd", "chronic kidney disease", STEDMAN_JC),
    E("esrd", "end stage renal disease", STEDMAN_JC),
    E("palps", "palpitations", STEDMAN_JC),
    E("heart racing", "palpitations", LAY),
    E("racing heart", "palpitations", LAY),
    E("tachy", "tachycardia", STEDMAN_JC),
    E("tachycardic", "tachycardia", DERIVED),
    E("brady", "bradycardia", STEDMAN_JC),
    E("bradycardic", "bradycardia", DERIVED),
    E("hypotensive", "hypotension", DERIVED),
    E("diaphoretic", "diaphoresis", DERIVED),
    E("oedema", "edema", SPELLING),
    E("oedematous", "edematous", SPELLING),
    E("angio-oedema", "angioedema", SPELLING),
    E("angio-edema", "angioedema", CLINICAL),
    E("haemorrhage", "hemorrhage", SPELLING),
    E("haematuria", "hematuria", SPELLING),
    E("haemoptysis", "hemoptysis", SPELLING),
    E("haematoma", "hematoma", SPELLING),
    E("haemoglobin", "hemoglobin", SPELLING),
    E("haemodynamically", "hemodynamically", SPELLING),
    E("anaemia", "anemia", SPELLING),
    E("anaemic", "anemic", SPELLING),
    E("leukaemia", "leukemia", SPELLING),
    E("ischaemia", "ischemia", SPELLING),
    E("ischaemic", "ischemic", SPELLING),
    E("anaesthesia", "anesthesia", SPELLING),
    E("anaphylactic reaction", "anaphylaxis", CLINICAL),
    E("anaphylactic shock", "anaphylaxis", CLINICAL),
    E("swollen tongue", "tongue swelling", CLINICAL),
    E("swollen lips", "lip swelling", LAY),
    E("swollen lip", "lip swelling", LAY),
    E("difficulty swallowing", "dysphagia", CLINICAL),
    E("trouble swallowing", "dysphagia", LAY),
    E("testicle pain", "testicular pain", LAY),
    E("kidney stones", "kidney stone", DERIVED),
    E("renal stone", "kidney stone", CLINICAL),
    E("renal calculus", "kidney stone", CLINICAL),
    E("nephrolithiasis", "kidney stone", CLINICAL),
    E("neonate", "newborn", CLINICAL),
    E("neonatal", "newborn", CLINICAL),
    E("lbp", "low back pain", STEDMAN_JC),
)

# Words the fuzzy matcher may correct a misspelling to, besides the words of the entries and canonical
# phrases above: clinical words the triage and verification tables use. Lower case, >= 5 letters are used.
CLINICAL_WORDS: frozenset[str] = frozenset("""
abdomen abdominal abscess cough sweating sweaty clammy throat difficulty acetaminophen acidosis adrenaline afebrile agitated agitation allergic allergy
amputation anaphylactic anaphylaxis aneurysm angina angioedema ankle anticoagulated anticoagulant anxiety aortic
aphasia apnea appendicitis arrest arrhythmia asthma asymptomatic ataxia atrial avulsion bleeding blurred
bradycardia breath breathing bronchiolitis burning cardiac cellulitis cerebral chemical chemotherapy chest
cholecystitis chronic collapse colic coma conscious consciousness confused confusion conjunctivitis constipation
contusion convulsion coughing crushing cyanosis cyanotic dehydrated dehydration delirium dental deformity
diabetes diabetic diaphoresis diaphoretic diarrhea diplopia disoriented dislocation dissection dizziness drowsy
dysphagia dysuria ectopic edema ejected embolism emesis encephalopathy epigastric epilepsy epileptic epilepticus
epistaxis erythema exertion facial fainting fatigue febrile fever fibrillation flaccid flank fracture gangrene
gastrointestinal gestation gunshot hallucinations headache hematemesis hematochezia hematoma hematuria
hemiparesis hemiplegia hemoptysis hemorrhage hypertension hypertensive hyperthermia hypoglycemia hypotension
hypotensive hypothermia hypoxia hypoxic immunocompromised infarction infection ingestion injury insulin
intoxicated intoxication intubated ischemia ischemic jaundice ketoacidosis laceration lethargic lethargy
lightheaded malaise melena meningitis migraine myocardial nausea nauseous neutropenia neutropenic newborn
nonverbal numbness obstruction overdose palpitations pancreatitis paralysis paresthesia pedestrian pelvic
pneumonia pneumothorax poisoning pregnancy pregnant presyncope pulmonary pulseless pyelonephritis radiating
rectal respiratory rollover scrotal seizure seizures sepsis septic shortness slurred speech spasm sprain stabbing
stridor stroke struck suicidal suicide swelling syncope tachycardia tachypnea tearing tenderness testicular
thrombosis thunderclap tightness tingling tongue torsion transplant trauma tremor unconscious unresponsive
urinary urination vaginal vertigo vision vomiting weakness wheeze wheezing
testicle ripping tarry stools kettle floppy organiser organizer sickle crisis coffee grounds earache toothache
recheck fishhook bruised nosebleed congested cramping drooling swollen purpura purpuric petechiae petechial
meningism photophobia trismus peritonsillar uvula stiffness epiglottitis encephalitis meningococcal eclampsia
preeclampsia hypothermic electrocution extrication penetrating exsanguinating spurting pulsatile swallow
swallowing unrousable obtunded somnolent mottled haemorrhage hemorrhage scalded urticaria retractions grunting
asystole defibrillated naloxone dextrose epinephrine anticoagulation warfarin apixaban rivaroxaban
blanching purple
""".split())


# --- the scanner ---
_WORD_BOUNDARY_AFTER = r"(?![a-z0-9])"


def surface_regex(surface: str) -> str:
    """A literal surface as a regex over lower-case text: spaces match whitespace or hyphen runs, a hyphen
    matches none/space/hyphen, an apostrophe may be omitted."""
    parts = re.split(r"(\s+|-)", surface.lower().strip())
    out = []
    for part in parts:
        if not part:
            continue
        if part.isspace():
            out.append(r"[\s\-]+")
        elif part == "-":
            out.append(r"[\s\-]*")
        else:
            out.append(re.escape(part).replace("'", "['’]?"))
    return "".join(out)


@dataclass(frozen=True)
class Scanner:
    """One alternation per first character (longest surface first, patterns before literals), tried only
    where a word starts: a few hundred alternatives at every position would cost milliseconds a note."""

    buckets: dict[str, re.Pattern]
    groups: dict[str, tuple[Entry, ...]]


_WORD_START = re.compile(r"(?<![a-z0-9])[a-z0-9]")


@lru_cache(maxsize=1)
def scanner() -> Scanner:
    by_key: dict[str, list[Entry]] = {}
    # every canonical phrase also stands for itself, so that a canonical phrase in the text is one match
    # ("generalized tonic clonic seizure" is not "generalized" + the surface "tonic clonic" + "seizure")
    written = {e.surface.lower() for e in ENTRIES if not e.pattern}
    identity = [Entry(t, t, CANONICAL) for t in sorted(canonical_terms()) if t not in written]
    for entry in (*ENTRIES, *identity):
        key = entry.surface if entry.pattern else surface_regex(entry.surface)
        by_key.setdefault(key, []).append(entry)
    keys = sorted(by_key, key=lambda k: (not by_key[k][0].pattern, -len(k)))
    groups = {f"e{i}": tuple(by_key[key]) for i, key in enumerate(keys)}
    alternatives: dict[str, list[str]] = {}
    patterns = []
    for name, key in zip(groups, keys, strict=True):
        if groups[name][0].pattern:
            patterns.append(f"(?P<{name}>{key})")
        else:
            alternatives.setdefault(groups[name][0].surface.lower()[0], []).append(f"(?P<{name}>{key})")
    buckets = {}
    for first in "abcdefghijklmnopqrstuvwxyz0123456789":
        alts = patterns + alternatives.get(first, [])
        buckets[first] = re.compile("(?:" + "|".join(alts) + ")" + _WORD_BOUNDARY_AFTER)
    return Scanner(buckets, groups)


@dataclass(frozen=True)
class LexiconMatch:
    start: int
    end: int
    entry: Entry


def scan(lower: str, cased: str) -> list[LexiconMatch]:
    """Lexicon matches in a text, leftmost-longest and non-overlapping. `lower` is the lower-case text the
    scanner reads; `cased` has the same length with the original letter case, for case-sensitive entries
    and context checks."""
    sc = scanner()
    out = []
    pos = 0
    for w in _WORD_START.finditer(lower):
        start = w.start()
        if start < pos:
            continue
        m = sc.buckets[w.group()].match(lower, start)
        if m is None:
            continue
        end = m.end()
        for entry in sc.groups[m.lastgroup]:
            if entry.case_sensitive and cased[start:end] != entry.surface:
                continue
            if entry.context is not None and not entry.context(cased, start, end):
                continue
            out.append(LexiconMatch(start, end, entry))
            pos = end
            break
    return out


@lru_cache(maxsize=1)
def canonical_terms() -> frozenset[str]:
    """Every canonical phrase the lexicon can produce (canonical forms and the broader terms they imply)."""
    terms = set()
    for entry in ENTRIES:
        terms.add(entry.canonical)
        terms.update(entry.broader)
    return frozenset(terms)


@lru_cache(maxsize=1)
def vocabulary_words() -> frozenset[str]:
    """Lower-case single words (letters only) the lexicon knows: canonical words, single-word surfaces and
    CLINICAL_WORDS. The fuzzy matcher corrects misspellings towards these."""
    words = set(CLINICAL_WORDS)
    for term in canonical_terms():
        words.update(re.findall(r"[a-z]+", term))
    for entry in ENTRIES:
        if not entry.pattern and re.fullmatch(r"[a-z]+", entry.surface.lower()):
            words.add(entry.surface.lower())
    return frozenset(words)
