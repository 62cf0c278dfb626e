"""Meaning-preserving perturbations of triage cases, to measure how robust a triage reader is.

Each kind rewrites only the free text (chief complaint, history, notes) the way real notes vary:
ED shorthand, typos, lay or clinical synonyms, a negated symptom the case never mentions, another
sentence order, other capitalisation and spacing. Vitals, age, sex and expected_resources never
change, and numbers and negation words are left as they are, so the ESI label of the original case
is still the label of every perturbed one.

The tables were written without looking at which words any triage reader looks for: the point is
to measure, not to pass. Everything is pure Python and deterministic for a seed.

    perturb(case, "abbreviate", seed=0)    # -> TriageCase, or None when the kind has nothing to change
    perturbations(case, seed=0)            # -> [(kind, TriageCase), ...] for every kind that applies
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from apps.medical.clinical import TriageCase

KINDS: tuple[str, ...] = (
    "abbreviate", "misspell", "synonym", "negated_distractor", "reorder", "case", "combined",
)
TEXT_FIELDS: tuple[str, ...] = ("chief_complaint", "history", "notes")

# Never misspelt, abbreviated or swapped: a typo here could flip the meaning of a sentence.
NEGATION_WORDS: frozenset[str] = frozenset({
    "no", "not", "non", "nil", "none", "nor", "neither", "never", "nothing", "without", "deny",
    "denies", "denied", "denying", "negative", "absent", "absence", "cannot", "unable",
})

# ---------------------------------------------------------------------------------------------
# Tables. One entry is one concept: every phrase of an entry means the same thing.
# ---------------------------------------------------------------------------------------------

# shorthand -> the phrases it stands for (matched case-insensitively, as whole words)
ABBREVIATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CP", ("chest pain", "chest pains")),
    ("SOB", ("shortness of breath", "short of breath")),
    ("HA", ("headache", "headaches")),
    ("abd", ("abdominal", "abdomen")),
    ("h/o", ("history of",)),
    ("hx", ("history",)),
    ("PMH", ("past medical history",)),
    ("FHx", ("family history",)),
    ("w/", ("with",)),
    ("c/o", ("complains of", "complaining of", "complained of")),
    ("N/V", ("nausea and vomiting", "nausea & vomiting")),
    ("D&V", ("diarrhoea and vomiting", "diarrhea and vomiting", "vomiting and diarrhoea",
             "vomiting and diarrhea")),
    ("LOC", ("loss of consciousness",)),
    ("AMS", ("altered mental status",)),
    ("SI", ("suicidal ideation",)),
    ("MVC", ("motor vehicle collision",)),
    ("MVA", ("motor vehicle accident",)),
    ("RTC", ("road traffic collision",)),
    ("y/o", ("years old", "year old", "year-old", "years-old")),
    ("pt", ("patient",)),
    ("pts", ("patients",)),
    ("HTN", ("hypertension",)),
    ("DM", ("diabetes mellitus", "diabetes")),
    ("DI", ("diabetes insipidus",)),
    ("MI", ("myocardial infarction",)),
    ("AF", ("atrial fibrillation",)),
    ("CHF", ("congestive heart failure",)),
    ("COPD", ("chronic obstructive pulmonary disease",)),
    ("CAD", ("coronary artery disease",)),
    ("UTI", ("urinary tract infection",)),
    ("URTI", ("upper respiratory tract infection", "upper respiratory infection")),
    ("DVT", ("deep vein thrombosis", "deep venous thrombosis")),
    ("PE", ("pulmonary embolism", "pulmonary embolus")),
    ("CVA", ("cerebrovascular accident",)),
    ("TIA", ("transient ischaemic attack", "transient ischemic attack")),
    ("SAH", ("subarachnoid haemorrhage", "subarachnoid hemorrhage")),
    ("TBI", ("traumatic brain injury",)),
    ("GI", ("gastrointestinal",)),
    ("BP", ("blood pressure",)),
    ("HR", ("heart rate",)),
    ("RR", ("respiratory rate",)),
    ("resp", ("respiratory",)),
    ("temp", ("temperature",)),
    ("SpO2", ("oxygen saturation", "oxygen saturations")),
    ("BGL", ("blood glucose level", "blood glucose")),
    ("ED", ("emergency department",)),
    ("ICU", ("intensive care unit",)),
    ("EMS", ("emergency medical services",)),
    ("GP", ("general practitioner",)),
    ("PCP", ("primary care physician", "primary care provider")),
    ("RLQ", ("right lower quadrant",)),
    ("LLQ", ("left lower quadrant",)),
    ("RUQ", ("right upper quadrant",)),
    ("LUQ", ("left upper quadrant",)),
    ("RIF", ("right iliac fossa",)),
    ("LIF", ("left iliac fossa",)),
    ("LBP", ("lower back pain", "low back pain")),
    ("UE", ("upper extremity",)),
    ("LE", ("lower extremity",)),
    ("b/l", ("bilateral",)),
    ("fx", ("fracture",)),
    ("FB", ("foreign body",)),
    ("ROM", ("range of motion",)),
    ("dx", ("diagnosis",)),
    ("tx", ("treatment",)),
    ("sx", ("symptoms",)),
    ("meds", ("medications",)),
    ("med", ("medication",)),
    ("IV", ("intravenous",)),
    ("PRN", ("as needed", "as required")),
    ("BID", ("twice daily", "twice a day")),
    ("TID", ("three times daily", "three times a day")),
    ("hrs", ("hours",)),
    ("mins", ("minutes",)),
    ("wks", ("weeks",)),
    ("DOE", ("dyspnoea on exertion", "dyspnea on exertion")),
    ("STI", ("sexually transmitted infection",)),
    ("OD", ("overdose",)),
    ("LMP", ("last menstrual period",)),
    ("PV", ("per vaginam", "per vagina")),
    ("EtOH", ("alcohol",)),
    ("GCS", ("glasgow coma scale", "glasgow coma score")),
    ("ECG", ("electrocardiogram",)),
    ("CT", ("computed tomography",)),
    ("XR", ("x-ray", "xray")),
    ("GTN", ("glyceryl trinitrate",)),
    ("A&O", ("alert and oriented",)),
    ("approx", ("approximately",)),
)

# Groups of interchangeable phrases (lay <-> clinical, spelling variants); any member may become any
# other. Same part of speech within a group, so the sentence still reads.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("heart attack", "myocardial infarction"),
    ("heart attacks", "myocardial infarctions"),
    ("syncope", "syncopal episode", "fainting episode"),
    ("passed out", "fainted"),
    ("passing out", "fainting"),
    ("fits", "seizures", "convulsions"),
    ("had a fit", "had a seizure", "had a convulsion"),
    ("short of breath", "breathless", "dyspnoeic"),
    ("shortness of breath", "breathlessness", "dyspnoea"),
    ("throwing up", "vomiting"),
    ("threw up", "vomited"),
    ("tummy pain", "abdominal pain", "belly pain", "stomach ache", "tummy ache"),
    ("tummy", "belly", "abdomen"),
    ("stroke", "cerebrovascular accident"),
    ("heat stroke", "heatstroke"),
    ("high blood pressure", "hypertension"),
    ("low blood pressure", "hypotension"),
    ("fever", "pyrexia"),
    ("feverish", "febrile"),
    ("hay fever", "allergic rhinitis"),
    ("glandular fever", "infectious mononucleosis"),
    ("nosebleed", "nose bleed", "epistaxis"),
    ("coughing up blood", "haemoptysis"),
    ("vomiting blood", "haematemesis"),
    ("blood in the urine", "blood in urine", "haematuria"),
    ("itching", "pruritus"),
    ("itchy", "pruritic"),
    ("runny nose", "rhinorrhoea"),
    ("painful swallowing", "odynophagia"),
    ("difficulty swallowing", "dysphagia"),
    ("painful urination", "dysuria", "pain on passing urine"),
    ("frequent urination", "urinary frequency"),
    ("water infection", "urinary tract infection"),
    ("chest infection", "lower respiratory tract infection"),
    ("head injury", "head trauma"),
    ("collarbone", "clavicle"),
    ("kneecap", "patella"),
    ("breastbone", "sternum"),
    ("windpipe", "trachea"),
    ("armpit", "axilla"),
    ("shoulder blade", "scapula"),
    ("thigh bone", "femur"),
    ("belly button", "umbilicus"),
    ("testicle", "testis"),
    ("testicles", "testes"),
    ("heartburn", "pyrosis"),
    ("confused", "disoriented", "disorientated"),
    ("confusion", "disorientation"),
    ("drowsy", "somnolent"),
    ("drowsiness", "somnolence"),
    ("sweaty", "diaphoretic"),
    ("sweating", "diaphoresis"),
    ("fast breathing", "rapid breathing", "tachypnoea"),
    ("fast heart rate", "rapid heart rate", "tachycardia"),
    ("slow heart rate", "bradycardia"),
    ("low blood sugar", "hypoglycaemia", "hypoglycemia"),
    ("high blood sugar", "hyperglycaemia", "hyperglycemia"),
    ("kidney stone", "renal calculus"),
    ("kidney stones", "renal calculi"),
    ("kidney failure", "renal failure"),
    ("pins and needles", "tingling", "paraesthesia", "paresthesia"),
    ("slurred speech", "dysarthria"),
    ("double vision", "diplopia"),
    ("blurred vision", "blurry vision"),
    ("earache", "ear pain", "otalgia"),
    ("toothache", "dental pain"),
    ("backache", "back pain"),
    ("sore throat", "throat pain"),
    ("neck stiffness", "stiff neck"),
    ("sensitivity to light", "light sensitivity", "photophobia"),
    ("facial droop", "facial drooping"),
    ("yellowing of the skin", "jaundice"),
    ("bruise", "contusion"),
    ("bruises", "contusions"),
    ("gash", "laceration"),
    ("swallowed", "ingested"),
    ("suicidal thoughts", "suicidal ideation", "thoughts of suicide"),
    ("self harm", "self-harm", "self-injury"),
    ("chills", "shivers"),
    ("tired", "fatigued"),
    ("tiredness", "fatigue"),
    ("diarrhoea", "diarrhea", "loose stools"),
    ("anaphylactic reaction", "anaphylaxis"),
    ("car crash", "car accident", "motor vehicle collision", "road traffic collision"),
    ("stab wound", "knife wound"),
    ("gunshot wound", "bullet wound"),
    ("eye pain", "ocular pain"),
    ("loss of appetite", "reduced appetite", "poor appetite"),
    ("family doctor", "general practitioner"),
    ("baby", "infant"),
    ("mum", "mother"),
    ("dad", "father"),
)
# Matched so that the words inside them are left alone ("scarlet fever" is not "scarlet pyrexia").
PROTECTED_PHRASES: tuple[str, ...] = (
    "scarlet fever", "rheumatic fever", "yellow fever", "dengue fever", "typhoid fever",
    "stroke volume",
)


@dataclass(frozen=True)
class Distractor:
    """A denial to append to the notes, and what in a case would make it a contradiction.

    ``terms`` are matched at the start of a word (``cough`` matches ``coughing``; terms of three
    letters or fewer only as whole words); the sentence's own content words count as terms too.
    ``guard`` names the vitals that rule it out; ``self_report`` means it needs a patient able to
    tell (an alert patient aged 5 or more).
    """

    sentence: str
    terms: tuple[str, ...] = ()
    guard: str | None = None   # "pain" | "fever" | "breathing" | "heart" | "neuro" | None
    self_report: bool = False


DISTRACTORS: tuple[Distractor, ...] = (
    Distractor("Denies rash.", ("rash", "hive", "urticari", "itch", "prurit", "spot", "skin", "eczema",
                                "blister", "wheal", "lesion", "measles", "chickenpox", "petechia",
                                "purpur", "mening"), self_report=True),
    Distractor("No recent travel.", ("travel", "trip", "abroad", "flight", "flew", "flown", "holiday",
                                     "overseas", "journey", "returned")),
    Distractor("No diarrhoea.", ("diarrh", "loose", "bowel", "stool", "d&v", "gastro")),
    Distractor("Denies cough.", ("cough", "sputum", "phlegm", "chest", "pneumon", "bronch", "croup",
                                 "respir"), self_report=True),
    Distractor("No fever.", ("fever", "febrile", "pyrex", "temperature", "temp", "hot", "chill",
                             "rigor", "shiver", "sweat", "sepsis", "septic", "infect"), guard="fever"),
    Distractor("Denies night sweats.", ("sweat", "night", "fever", "febrile", "diaphore", "rigor"),
               guard="fever", self_report=True),
    Distractor("No sick contacts.", ("sick", "contact", "unwell", "ill", "illness", "infect",
                                     "outbreak", "household", "expos", "nursery", "school")),
    Distractor("No known drug allergies.", ("allerg", "anaphyla", "reaction", "rash", "hive",
                                            "penicillin", "nkda", "swell", "swollen")),
    Distractor("Denies ear pain.", ("ear", "ears", "otalg", "otitis", "hearing", "discharge"),
               guard="pain", self_report=True),
    Distractor("No sore throat.", ("throat", "sore", "swallow", "tonsil", "pharyn", "odynophag",
                                   "dysphag", "hoarse", "voice"), guard="pain"),
    Distractor("No runny nose.", ("nose", "nasal", "rhinorr", "coryza", "cold", "sneez", "congest")),
    Distractor("Denies urinary symptoms.", ("urin", "dysuri", "wee", "pee", "bladder", "void",
                                            "micturi", "frequency", "haematuri", "hematuri", "uti",
                                            "kidney", "renal", "catheter", "loin", "flank"),
               self_report=True),
    Distractor("No visual disturbance.", ("vision", "visual", "sight", "eye", "eyes", "blind",
                                          "diplop", "blurr", "photophob", "see", "seeing"),
               guard="neuro"),
    Distractor("Denies hearing loss.", ("hearing", "hear", "deaf", "ear", "ears", "tinnitus"),
               self_report=True),
    Distractor("No recent weight loss.", ("weight", "appetite", "thin", "cachex", "malignan",
                                          "cancer", "tumour", "tumor")),
    Distractor("No recent surgery.", ("surg", "operat", "op", "post-op", "postop", "procedure",
                                      "wound", "stitch", "suture", "incision", "anaesthe",
                                      "anesthe")),
    Distractor("Denies joint swelling.", ("joint", "swell", "swollen", "arthr", "gout", "knee",
                                          "ankle", "wrist", "elbow", "hip", "hips", "shoulder"),
               self_report=True),
    Distractor("No change in bowel habit.", ("bowel", "stool", "constipat", "diarrh", "faec", "fecal",
                                             "poo", "melaen", "melen", "rectal", "bleed", "blood")),
    Distractor("Denies chest pain.", ("chest", "pain", "ache", "cp", "angina", "cardiac", "heart",
                                      "tight", "pressure", "discomfort", "mi", "stemi", "nstemi",
                                      "acs", "troponin", "sore"), guard="pain", self_report=True),
    Distractor("No shortness of breath.", ("breath", "dyspn", "sob", "wheez", "short", "respir",
                                           "asthma", "copd", "gasp", "hypox", "oxygen", "cough",
                                           "chest"), guard="breathing"),
    Distractor("Denies headache.", ("head", "ha", "migrain", "neck", "photophob", "mening", "pain",
                                    "ache", "sore", "vision", "concuss", "stroke", "neuro"),
               guard="pain", self_report=True),
    Distractor("No vomiting.", ("vomit", "emesis", "throw", "threw", "n/v", "nausea", "sick",
                                "retch", "d&v", "haematemes", "hematemes")),
    Distractor("Denies palpitations.", ("palpitat", "heart", "racing", "pound", "flutter", "irregular",
                                        "af", "fibrillation", "tachy", "brady", "arrhythm", "cardiac",
                                        "pulse"), guard="heart", self_report=True),
    Distractor("No focal weakness.", ("weak", "focal", "numb", "paralys", "droop", "stroke", "cva",
                                      "tia", "hemipar", "limb", "arm", "arms", "leg", "legs", "face",
                                      "facial", "speech", "slur", "neuro", "tingl", "sensation",
                                      "pins"), guard="neuro"),
    Distractor("Denies easy bruising.", ("bruis", "bleed", "blood", "haem", "hem", "anticoag",
                                         "warfarin", "apixaban", "rivaroxaban", "dabigatran",
                                         "edoxaban", "heparin", "clot", "platelet", "contusion"),
               self_report=True),
)
# Words a distractor sentence may share with a case without naming a symptom.
_FUNCTION_WORDS = frozenset({"a", "an", "the", "of", "in", "on", "to", "and", "or", "any", "for", "with"})

# ---------------------------------------------------------------------------------------------
# Matching helpers
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _norm(phrase: str) -> str:
    return " ".join(phrase.lower().split())


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str]:
    """Whole-word, case-insensitive alternation, longest phrase first; spaces match any whitespace."""
    ordered = sorted(set(phrases), key=lambda p: (-len(p), p))
    body = "|".join(r"\s+".join(re.escape(w) for w in p.split(" ")) for p in ordered)
    return re.compile(rf"(?<![A-Za-z0-9])(?:{body})(?![A-Za-z0-9])", re.IGNORECASE)


def _match_case(source: str, replacement: str) -> str:
    """Carry the case of the matched text over: ALL CAPS stays caps, a capital first letter stays."""
    letters = [c for c in source if c.isalpha()]
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return replacement.upper()
    if source[:1].isupper() and replacement[:1].islower():
        return replacement[0].upper() + replacement[1:]
    return replacement


_ABBREVIATION_OF: dict[str, str] = {_norm(p): abbr for abbr, phrases in ABBREVIATIONS for p in phrases}
_ABBREVIATION_RE = _phrase_pattern(list(_ABBREVIATION_OF))

_SYNONYMS_OF: dict[str, tuple[str, ...]] = {
    _norm(p): tuple(q for q in group if _norm(q) != _norm(p)) for group in SYNONYM_GROUPS for p in group
}
_SYNONYMS_OF.update({_norm(p): () for p in PROTECTED_PHRASES})
_SYNONYM_RE = _phrase_pattern(list(_SYNONYMS_OF))


def _case_text(case: TriageCase) -> str:
    return "\n".join(getattr(case, f) or "" for f in TEXT_FIELDS)


def _mentions(text: str, term: str) -> bool:
    """Whether ``term`` starts a word of ``text`` (whole word for terms of three letters or fewer)."""
    tail = r"(?![A-Za-z0-9])" if len(term) <= 3 else ""
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(term)}{tail}", text, re.IGNORECASE) is not None


def content_words(sentence: str) -> list[str]:
    """The words of a distractor that name something (not negation or function words)."""
    return [w for w in (m.group(0).lower() for m in _WORD.finditer(sentence))
            if w not in NEGATION_WORDS and w not in _FUNCTION_WORDS]


# ---------------------------------------------------------------------------------------------
# One function per kind: case + rng -> new case (None when nothing changed)
# ---------------------------------------------------------------------------------------------


def _with_text(case: TriageCase, **fields: str) -> TriageCase | None:
    changed = {f: v for f, v in fields.items() if v != (getattr(case, f) or "")}
    return replace(case, **changed) if changed else None


def _abbreviate(case: TriageCase, rng: random.Random) -> TriageCase | None:
    def sub(m: re.Match[str]) -> str:
        return _match_case(m.group(0), _ABBREVIATION_OF[_norm(m.group(0))])

    return _with_text(case, **{f: _ABBREVIATION_RE.sub(sub, getattr(case, f) or "") for f in TEXT_FIELDS})


def _synonym(case: TriageCase, rng: random.Random) -> TriageCase | None:
    def sub(m: re.Match[str]) -> str:
        choices = _SYNONYMS_OF[_norm(m.group(0))]
        return _match_case(m.group(0), rng.choice(choices)) if choices else m.group(0)

    return _with_text(case, **{f: _SYNONYM_RE.sub(sub, getattr(case, f) or "") for f in TEXT_FIELDS})


def _typo(word: str, rng: random.Random) -> str | None:
    """One realistic slip of the keyboard; the first letter is kept. None if every try gives a real word."""
    ops: list[Callable[[int], str]] = [
        lambda i: word[:i] + word[i + 1] + word[i] + word[i + 2:],   # transpose i, i+1
        lambda i: word[:i] + word[i + 1:],                           # drop i
        lambda i: word[:i + 1] + word[i] + word[i + 1:],             # double i
    ]
    for _ in range(12):
        op = rng.randrange(3)
        i = rng.randrange(1, len(word) - 1)
        typo = ops[op](i)
        if typo != word and typo.lower() not in NEGATION_WORDS:
            return typo
    return None


def _misspell_candidates(text: str) -> list[tuple[int, int]]:
    """Spans of words that may take a typo: 6+ letters, no digits next to them, not a negation, not an acronym."""
    spans = []
    for m in _WORD.finditer(text):
        word = m.group(0)
        before = text[m.start() - 1] if m.start() else " "
        after = text[m.end()] if m.end() < len(text) else " "
        if (len(word) >= 6 and word.isalpha() and word.lower() not in NEGATION_WORDS
                and not word.isupper() and not before.isdigit() and not after.isdigit()):
            spans.append((m.start(), m.end()))
    return spans


def _misspell(case: TriageCase, rng: random.Random) -> TriageCase | None:
    fields = {"chief_complaint": case.chief_complaint or "", "notes": case.notes or ""}
    candidates = [(f, s, e) for f, text in fields.items() for s, e in _misspell_candidates(text)]
    if not candidates:
        return None
    chosen = rng.sample(candidates, min(len(candidates), rng.choice((1, 2))))
    for field_name, start, end in sorted(chosen, key=lambda c: -c[1]):   # right to left keeps spans valid
        text = fields[field_name]
        typo = _typo(text[start:end], rng)
        if typo is not None:
            fields[field_name] = text[:start] + typo + text[end:]
    return _with_text(case, **fields)


def _distractor_allowed(d: Distractor, case: TriageCase, texts: list[str]) -> bool:
    v = case.vitals
    guards = {
        "pain": v.pain_score is not None and v.pain_score > 0,
        "fever": v.temperature_c is not None and v.temperature_c >= 38.0,
        "breathing": (v.respiratory_rate is not None and not 10 <= v.respiratory_rate <= 20)
        or (v.spo2 is not None and v.spo2 < 95),
        "heart": v.heart_rate is not None and not 50 <= v.heart_rate <= 100,
        "neuro": v.consciousness not in (None, "alert"),
    }
    if d.guard is not None and guards[d.guard]:
        return False
    if d.self_report and (case.age < 5 or v.consciousness not in (None, "alert")):
        return False
    terms = (*d.terms, *content_words(d.sentence))
    return not any(_mentions(text, term) for text in texts for term in terms)


def negated_distractors(case: TriageCase, *, also_check: tuple[str, ...] = ()) -> list[str]:
    """The denial sentences that cannot contradict ``case`` (nor any text in ``also_check``)."""
    texts = [_case_text(case), *also_check]
    return [d.sentence for d in DISTRACTORS if _distractor_allowed(d, case, texts)]


def _append_sentence(notes: str, sentence: str) -> str:
    notes = (notes or "").rstrip()
    if not notes:
        return sentence
    return f"{notes}{'' if notes[-1] in '.!?' else '.'} {sentence}"


def _negated_distractor(case: TriageCase, rng: random.Random, *, original: TriageCase | None = None
                        ) -> TriageCase | None:
    also = (_case_text(original),) if original is not None else ()
    options = negated_distractors(case, also_check=also)
    if not options:
        return None
    return _with_text(case, notes=_append_sentence(case.notes, rng.choice(options)))


# Sentences that point back at the one before stay with it when notes are shuffled.
_ANAPHORA = frozenset({
    "it", "its", "this", "that", "these", "those", "they", "them", "also", "then", "now", "since",
    "after", "afterwards", "subsequently", "both", "same", "which", "there", "again", "still", "but",
    "and", "or", "so", "however", "otherwise", "later", "thereafter", "prior", "before", "following",
})
# Clauses of a chief complaint that qualify the clause before them ("headache, worse lying down").
_ATTACHED = frozenset({
    "with", "w/", "and", "or", "but", "radiating", "radiates", "worse", "better", "relieved", "eased",
    "since", "after", "for", "on", "at", "x", "started", "starting", "onset", "associated", "which",
    "that", "then", "also", "especially", "mainly", "when", "while", "during", "following", "from",
    "to", "into", "in", "of", "lasting", "ongoing", "now", "getting", "increasing", "intermittent",
    "constant", "sudden", "gradual", "over", "ago", "today", "yesterday", "tonight", "overnight",
})
_ABBREVIATED_STOP = re.compile(r"(?:\b(?:dr|mr|mrs|ms|approx|vs|st|etc|no|e\.g|i\.e)|\b[A-Za-z])\.$",
                               re.IGNORECASE)


def _first_word(text: str) -> str:
    parts = text.split()
    return parts[0].lower().strip("(\"'") if parts else ""


def _sentence_blocks(text: str) -> list[str]:
    """Sentences of ``text``, each ending in punctuation, with dependent sentences kept on their antecedent."""
    blocks: list[str] = []
    for piece in re.split(r"(?<=[.!?])\s+", text.strip()):
        if not piece:
            continue
        dependent = (
            _first_word(piece) in _ANAPHORA or piece[0].isdigit() or piece[0].islower()
            or (blocks and _ABBREVIATED_STOP.search(blocks[-1]) is not None)
        )
        if blocks and dependent:
            blocks[-1] = f"{blocks[-1]} {piece}"
        else:
            blocks.append(piece)
    return [b if b[-1] in ".!?" else b + "." for b in blocks]


def _shuffled(items: list[str], rng: random.Random) -> list[str]:
    """A different order of ``items`` when one exists, else ``items``."""
    if len(set(items)) < 2:
        return items
    order = items[:]
    while order == items:
        rng.shuffle(order)
    return order


def _reorder_notes(text: str, rng: random.Random) -> str:
    if not (text or "").strip():
        return text
    blocks = _sentence_blocks(text)
    shuffled = _shuffled(blocks, rng)
    return text if shuffled == blocks else " ".join(shuffled)


def _has_negation(clause: str) -> bool:
    return any(m.group(0).lower() in NEGATION_WORDS for m in _WORD.finditer(clause))


def _reorder_complaint(text: str, rng: random.Random) -> str:
    """Shuffle comma-separated clauses. A qualifying clause ("radiating to left arm") keeps its place
    after all the clauses before it, since which one it qualifies is unknown; a negation, whose scope
    may run on over the later clauses ("denies fever, cough"), stays at the end with all after it."""
    stripped = text.strip()
    end = stripped[-1] if stripped and stripped[-1] in ".!?" else ""
    clauses = [c.strip() for c in stripped.rstrip(".!?").split(",") if c.strip()]
    movable: list[str] = []
    tail: list[str] = []
    for clause in clauses:
        if tail or _has_negation(clause):
            tail.append(clause)
        elif movable and (_first_word(clause) in _ATTACHED or clause[0].isdigit()):
            # which earlier clause it qualifies is unknown: keep it and everything before it together
            movable = [", ".join([*movable, clause])]
        else:
            movable.append(clause)
    shuffled = _shuffled(movable, rng)
    if shuffled == movable:
        return text
    if movable[0][:1].isupper() and not movable[0][1:2].isupper():  # sentence case, not an acronym
        shuffled = [movable[0][0].lower() + movable[0][1:] if c == movable[0] else c for c in shuffled]
        shuffled[0] = shuffled[0][0].upper() + shuffled[0][1:]
    return ", ".join([*shuffled, *([", ".join(tail)] if tail else [])]) + end


def _reorder(case: TriageCase, rng: random.Random) -> TriageCase | None:
    return _with_text(
        case,
        chief_complaint=_reorder_complaint(case.chief_complaint or "", rng),
        history=_reorder_notes(case.history or "", rng),
        notes=_reorder_notes(case.notes or "", rng),
    )


def _respace(text: str, rng: random.Random) -> str:
    gaps = [m.start() for m in re.finditer(r"(?<=\S) (?=\S)", text)]
    if not gaps:
        return text
    chosen = set(rng.sample(gaps, max(1, len(gaps) // 3)))
    return "".join("  " if i in chosen else c for i, c in enumerate(text))


def _recase(case: TriageCase, rng: random.Random) -> TriageCase | None:
    modes = [str.upper, str.lower]
    rng.shuffle(modes)
    for mode in modes:   # the other mode when the text already is in the first one
        fields = {f: _respace(mode(getattr(case, f) or ""), rng) for f in TEXT_FIELDS}
        if any(mode(getattr(case, f) or "") != (getattr(case, f) or "") for f in TEXT_FIELDS):
            break
    return _with_text(case, **fields)


def _combined(case: TriageCase, rng: random.Random) -> TriageCase | None:
    current = case
    for step in (_abbreviate, _misspell):
        current = step(current, rng) or current
    current = _negated_distractor(current, rng, original=case) or current
    return current if current != case else None


_KIND_FUNCTIONS: dict[str, Callable[[TriageCase, random.Random], TriageCase | None]] = {
    "abbreviate": _abbreviate,
    "misspell": _misspell,
    "synonym": _synonym,
    "negated_distractor": _negated_distractor,
    "reorder": _reorder,
    "case": _recase,
    "combined": _combined,
}


def perturb(case: TriageCase, kind: str, *, seed: int) -> TriageCase | None:
    """``case`` with its text perturbed by ``kind``; None when the kind has nothing to change in it."""
    if kind not in _KIND_FUNCTIONS:
        raise ValueError(f"unknown perturbation kind {kind!r}; expected one of {', '.join(KINDS)}")
    return _KIND_FUNCTIONS[kind](case, random.Random(f"perturb:{kind}:{seed}"))


def perturbations(case: TriageCase, *, seed: int) -> list[tuple[str, TriageCase]]:
    """(kind, perturbed case) for every kind that changes something in ``case``."""
    out = []
    for kind in KINDS:
        perturbed = perturb(case, kind, seed=seed)
        if perturbed is not None:
            out.append((kind, perturbed))
    return out


def table_sizes() -> dict[str, int]:
    """How big the tables are (reported by the robustness evaluation)."""
    return {
        "abbreviations": len(ABBREVIATIONS),
        "abbreviation_phrases": len(_ABBREVIATION_OF),
        "synonym_groups": len(SYNONYM_GROUPS),
        "synonym_pairs": sum(len(g) * (len(g) - 1) // 2 for g in SYNONYM_GROUPS),
        "distractors": len(DISTRACTORS),
    }
