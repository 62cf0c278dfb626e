"""The closed sets a model draft's coded part is generated from: nothing outside them can be written.

- ICD-10-CM: only billable codes (leaves) of the simple-icd-10-cm table, and of those only the ones retrieved
  for the encounter (`icd_candidates`: its assessment and chief complaint matched against the code
  descriptions). The model writes a code from that list; the description is the table's, never the model's.
- Medications: only the knowledge base's single drugs, each by a route its dose limits name, a single dose
  inside that route's usual range, in the drug's own unit, and a frequency from `FREQUENCIES` that fits the
  schedule (daily drugs: daily frequencies; weekly drugs: "once weekly"; one-off drugs: "once").

Both are JSON schemas that the engine compiles into a token mask (xgrammar): an out-of-set code, drug, route,
unit or out-of-range dose cannot be sampled. Verification still runs on the result (allergies, interactions,
daily maxima and the clinician's edits are checked there).
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from functools import lru_cache

from apps.medical.icd_search import IcdEntry, _table

MAX_CODE_CANDIDATES = 50
MAX_CODES = 2
MAX_MEDICATIONS = 3

# frequency -> doses a day (what verification's daily-maximum check counts); per schedule of the knowledge base
FREQUENCIES: dict[str, int] = {
    "once daily": 1, "twice daily": 2, "three times daily": 3, "four times daily": 4,
    "every 4 hours": 6, "every 6 hours": 4, "every 8 hours": 3, "every 12 hours": 2,
    "once weekly": 1, "once": 1,
}
_SCHEDULE_FREQUENCIES = {
    "daily": ("once daily", "twice daily", "three times daily", "four times daily", "every 4 hours",
              "every 6 hours", "every 8 hours", "every 12 hours"),
    "weekly": ("once weekly",),
    "once": ("once",),
}

_WORD = re.compile(r"[a-z][a-z0-9]+")
# words too common in descriptions to say anything about an encounter
_STOP = frozenset("""
and the of with without or in on to for by due other unspecified specified not elsewhere classified type
site part unsp initial encounter subsequent sequela left right side acute chronic disease disorder
patient history status pain
""".split())


def _stem(word: str) -> str:
    for suffix in ("ies", "es", "s", "ing", "ed", "al", "ic"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP}


@lru_cache(maxsize=1)
def _index() -> tuple[tuple[IcdEntry, ...], dict[str, list[int]], dict[str, float]]:
    """Billable codes, an inverted index word -> code positions, and each word's inverse document frequency."""
    billable = tuple(e for e in _table() if e.billable)
    index: dict[str, list[int]] = defaultdict(list)
    for i, entry in enumerate(billable):
        for word in _words(entry.description):
            index[word].append(i)
    n = len(billable)
    idf = {word: math.log(n / len(hits)) for word, hits in index.items()}
    return billable, dict(index), idf


def _affirmed_phrases(text: str) -> str:
    """The lexicon's canonical phrases that `text` affirms ("c/o CP" -> "chest pain"; "denies SOB" -> none)."""
    from apps.medical.text import canonical_terms, find_terms

    return " ".join(sorted({h.phrase for h in find_terms(text, canonical_terms()) if h.affirmed}))


def _later_encounter(entry: IcdEntry) -> bool:
    """Injury codes for a subsequent encounter or a sequela: never the code of an emergency visit."""
    return entry.description.endswith(("subsequent encounter", "sequela")) or ", subsequent encounter " in \
        entry.description


def icd_candidates(assessment: str, complaint: str = "", *, limit: int = MAX_CODE_CANDIDATES) -> list[IcdEntry]:
    """The billable codes whose descriptions share the most informative words with the encounter's assessment
    (weight 2) and chief complaint (weight 1), abbreviations and synonyms read through the clinical text layer
    ("CP" -> chest pain; negated findings are not read): each code scores the inverse document frequencies of
    the words it shares, divided by the square root of its description's word count (a short description that
    matches wins over a long one that mentions the word in passing). Ties keep table order; codes of a later
    encounter (subsequent, sequela) are left out. Empty when nothing matches."""
    billable, index, idf = _index()
    weights: dict[str, float] = defaultdict(float)
    for text, weight in ((assessment, 2.0), (complaint, 1.0)):
        for word in _words(text) | _words(_affirmed_phrases(text)):
            weights[word] = max(weights[word], weight)
    scores: dict[int, float] = defaultdict(float)
    for word, weight in weights.items():
        for i in index.get(word, ()):
            if not _later_encounter(billable[i]):
                scores[i] += weight * idf[word]
    if not scores:
        return []
    lengths = {i: max(1, len(_words(billable[i].description))) for i in scores}
    ranked = sorted(scores, key=lambda i: (-scores[i] / math.sqrt(lengths[i]), i))
    return [billable[i] for i in ranked[:limit]]


def codes_schema(candidates: list[IcdEntry]) -> dict:
    """{"icd_codes": [{"code": <one of the candidates>}, ...]}: at most MAX_CODES, no repeats checked here
    (verification reports duplicates); no candidates -> an empty list is the only answer."""
    codes = [e.code for e in candidates]
    items: dict = {"type": "object", "properties": {"code": {"type": "string", "enum": codes}},
                   "required": ["code"], "additionalProperties": False}
    array: dict = {"type": "array", "maxItems": MAX_CODES if codes else 0}
    if codes:
        array["items"] = items
    return {"type": "object", "properties": {"icd_codes": array}, "required": ["icd_codes"],
            "additionalProperties": False}


def _branches(kb) -> list[dict]:
    out = []
    for drug in sorted(kb.drugs.values(), key=lambda d: d.name):
        if drug.is_combination:
            continue  # products are ordered by their strengths; the model orders single ingredients
        for limit in drug.doses:
            low, high = limit.single
            out.append({
                "type": "object",
                "properties": {
                    "name": {"const": drug.name},
                    "dose": {"type": "number", "minimum": low, "maximum": high},
                    "unit": {"const": drug.unit},
                    "route": {"type": "string", "enum": list(limit.routes)},
                    "frequency": {"type": "string", "enum": list(_SCHEDULE_FREQUENCIES[limit.schedule])},
                },
                "required": ["name", "dose", "unit", "route", "frequency"],
                "additionalProperties": False,
            })
    return out


_MEDICATION_SCHEMAS: dict[int, tuple[object, dict]] = {}


def _medications_schema(kb) -> dict:
    cached = _MEDICATION_SCHEMAS.get(id(kb))
    if cached is not None and cached[0] is kb:
        return cached[1]
    schema = {
        "type": "object",
        "properties": {"medications": {"type": "array", "maxItems": MAX_MEDICATIONS,
                                       "items": {"anyOf": _branches(kb)}}},
        "required": ["medications"],
        "additionalProperties": False,
    }
    _MEDICATION_SCHEMAS[id(kb)] = (kb, schema)
    return schema


def medications_schema(kb=None) -> dict:
    """{"medications": [{"name", "dose", "unit", "route", "frequency"}, ...]} over the knowledge base's drugs
    (one schema per knowledge base: the engine compiles it once and caches it)."""
    if kb is None:
        from apps.medical.knowledge import default_knowledge

        kb = default_knowledge()
    return _medications_schema(kb)


def icd_description(code: str) -> str:
    """The table's description of a code ("" when it is not in the table)."""
    for entry in _index()[0]:
        if entry.code == code:
            return entry.description
    return ""


def medication_order(item: dict) -> dict | None:
    """A generated medication item as the draft stores it (None when it is not one of the schema's shapes)."""
    name, dose, unit = item.get("name"), item.get("dose"), item.get("unit")
    route, frequency = item.get("route"), item.get("frequency")
    if not (isinstance(name, str) and isinstance(unit, str) and isinstance(route, str)
            and isinstance(frequency, str) and frequency in FREQUENCIES):
        return None
    if isinstance(dose, bool) or not isinstance(dose, int | float) or not math.isfinite(dose):
        return None
    return {
        "name": name, "dose_mg": float(dose) if unit == "mg" else None, "dose_text": f"{dose:g} {unit}",
        "route": route, "frequency": frequency, "times_per_day": FREQUENCIES[frequency],
    }
