"""ESI v4 decision points as deterministic rules, danger first, and how they combine with the model's level.

Source: Gilboy N, Tanabe P, Travers D, Rosenau AM. *Emergency Severity Index (ESI): A Triage Tool
for Emergency Department Care, Version 4. Implementation Handbook*, 2012 edition (AHRQ Publication
No. 12-0014).

Every patient passes every check; the most urgent level wins, and the rule named is the first in this
order that gives that level. So a complaint keyword can make a level more urgent, never decide one
before the vitals were looked at ("ripping back pain" with normal vitals is still read for dissection;
"rash" in a febrile child with HR 150 is ESI 2 through the danger zone, not ESI 5 through "rash").

1. ``A_lifesaving`` (ESI 1): the vitals need an immediate life-saving intervention (``triage_vitals``:
   AVPU P/U, GCS <= 8, SpO2 < 90, RR <= 8 or very high for age, hypotension for age with a shock sign in
   either direction of heart rate, extreme heart rates), or the text says so (``LIFESAVING``: arrest,
   apnoea, unresponsive, anaphylaxis, status epilepticus, airway compromise, major haemorrhage,
   hypoglycaemia with altered consciousness, a flaccid or apnoeic infant ...).
2. ``B_confusion`` (ESI 2): AVPU V / new confusion, GCS 9-14, or confusion / lethargy / altered
   mental status in the text.
3. ``B_danger_vitals`` (ESI 2): the handbook's age-banded danger-zone heart rate, respiratory rate and
   SpO2 < 92 %, checked for every patient whatever the complaint.
4. ``B_paediatric_fever`` (ESI 2 / 3): from the RECORDED temperature and the age in days (stated in the
   text for infants, ``infant_age``): 1-28 days > 38.0 °C -> ESI 2; 29-90 days > 38.0 °C -> ESI 2 (the
   handbook's "consider", taken on the safe side); 3-36 months > 39.0 °C -> at least ESI 3. An infant
   recorded as age 0 with no stated age is treated as the youngest band. Fever with an immunocompromise
   (chemotherapy, neutropenia, transplant, ...) -> ESI 2 at any age.
5. ``B_high_risk`` (ESI 2): a high-risk situation in the complaint or notes (``HIGH_RISK``: chest pain
   from 30 years, stroke signs, suicidal/homicidal ideation, overdose, thunderclap headache, GI bleeding,
   torsion, ectopic pregnancy, high-energy trauma, dissection, purpura with fever, ...).
6. ``B_severe_pain`` (ESI 2): pain >= 7/10 with a complaint in ``SEVERE_PAIN`` (the handbook says
   "consider": a sprained ankle at 8/10 stays ESI 4).
7. ``D_resources`` (ESI 3 / 4 / 5): how many kinds of resources (recorded, else estimated from the
   complaint with ``RESOURCE_ESTIMATES``; unknown complaints count two, the safe side).

Text is read through ``apps.medical.text``: abbreviations and synonyms (CP, SOB, "heart attack"),
misspellings (fuzzy), and ConText negation / history / family / hypothetical scope in both directions
("denies CP", "ACS ruled out", "h/o MI", "mother had a stroke"); uncertain mentions ("?stroke") count.

``combine`` applies the safety rule of the product: the rules may make the model's level more urgent
(numerically lower), never less urgent.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from apps.medical.clinical import TriageCase
from apps.medical.infant_age import infant_age_days
from apps.medical.text import TermHit, find_terms, first_affirmed
from apps.medical.triage_vitals import Age, altered_consciousness, danger_zone, lifesaving_vitals, low_glucose

RULES = ("A_lifesaving", "B_confusion", "B_danger_vitals", "B_paediatric_fever", "B_high_risk", "B_severe_pain",
         "D_resources")
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
    """A complaint the table recognises: any phrase of `phrases` affirmed in the chief complaint or notes,
    and (when given) any phrase of `with_any` affirmed anywhere including the history; optional age bounds
    in whole years."""

    phrases: tuple[str, ...]
    reason: str
    with_any: tuple[str, ...] = ()
    min_age: int | None = None
    max_age: int | None = None
    needs_fever: bool = False  # a recorded temperature >= 38 °C or fever affirmed in the text


# --- 1: complaints that mean an immediate life-saving intervention ---
LIFESAVING: tuple[ComplaintPattern, ...] = (
    ComplaintPattern(("cardiac arrest", "pulseless", "no pulse", "cpr", "cpr in progress", "asystole",
                      "ventricular fibrillation", "vf arrest", "code blue"), "cardiac arrest"),
    ComplaintPattern(("respiratory arrest", "not breathing", "apnoea", "apnea", "apnoeic", "apneic",
                      "stopped breathing", "agonal breathing", "agonal respirations"), "apnoea / respiratory arrest"),
    ComplaintPattern(("unresponsive", "unconscious", "unrousable", "unarousable", "not rousable", "not arousable",
                      "not responding", "no response to pain", "responds only to pain", "comatose", "coma",
                      "found down", "nonverbal", "non-verbal", "not following commands", "unable to follow commands",
                      "no response to voice", "no response to sternal rub", "does not respond", "doesn't respond",
                      "not waking up", "won't wake up", "will not wake up", "cannot be woken", "can't be woken"),
                     "unresponsive"),
    ComplaintPattern(("anaphylaxis", "anaphylactic", "anaphylactic shock"), "anaphylaxis needs adrenaline now"),
    ComplaintPattern(("status epilepticus", "actively seizing", "seizing now", "continuous seizure",
                      "ongoing seizure", "still seizing", "seizure lasting", "seizing for"), "ongoing seizure"),
    ComplaintPattern(("intubated", "bagging", "bag valve mask", "bvm ventilation"), "airway/ventilation support"),
    ComplaintPattern(("stridor", "drooling and unable to swallow", "cannot speak", "unable to speak",
                      "airway obstruction", "choking", "obstructed airway", "tripoding"), "threatened airway"),
    ComplaintPattern(("flaccid", "floppy", "limp and unresponsive", "poor tone", "no tone", "grey colour",
                      "gray color"), "flaccid infant", max_age=2),
    ComplaintPattern(("uncontrolled bleeding", "massive bleeding", "major haemorrhage", "major hemorrhage",
                      "arterial bleeding", "exsanguinating", "pulsatile bleeding"), "major haemorrhage"),
    ComplaintPattern(("cyanotic", "cyanosis", "blue lips", "turning blue", "grey and mottled", "mottled"),
                     "cyanosis / poor perfusion"),
    ComplaintPattern(("pale and diaphoretic", "pale, diaphoretic", "cold and clammy", "cool clammy",
                      "clammy and grey"), "signs of hypoperfusion"),
    ComplaintPattern(("hypoglycaemia", "hypoglycemia", "low blood sugar", "low glucose", "bm low"),
                     "hypoglycaemia with altered consciousness",
                     with_any=("confused", "confusion", "unresponsive", "drowsy", "altered mental status",
                               "not making sense", "combative", "seizure", "lethargic")),
    ComplaintPattern(("tension pneumothorax",), "tension pneumothorax needs decompression"),
    ComplaintPattern(("d50", "dextrose 50", "dextrose 50%", "naloxone given", "narcan given", "given narcan",
                      "given naloxone", "adenosine", "atropine", "dopamine", "defibrillated", "cardioverted",
                      "external pacing", "transcutaneous pacing", "needle decompression", "bipap", "cpap",
                      "massive transfusion", "epinephrine given", "adrenaline given", "im epinephrine", "im adrenaline",
                      "epipen used", "epi-pen used"),
                     "a life-saving intervention is being given (handbook list)"),
    ComplaintPattern(("tongue swollen", "swollen tongue", "drooling"), "threatened airway",
                     with_any=("can't swallow", "cant swallow", "cannot swallow", "unable to swallow", "stridor",
                               "muffled voice", "hoarse", "difficulty breathing", "tripod")),
    ComplaintPattern(("spurting", "pumping blood", "arterial bleed", "blood everywhere", "soaked through"),
                     "major haemorrhage"),
)

# --- 2: new confusion, lethargy, disorientation ---
CONFUSION: tuple[ComplaintPattern, ...] = (
    ComplaintPattern(("confused", "confusion", "disoriented", "disorientated", "lethargic", "lethargy",
                      "altered mental status", "altered level of consciousness", "decreased level of consciousness",
                      "drowsy", "obtunded", "somnolent", "hard to rouse", "difficult to rouse", "difficult to wake",
                      "not acting right", "not himself", "not herself", "acting strange", "delirium", "delirious",
                      "not making sense", "inconsolable", "listless"),
                     "new confusion, lethargy or disorientation"),
)

# --- 5: high-risk situations (handbook examples) ---
IMMUNOCOMPROMISE = ("chemotherapy", "neutropenic", "neutropenia", "immunocompromised", "immunosuppressed",
                    "transplant", "on immunosuppressants", "bone marrow transplant", "leukaemia", "leukemia",
                    "hiv", "asplenia", "splenectomy", "tacrolimus", "mycophenolate", "cyclosporine", "ciclosporin",
                    "azathioprine", "sirolimus", "rituximab", "high-dose steroids", "sickle cell")
FEVER_WORDS = ("fever", "febrile", "pyrexia", "pyrexial", "high temperature", "rigors", "spiking temps")
HIGH_RISK: tuple[ComplaintPattern, ...] = (
    ComplaintPattern(("chest pain", "chest pressure", "chest tightness", "chest heaviness", "crushing chest",
                      "chest discomfort", "pain in chest", "substernal pain", "retrosternal pain",
                      "myocardial infarction", "acute coronary syndrome", "angina", "stemi", "nstemi",
                      "heart attack"),
                     "chest pain suggestive of acute coronary syndrome", min_age=30),
    ComplaintPattern(("chest pain", "chest pressure", "chest tightness"), "chest pain with cocaine use",
                     with_any=("cocaine", "crack", "amphetamine", "methamphetamine")),
    ComplaintPattern(("tearing pain", "tearing chest", "tearing back", "tearing sensation", "ripping pain",
                      "ripping back", "ripping chest", "ripping", "aortic dissection", "dissection",
                      "pulsatile abdominal mass", "abdominal aortic aneurysm", "aaa"),
                     "possible aortic dissection / aneurysm"),
    ComplaintPattern(("facial droop", "face drooping", "slurred speech", "one-sided weakness", "unilateral weakness",
                      "arm weakness", "leg weakness", "hemiparesis", "hemiplegia", "aphasia", "dysphasia",
                      "stroke", "cerebrovascular accident", "sudden vision loss", "loss of vision", "facial weakness",
                      "numbness on one side", "one-sided numbness", "left-sided weakness", "right-sided weakness",
                      "word-finding difficulty", "trouble speaking", "difficulty speaking", "garbled speech"),
                     "signs of stroke"),
    ComplaintPattern(("suicidal", "suicide", "suicidal ideation", "self-harm", "self harm", "homicidal",
                      "homicidal ideation", "wants to kill", "kill himself", "kill herself", "kill myself",
                      "end his life", "end her life", "took pills", "cut wrists", "overdose", "si w/ plan", "si with plan",
                      "si w plan", "plan to od", "plans to od", "od on", "wants to od", "stockpiling", "suicide note",
                      "wrote a note", "plan to overdose", "intentional ingestion",
                      "accidental ingestion", "toxic ingestion", "poisoning", "took too many pills", "swallowed pills",
                      "swallowed tablets", "ingested pills", "took an overdose", "got into", "pill box", "pillbox",
                      "pill bottle", "medicine cabinet", "ate pills", "ate some pills", "unknown number of pills",
                      "unknown amount of pills", "drank bleach", "button battery", "magnets", "pill organiser",
                      "pill organizer", "tabs missing", "pills missing", "tablets missing"),
                     "suicidal / homicidal ideation, overdose or poisoning"),
    ComplaintPattern(("worst headache", "thunderclap", "sudden severe headache", "headache with neck stiffness",
                      "subarachnoid"), "sudden severe headache (subarachnoid haemorrhage)"),
    ComplaintPattern(("vomiting blood", "haematemesis", "hematemesis", "melaena", "melena", "black stools",
                      "black tarry stools", "coffee ground", "gastrointestinal bleeding", "rectal bleeding",
                      "bright red blood per rectum", "brbpr", "blood in vomit"), "gastrointestinal bleeding"),
    ComplaintPattern(("testicular pain", "testicular torsion", "scrotal pain", "testicle pain", "testicular swelling",
                      "testis pain", "pain in testicle", "pain in his testicle"),
                     "possible testicular torsion"),
    ComplaintPattern(("vaginal bleeding", "abdominal pain", "pelvic pain", "lower abdominal pain", "shoulder tip pain",
                      "spotting", "cramping"),
                     "possible ectopic pregnancy",
                     with_any=("pregnant", "pregnancy", "positive pregnancy test", "missed period",
                               "last menstrual period", "lmp", "weeks pregnant", "ectopic", "preg test",
                               "positive preg", "+ve preg", "+ve home preg test", "home pregnancy test", "upt positive",
                               "positive upt", "hcg positive", "positive hcg", "preggo")),
    ComplaintPattern(("headache", "visual disturbance", "seizure", "swelling", "epigastric pain", "vaginal bleeding"),
                     "complication of late pregnancy (pre-eclampsia / haemorrhage)",
                     with_any=("weeks pregnant", "third trimester", "pregnant", "postpartum")),
    ComplaintPattern(FEVER_WORDS, "fever in an immunocompromised patient (neutropenic sepsis)",
                     with_any=IMMUNOCOMPROMISE),
    ComplaintPattern(("purpura", "purpuric", "petechiae", "petechial", "non-blanching rash", "nonblanching rash",
                      "non-blanching", "nonblanching", "purple spots", "pinpoint spots", "purple rash"),
                     "fever with a purpuric / non-blanching rash (meningococcal sepsis)", needs_fever=True),
    ComplaintPattern(("neck stiffness", "stiff neck", "meningism", "photophobia"),
                     "fever with meningism (meningitis)", needs_fever=True),
    ComplaintPattern(("sepsis", "septic", "meningitis", "necrotising fasciitis", "necrotizing fasciitis",
                      "epiglottitis"), "suspected sepsis / serious infection"),
    ComplaintPattern(("high-speed", "high speed", "rollover", "ejected", "ejection", "fall from height",
                      "fell from height", "fell from a ladder", "fall from ladder", "fell off roof", "pedestrian struck",
                      "struck by a car", "hit by a car", "stab wound", "stabbed", "gunshot", "gunshot wound",
                      "penetrating", "motorcycle crash", "motorcycle collision", "prolonged extrication",
                      "extrication", "extricated", "highway speed", "head-on collision", "head-on crash", "head-on mvc", "car vs pedestrian",
                      "crush injury", "fell down stairs", "fall down stairs", "thrown from", "fell from a horse",
                      "fell off a horse", "intrusion into the cabin", "death at the scene", "fatality at the scene"),
                     "high-energy mechanism of injury"),
    ComplaintPattern(("head injury", "head trauma", "hit head", "struck head", "head strike", "fall"),
                     "head injury on anticoagulation",
                     with_any=("warfarin", "coumadin", "apixaban", "eliquis", "rivaroxaban", "xarelto",
                               "dabigatran", "anticoagulated", "anticoagulant", "blood thinner", "blood thinners")),
    ComplaintPattern(("sexual assault", "sexually assaulted", "sexual abuse", "sexually abused", "raped", "rape"),
                     "sexual assault"),
    ComplaintPattern(("chemical splash", "chemical in eye", "chemical burn to eye", "alkali", "acid in eye",
                      "bleach in eye", "chemical eye"), "chemical eye injury"),
    ComplaintPattern(("splash", "splashed", "sprayed", "chemical", "drain cleaner", "oven cleaner", "bleach", "caustic",
                      "lye", "acid", "ammonia", "cement", "lime"), "chemical eye injury",
                     with_any=("eye", "eyes")),
    ComplaintPattern(("throat swelling", "tongue swelling", "lip swelling", "swollen tongue", "swollen lips",
                      "facial swelling", "angioedema", "angio-oedema", "difficulty swallowing saliva",
                      "throat closing", "throat tightness", "wheeze after", "hives and wheeze"),
                     "angio-oedema / allergic reaction threatening the airway"),
    ComplaintPattern(("diabetic ketoacidosis", "dka", "ketoacidosis"), "diabetic ketoacidosis"),
    ComplaintPattern(("ketones", "blood sugar high", "high blood sugar", "hyperglycaemia", "hyperglycemia",
                      "glucose hi", "sugar reads high"), "hyperglycaemic emergency in a diabetic",
                     with_any=("diabetic", "diabetes", "type 1 diabetes", "t1dm", "iddm", "insulin", "insulin pump",
                               "on insulin")),
    ComplaintPattern(("open fracture", "cold limb", "pulseless limb", "compartment syndrome", "bone sticking out",
                      "cold pale leg", "cold pale foot", "no pulse in foot"), "limb-threatening injury"),
    ComplaintPattern(("pulmonary embolism", "blood clot in lung", "coughing blood", "haemoptysis", "hemoptysis"),
                     "possible pulmonary embolism / haemoptysis"),
    ComplaintPattern(("severe asthma", "asthma attack", "status asthmaticus", "unable to complete sentences",
                      "can't finish sentences", "cannot complete sentences", "silent chest", "copd exacerbation",
                      "respiratory distress", "severe shortness of breath", "struggling to breathe", "retractions",
                      "nasal flaring", "grunting"),
                     "severe respiratory distress"),
    ComplaintPattern(("syncope", "passed out", "fainted", "collapse", "collapsed", "loss of consciousness"),
                     "syncope with a cardiac risk", min_age=50),
    ComplaintPattern(("palpitations", "racing heart", "heart racing", "supraventricular tachycardia", "svt",
                      "irregular heartbeat", "atrial fibrillation"), "arrhythmia with chest pain or syncope",
                     with_any=("chest pain", "syncope", "passed out", "fainted", "shortness of breath",
                               "dizzy", "lightheaded")),
    ComplaintPattern(("seizure", "seizures", "convulsion", "fitting", "first seizure", "new seizure"),
                     "seizure (post-ictal or first)"),
    ComplaintPattern(("sudden vision loss", "vision loss", "loss of vision", "curtain over vision"),
                     "sudden loss of vision"),
    ComplaintPattern(("hypothermia", "hypothermic", "heat stroke", "heatstroke", "hyperthermia"),
                     "temperature emergency"),
    ComplaintPattern(("burn", "burns", "scald", "scalded", "kettle", "boiling water", "hot water", "hot oil"),
                     "major or airway burn",
                     with_any=("face", "airway", "singed", "inhalation", "smoke", "circumferential", "electrical",
                               "large", "extensive", "chest", "arms", "legs", "back", "hands", "feet", "genitals",
                               "perineum", "tbsa", "partial thickness", "full thickness")),
    ComplaintPattern(("electrocution", "electric shock", "lightning"), "electrical injury"),
    ComplaintPattern(("severe abdominal pain",), "severe abdominal pain in an elderly patient", min_age=65),
    ComplaintPattern(("not feeding", "poor feeding", "feeding poorly", "not eating", "bilious vomiting",
                      "green vomit"), "unwell young infant", max_age=0),
)

# pain >= 7 in these complaints is taken as severe pain/distress for ESI 2
SEVERE_PAIN: tuple[ComplaintPattern, ...] = (
    ComplaintPattern(("abdominal pain", "abdo pain", "flank pain", "renal colic", "kidney stone", "loin pain",
                      "back pain radiating to groin"), "severe abdominal/flank pain"),
    ComplaintPattern(("sickle cell", "sickle-cell", "vaso-occlusive"), "sickle cell pain crisis"),
    ComplaintPattern(("burn", "burns", "scald"), "severe pain from a burn"),
    ComplaintPattern(("headache", "migraine"), "severe headache"),
    ComplaintPattern(("fracture", "dislocation", "deformity", "dislocated", "deformed"),
                     "severe pain from a fracture or dislocation"),
    ComplaintPattern(("eye pain",), "severe eye pain"),
    ComplaintPattern(("chest pain",), "severe chest pain"),
)
SEVERE_PAIN_THRESHOLD = 7
# The handbook: pain >= 7 is severe pain/distress only when the nurse sees it. A note that the patient is
# comfortable or calm is that observation the other way.
COMFORTABLE = ("comfortable", "resting comfortably", "calm", "no distress", "no acute distress", "nad",
               "walking around", "ambulating comfortably", "appears comfortable", "looks comfortable", "smiling",
               "playing on phone", "uncomfortable but calm")

# --- 7: resources estimated from the complaint (first match wins) ---
# 0: history, examination, prescription, simple dressing; 1: one lab panel, one X-ray or a simple
# procedure (laceration repair); 2: labs + imaging, IV fluids/medication, specialist consult.
RESOURCE_ESTIMATES: tuple[tuple[tuple[str, ...], int], ...] = (
    (("abdominal pain", "shortness of breath", "difficulty breathing", "syncope", "palpitations",
      "head injury", "flank pain", "vomiting and diarrhoea", "vomiting and diarrhea", "dehydration",
      "dizziness", "weakness", "cellulitis", "pneumonia", "fall", "fracture", "back pain with fever",
      "vomiting", "chest pain", "hip pain", "trismus", "hot potato voice", "uvula deviated", "peritonsillar",
      "can't open mouth", "cannot open mouth", "drooling", "pyelonephritis", "kidney stone",
      "gastrointestinal bleeding", "seizure", "asthma", "cough with fever", "blood in urine",
      "vaginal bleeding", "deformity", "dislocation", "allergic reaction", "motor vehicle collision",
      "assault", "diarrhoea", "diarrhea", "swollen leg", "leg swelling", "jaundice", "urinary retention"), 2),
    (("laceration", "cut", "ankle injury", "ankle sprain", "ankle pain", "wrist injury", "wrist pain",
      "finger injury", "foot injury", "toe injury", "knee injury", "knee pain", "dysuria", "urinary",
      "burning urination", "foreign body", "back pain", "shoulder pain", "sprain", "eye injury",
      "minor burn", "abscess", "nosebleed", "epistaxis", "bite", "dog bite", "puncture wound", "sore ear",
      "urinary tract infection", "uti", "twisted ankle", "stubbed toe", "hand injury", "elbow pain",
      "fishhook", "fish hook", "something in eye", "something in my eye", "bruised", "bruise", "contusion",
      "rear-ended", "rear ended", "burning", "wheeze", "wheezing", "gritty", "grinding metal", "metal in eye", "urine smells", "neck pain", "wound infection", "pulled back",
      "back strain"), 1),
    (("prescription refill", "medication refill", "refill", "suture removal", "insect bite", "rash", "cold symptoms",
      "sore throat", "earache", "ear pain", "conjunctivitis", "red eye", "toothache", "dental pain",
      "dressing change", "sunburn", "runny nose", "cold sore", "wound check", "stitches out", "common cold",
      "nasal congestion", "head lice", "work note", "sick note", "pink eye", "insect sting", "splinter",
      "poison ivy", "athlete's foot", "acne", "mild cough", "cold", "blister", "tick bite", "recheck",
      "re-check", "hives", "urticaria", "itchy", "congested", "congestion"), 0),
)
# bleeding or a head injury in an anticoagulated patient needs labs (INR) and often imaging: two resources
ANTICOAGULANTS = ("warfarin", "coumadin", "apixaban", "eliquis", "rivaroxaban", "xarelto", "dabigatran", "pradaxa",
                  "edoxaban", "enoxaparin", "heparin", "anticoagulated", "anticoagulant", "blood thinner",
                  "blood thinners")
RESOURCE_RAISERS: tuple[tuple[tuple[str, ...], tuple[str, ...], int], ...] = (
    (("nosebleed", "epistaxis", "bleeding", "bleed", "laceration", "cut", "head injury", "hit head", "fall", "fell",
      "blood in urine", "bruising"), ANTICOAGULANTS, 2),
)
UNKNOWN_COMPLAINT_RESOURCES = 2

# paediatric fever bands: (max age in days inclusive, fever above °C, level, reason)
PAEDIATRIC_FEVER_BANDS: tuple[tuple[int, float, int, str], ...] = (
    (28, 38.0, 2, "fever > 38.0 °C at 1-28 days: ESI 2 at least (handbook)"),
    (90, 38.0, 2, "fever > 38.0 °C at 1-3 months: ESI 2 (handbook 'consider', on the safe side)"),
    (3 * 365, 39.0, 3, "fever > 39.0 °C at 3 months-3 years: ESI 3 at least (handbook)"),
)
FEVER_AT_LEAST_C = 38.0
# "took 30 Tylenol", "swallowed a handful of pills", "drank a bottle of ...": a quantity ingested is an overdose
# whatever the drug is called.
INGESTED_QUANTITY = re.compile(
    r"\b(?:took|taken|swallowed|ingested|ate|drank|downed)\s+(?:about\s+|around\s+|~\s*)?"
    r"(?:\d{2,}|a\s+(?:bottle|handful|bunch|box|packet|pack|whole\s+\w+)|an?\s+(?:entire|whole)|all\s+(?:of\s+)?(?:her|his|my|the))\b",
    re.I)


def _texts(case: TriageCase) -> tuple[str, str]:
    complaint = f"{case.chief_complaint}. {case.notes}"
    return complaint, f"{complaint}. {case.history}"


def has_context(text: str, phrases: tuple[str, ...]) -> TermHit | None:
    """A standing condition of the patient (pregnancy, immunocompromise, anticoagulation): affirmed, or written
    as history ("renal transplant 2019", "h/o AF on warfarin") — history is where standing conditions live —
    but not negated, hypothetical or about someone else."""
    for hit in find_terms(text, phrases):
        if not (hit.negated or hit.hypothetical or hit.family):
            return hit
    return None


def match_table(case: TriageCase, table: tuple[ComplaintPattern, ...]) -> tuple[ComplaintPattern, str] | None:
    """The first table entry the case matches, with the text that matched."""
    complaint, everything = _texts(case)
    for entry in table:
        if entry.min_age is not None and case.age < entry.min_age:
            continue
        if entry.max_age is not None and case.age > entry.max_age:
            continue
        hit = first_affirmed(complaint, entry.phrases)
        if hit is None:
            continue
        if entry.with_any and has_context(everything, entry.with_any) is None:
            continue
        if entry.needs_fever and not has_fever(case):
            continue
        return entry, hit.surface
    return None


def table_reason(case: TriageCase, table: tuple[ComplaintPattern, ...]) -> str | None:
    """"<the entry's reason> ('<what matched>')" for the first entry of `table` the case matches, else None."""
    hit = match_table(case, table)
    return f"{hit[0].reason} ({hit[1]!r})" if hit else None


def case_age(case: TriageCase) -> Age:
    return Age(years=case.age, days=infant_age_days(case))


def has_fever(case: TriageCase) -> bool:
    """Recorded temperature >= 38.0 °C, or fever affirmed in the text when no temperature was recorded."""
    t = case.vitals.temperature_c
    if t is not None:
        return t >= FEVER_AT_LEAST_C
    return first_affirmed(_texts(case)[1], FEVER_WORDS) is not None


def paediatric_fever(case: TriageCase, age: Age) -> tuple[int, str] | None:
    """(level, reason) from the recorded temperature and the age band, or None."""
    t = case.vitals.temperature_c
    if t is None or case.age > 2:
        return None
    days = age.min_days
    for max_days, above, level, reason in PAEDIATRIC_FEVER_BANDS:
        if days <= max_days:
            if t > above:
                return level, f"T {t} °C at age {age.label}: {reason}"
            return None
    return None


def estimate_resources(case: TriageCase) -> tuple[int, str]:
    """(resources, where the number came from)."""
    if case.expected_resources is not None:
        return case.expected_resources, "recorded"
    complaint, everything = _texts(case)
    for phrases, context, count in RESOURCE_RAISERS:
        hit = first_affirmed(complaint, phrases)
        if hit and (why := has_context(everything, context)):
            return count, f"estimated from {hit.surface!r} with {why.surface!r}"
    for phrases, count in RESOURCE_ESTIMATES:
        hit = first_affirmed(case.chief_complaint, phrases)
        if hit:
            return count, f"estimated from {hit.surface!r}"
    return UNKNOWN_COMPLAINT_RESOURCES, "complaint not in the resource table, assumed"


def _resource_result(case: TriageCase) -> RuleResult:
    resources, source = estimate_resources(case)
    if resources >= 2:
        return RuleResult(3, "D_resources", f"{resources} resources ({source})")
    if resources == 1:
        return RuleResult(4, "D_resources", f"one resource ({source})")
    return RuleResult(5, "D_resources", f"no resources ({source})")


def rule_results(case: TriageCase) -> list[RuleResult]:
    """Every rule that fires for the case, in the order of ``RULES``; the last is always the resources."""
    age = case_age(case)
    complaint, everything = _texts(case)
    out: list[RuleResult] = []
    reason = lifesaving_vitals(case, age, everything) or table_reason(case, LIFESAVING)
    if reason:
        out.append(RuleResult(1, "A_lifesaving", reason))

    confusion = altered_consciousness(case, everything) or table_reason(case, CONFUSION)
    if confusion:
        out.append(RuleResult(2, "B_confusion", confusion))

    # Danger-zone vitals are read for every patient and give ESI 2 whatever the complaint: the handbook asks
    # them for patients needing two or more resources, but a resource count estimated from a complaint
    # ("UTI", "rash") is exactly what misses the septic 84-year-old and the febrile child with purpura.
    reason = danger_zone(case, age)
    if reason:
        out.append(RuleResult(2, "B_danger_vitals", reason))
    glucose = low_glucose(everything)
    if glucose:
        altered = confusion is not None
        out.append(RuleResult(1 if altered else 2, "A_lifesaving" if altered else "B_high_risk",
                              f"{glucose}{' with altered consciousness: needs IV dextrose now' if altered else ''}"))

    fever = paediatric_fever(case, age)
    if fever:
        out.append(RuleResult(fever[0], "B_paediatric_fever", fever[1]))

    high_risk = table_reason(case, HIGH_RISK)
    quantity = INGESTED_QUANTITY.search(complaint)
    if high_risk:
        out.append(RuleResult(2, "B_high_risk", high_risk))
    elif quantity:
        out.append(RuleResult(2, "B_high_risk", f"overdose / toxic ingestion ({quantity.group(0)!r})"))
    elif has_fever(case):
        immune = has_context(everything, IMMUNOCOMPROMISE)
        if immune:
            out.append(RuleResult(2, "B_high_risk",
                                  f"fever in an immunocompromised patient ({immune.surface!r}): neutropenic sepsis"))

    pain = case.vitals.pain_score
    if pain is not None and pain >= SEVERE_PAIN_THRESHOLD and first_affirmed(complaint, COMFORTABLE) is None:
        severe = table_reason(case, SEVERE_PAIN)
        if severe:
            out.append(RuleResult(2, "B_severe_pain", f"pain {pain}/10: {severe}"))

    out.append(_resource_result(case))
    return out


def rules_triage(case: TriageCase) -> RuleResult:
    """The ESI level the handbook's decision points demand: the most urgent of every rule that fires, named
    by the first rule (in ``RULES`` order) that gives it."""
    results = rule_results(case)
    best = min(r.level for r in results)
    return next(r for r in results if r.level == best)


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
