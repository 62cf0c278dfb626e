"""Load and validate the drug knowledge files (drugs.json, interactions.json).

The files are meant to be extended by hand, so the loader checks every entry and a mistake raises
``KnowledgeError`` naming the file, the entry (index and name) and what is wrong.

Vocabulary (see README.md):
- a *drug* is one active ingredient with per-route dose limits; a *combination* is a product made of drugs
  (co-amoxiclav = amoxicillin + clavulanic acid) with the strengths it comes in; both are ``Drug`` objects,
  a combination has ``components``;
- a drug belongs to one or more *classes* (allergy and interaction groups) and may carry *tags*
  (properties such as ``serotonergic`` or ``qt_prolonging`` that cut across classes);
- an interaction side is a drug name, ``class:<key>`` or ``tag:<key>``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRUGS_PATH = HERE / "drugs.json"
INTERACTIONS_PATH = HERE / "interactions.json"
SEVERITIES = ("error", "warning")
ROUTES = ("oral", "iv", "im", "sc", "inhaled", "pr", "sl", "buccal", "topical", "intranasal", "transdermal", "local")
UNITS = ("mg", "units", "mmol", "ml", "tablet")
SCHEDULES = ("daily", "weekly", "once")

# Words a recorded allergy, a current medication or an order name may carry besides the substance itself:
# reactions, formulations, salts, dose and frequency words. A segment made only of these (and numbers) is not
# an unrecognised substance; anything else without a known name is.
FILLER = frozenset("""
a an the to of and or with without in on at for by per from as if not no yes mild moderate severe serious
allergy allergies allergic reaction reactions intolerance intolerant sensitivity sensitive history hx possible
possibly probable suspected unknown reported previous childhood as child when given caused causes causing
rash rashes hives urticaria itch itching itchy pruritus anaphylaxis anaphylactic shock angioedema swelling swollen
face facial lip lips tongue throat eye eyes airway wheeze wheezing bronchospasm asthma breathing sob shortness
breath dyspnoea dyspnea nausea nauseated vomiting vomit diarrhoea diarrhea gi upset stomach abdominal pain cramps
headache dizziness dizzy drowsy drowsiness confusion hallucinations palpitations hypotension flushing redness red
blisters blistering peeling sjs stevens johnson ten syndrome fever jaundice hepatitis kidney renal injury
tablet tablets tab tabs capsule capsules cap caps sachet sachets puff puffs inhaler inhalers nebuliser nebulizer
spray patch patches cream ointment gel drops liquid syrup suspension solution injection infusion pen pens
mr sr xl xr er cr la dr ec ds es hp modified extended sustained controlled delayed release immediate ir
hcl hydrochloride salt succinate tartrate sulfate sulphate phosphate maleate besilate
besylate mesilate mesylate acetate citrate fumarate gluconate bromide chloride dihydrate monohydrate
mg g gram grams mcg microgram micrograms ug units unit iu mmol ml l
daily once twice three four times day days week weeks weekly night morning evening nocte mane bedtime bd bid tds
tid qds qid od qd om on prn when needed required regular regularly usual usually hourly hours hour every
oral orally po iv im sc subcut inhaled nebulised nebulized top topical pr sl
""".split())

_SPLIT = re.compile(r"[,;\n+&]|(?<![a-z0-9])and(?![a-z0-9])", re.I)


class KnowledgeError(ValueError):
    """A knowledge file is malformed; the message names the entry."""


@dataclass(frozen=True)
class DrugClass:
    key: str
    label: str
    terms: tuple[str, ...]
    # severity when the allergy is to ANOTHER member of the class (amoxicillin allergy -> flucloxacillin);
    # None: a member's allergy does not extend to the class (clopidogrel allergy says nothing about aspirin).
    # A recorded allergy naming the class itself ("beta blockers") flags every member as an error.
    allergy_class_severity: str | None = None
    allergy_note: str = ""


@dataclass(frozen=True)
class Tag:
    key: str
    label: str


@dataclass(frozen=True)
class DoseLimit:
    """Adult limits for one schedule on some routes, in the drug's unit."""

    routes: tuple[str, ...]
    single: tuple[float, float]          # usual single dose [low, high]
    schedule: str = "daily"              # "daily" | "weekly" | "once"
    max_daily: float | None = None       # daily schedule: max in 24 h (None: titrated, no fixed ceiling)
    max_weekly: float | None = None      # weekly schedule: max in 7 days
    max_course: float | None = None      # once schedule: max for the course


@dataclass(frozen=True)
class Drug:
    name: str
    aliases: tuple[str, ...]
    classes: tuple[str, ...]
    tags: tuple[str, ...]
    unit: str
    doses: tuple[DoseLimit, ...]
    source: str
    components: tuple[str, ...] = ()                 # combination: ingredient names, in the order strengths are written
    strengths: tuple[tuple[float, ...], ...] = ()    # combination: mg of each component per unit (tablet, vial, puff)
    product_routes: tuple[str, ...] = ()             # combination: routes the product is given by
    strength_routes: tuple[tuple[str, ...], ...] = ()  # combination: routes of each strength (all product routes)

    @property
    def is_combination(self) -> bool:
        return bool(self.components)

    @property
    def routes(self) -> tuple[str, ...]:
        if self.is_combination:
            return self.product_routes
        return tuple(r for r in ROUTES if any(r in d.routes for d in self.doses))

    @property
    def drug_class(self) -> str:
        """The first (main) class."""
        return self.classes[0] if self.classes else ""

    @property
    def single_dose_mg(self) -> tuple[float, float] | None:
        """Widest single-dose range over routes and schedules (None for a combination)."""
        if not self.doses:
            return None
        return (min(d.single[0] for d in self.doses), max(d.single[1] for d in self.doses))

    @property
    def max_daily_mg(self) -> float | None:
        """Highest daily maximum over routes; None when any route is titrated or the drug has no daily schedule."""
        daily = [d.max_daily for d in self.doses if d.schedule == "daily"]
        return None if not daily or None in daily else max(daily)

    def limits(self, route: str | None = None) -> tuple[DoseLimit, ...]:
        return tuple(d for d in self.doses if route is None or route in d.routes)

    def strengths_for(self, routes: tuple[str, ...] = ()) -> tuple[tuple[float, ...], ...]:
        """A combination's strengths available by any of `routes` (all strengths when no route is given)."""
        return tuple(s for s, rs in zip(self.strengths, self.strength_routes or [()] * len(self.strengths),
                                        strict=True)
                     if not routes or any(r in (rs or self.product_routes) for r in routes))


@dataclass(frozen=True)
class CrossReactivity:
    allergy_class: str
    drug_class: str
    severity: str
    note: str
    source: str


def _side(ref: str, drug: Drug) -> bool:
    if ref.startswith("class:"):
        return ref[len("class:"):] in drug.classes
    if ref.startswith("tag:"):
        return ref[len("tag:"):] in drug.tags
    return drug.name == ref


def _specificity(ref: str) -> int:
    return 1 if ref.startswith(("class:", "tag:")) else 2


@dataclass(frozen=True)
class Interaction:
    a: str          # drug name, "class:<key>" or "tag:<key>"
    b: str
    severity: str
    reason: str
    source: str

    @property
    def specificity(self) -> int:
        """4: drug + drug, 3: drug + class/tag, 2: class/tag + class/tag."""
        return _specificity(self.a) + _specificity(self.b)

    def matches(self, one: Drug, other: Drug) -> bool:
        """Whether this entry covers the pair of single drugs (either way round)."""
        if one.name == other.name:
            return False
        return (_side(self.a, one) and _side(self.b, other)) or (_side(self.a, other) and _side(self.b, one))


@dataclass(frozen=True)
class Mention:
    """A drug, drug class, non-drug allergen or 'none' phrase found in a text, with its span."""

    key: str          # drug name, class key, allergen key, or "nil"
    kind: str         # "drug" | "class" | "allergen" | "nil"
    start: int
    end: int


@dataclass(frozen=True)
class Recognition:
    """What a free-text entry (an allergy, a current medication) was recognised as."""

    mentions: tuple[Mention, ...]
    unrecognised: tuple[str, ...]     # segments of the text that name nothing known

    def of_kind(self, *kinds: str) -> list[Mention]:
        return [m for m in self.mentions if m.kind in kinds]


@dataclass(frozen=True)
class Allergen:
    key: str
    label: str
    terms: tuple[str, ...]
    note: str = ""


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).replace("’", "'")


@dataclass
class Knowledge:
    classes: dict[str, DrugClass]
    drugs: dict[str, Drug]                  # single drugs and combinations, by name
    cross_reactivity: list[CrossReactivity]
    interactions: list[Interaction]
    tags: dict[str, Tag] = field(default_factory=dict)
    allergens: dict[str, Allergen] = field(default_factory=dict)
    nil_terms: tuple[str, ...] = ()

    def __post_init__(self):
        self._by_name: dict[str, Drug] = {}
        for drug in self.drugs.values():
            for name in (drug.name, *drug.aliases):
                self._by_name[_norm(name)] = drug
        terms = [(n, "drug", d.name) for n, d in self._by_name.items()]
        terms += [(_norm(t), "class", c.key) for c in self.classes.values() for t in c.terms]
        terms += [(_norm(t), "allergen", a.key) for a in self.allergens.values() for t in a.terms]
        terms += [(_norm(t), "nil", "nil") for t in self.nil_terms]
        # longest first, so "penicillin v" (a drug) wins over the class term "penicillin", "fish oil" over "fish"
        terms.sort(key=lambda t: -len(t[0]))
        self._lookup = {}
        for term, kind, key in terms:
            self._lookup.setdefault(term, (kind, key))
        self._pattern = re.compile(
            r"(?<![a-z0-9])(" + "|".join(re.escape(t) for t in self._lookup) + r")(?![a-z0-9])"
        )
        self._by_components = {frozenset(d.components): d for d in self.drugs.values()
                               if d.is_combination and len(d.strengths) != 1}

    @property
    def single_drugs(self) -> list[Drug]:
        return [d for d in self.drugs.values() if not d.is_combination]

    @property
    def combinations(self) -> list[Drug]:
        return [d for d in self.drugs.values() if d.is_combination]

    def ingredients(self, drug: Drug) -> tuple[Drug, ...]:
        """The single drugs in `drug`: its components, or itself."""
        return tuple(self.drugs[c] for c in drug.components) if drug.is_combination else (drug,)

    def find_drug(self, name: str) -> Drug | None:
        """The drug or product whose name or alias is exactly `name` (case and spacing ignored), else the one
        mentioned in it ("Amoxicillin 500 mg capsules"). Several drugs mentioned ("oxycodone/paracetamol")
        give the combination of exactly those components, or an ad-hoc combination of them. None when any part
        of the name is not recognised: no fuzzy matching, a misspelt drug is unknown."""
        drug = self._by_name.get(_norm(name))
        if drug:
            return drug
        found = self.recognise(name)
        if found.unrecognised:
            return None
        keys = list(dict.fromkeys(m.key for m in found.of_kind("drug")))
        if not keys:
            return None
        if len(keys) == 1:
            return self.drugs[keys[0]]
        parts = [self.drugs[k] for k in keys]
        names = list(dict.fromkeys(i.name for p in parts for i in self.ingredients(p)))
        known = self._by_components.get(frozenset(names))
        return known or self.adhoc_combination(names)

    def adhoc_combination(self, names: list[str]) -> Drug:
        singles = [self.drugs[n] for n in names]
        return Drug(name=" + ".join(names), aliases=(),
                    classes=tuple(dict.fromkeys(c for d in singles for c in d.classes)),
                    tags=tuple(dict.fromkeys(t for d in singles for t in d.tags)), unit="mg", doses=(),
                    source="; ".join(d.source for d in singles), components=tuple(names),
                    product_routes=tuple(r for r in ROUTES if all(r in d.routes for d in singles)))

    def class_drug(self, key: str) -> Drug:
        """A stand-in for 'a drug of this class' (a current medication recorded only as "a beta blocker")."""
        klass = self.classes[key]
        return Drug(name=klass.label, aliases=(), classes=(key,), tags=(), unit="mg", doses=(), source="")

    def mentions(self, text: str) -> list[Mention]:
        """Every drug name/alias, class term, non-drug allergen and 'none' phrase in `text`, non-overlapping,
        in order."""
        out = []
        for m in self._pattern.finditer(_norm_keep_offsets(text)):
            kind, key = self._lookup[m.group(1)]
            out.append(Mention(key=key, kind=kind, start=m.start(), end=m.end()))
        return out

    def recognise(self, text: str) -> Recognition:
        """Mentions in `text`, and the segments (split at , ; + & "and", outside brackets) that name nothing
        known: a segment with no mention and a word that is not a reaction, formulation or dose word."""
        mentions = self.mentions(text)
        unrecognised = []
        for start, end in _segments(text):
            if any(start <= m.start < end for m in mentions):
                continue
            segment = text[start:end].strip(" .:-()[]")
            words = re.findall(r"[a-z][a-z']*", segment.lower())
            if any(w.strip("'") not in FILLER for w in words if len(w) > 1):
                unrecognised.append(segment)
        return Recognition(tuple(mentions), tuple(unrecognised))

    def interactions_between(self, one: Drug, other: Drug) -> list[Interaction]:
        """Entries covering any ingredient of `one` with any (different) ingredient of `other`."""
        out = []
        for x in self.ingredients(one):
            for y in self.ingredients(other):
                out += [i for i in self.interactions if i.matches(x, y) and i not in out]
        return out


def _norm_keep_offsets(text: str) -> str:
    """Lower case with the same length as `text` (so spans point into the original)."""
    return text.lower().replace("’", "'").replace("\n", " ").replace("\t", " ")


def _segments(text: str) -> list[tuple[int, int]]:
    """(start, end) of the parts of `text` between separators (, ; + & newline, the word "and") outside
    brackets, so "Penicillin (rash, hives)" stays one part."""
    depth, depths = 0, []
    for ch in text:
        depth += ch in "(["
        depths.append(depth)
        depth = max(0, depth - (ch in ")]"))
    out, start = [], 0
    for sep in _SPLIT.finditer(text):
        if depths[sep.start()] == 0:
            out.append((start, sep.start()))
            start = sep.end()
    out.append((start, len(text)))
    return [(s, e) for s, e in out if text[s:e].strip()]


# --- validation ---------------------------------------------------------------------------------------------

def _fail(path: Path, where: str, problem: str):
    raise KnowledgeError(f"{path.name}: {where}: {problem}")


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise KnowledgeError(f"{path.name}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise KnowledgeError(f"{path.name}: top level must be an object")
    return data


def _str(path, where, entry, key, *, required=True) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        _fail(path, where, f"'{key}' must be a non-empty string")
    return value


def _strings(path, where, entry, key, *, required=False) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value) \
            or (required and not value):
        _fail(path, where, f"'{key}' must be a {'non-empty ' if required else ''}list of non-empty strings")
    return tuple(value)


def _keys(path: Path, where: str, entry: dict, allowed: set[str]):
    """Unknown fields are mistakes (a misspelt 'max_daily' would silently drop a limit)."""
    unknown = sorted(set(entry) - allowed)
    if unknown:
        _fail(path, where, f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positive(value) -> bool:
    return _number(value) and value > 0


def _classes(path: Path, data: dict) -> dict[str, DrugClass]:
    raw = data.get("classes")
    if not isinstance(raw, dict) or not raw:
        _fail(path, "classes", "must be a non-empty object of class key -> {label, terms}")
    classes = {}
    for key, entry in raw.items():
        where = f"classes[{key!r}]"
        if not isinstance(entry, dict):
            _fail(path, where, "must be an object")
        _keys(path, where, entry, {"label", "terms", "allergy_class_severity", "allergy_note"})
        severity = entry.get("allergy_class_severity")
        if severity is not None and severity not in SEVERITIES:
            _fail(path, where, f"'allergy_class_severity' must be null or one of {SEVERITIES}, got {severity!r}")
        classes[key] = DrugClass(key=key, label=_str(path, where, entry, "label"),
                                 terms=tuple(map(_norm, _strings(path, where, entry, "terms"))),
                                 allergy_class_severity=severity,
                                 allergy_note=_str(path, where, entry, "allergy_note", required=False))
    return classes


def _dose_limit(path: Path, where: str, entry) -> DoseLimit:
    if not isinstance(entry, dict):
        _fail(path, where, "must be an object")
    _keys(path, where, entry, {"routes", "schedule", "single", "max_daily", "max_weekly", "max_course"})
    routes = _strings(path, where, entry, "routes", required=True)
    bad = [r for r in routes if r not in ROUTES]
    if bad:
        _fail(path, where, f"route {bad[0]!r} is not one of {ROUTES}")
    schedule = entry.get("schedule", "daily")
    if schedule not in SCHEDULES:
        _fail(path, where, f"'schedule' must be one of {SCHEDULES}, got {schedule!r}")
    single = entry.get("single")
    if not (isinstance(single, list) and len(single) == 2 and all(map(_positive, single)) and single[0] <= single[1]):
        _fail(path, where, f"'single' must be [low, high] with 0 < low <= high, got {single!r}")
    allowed = {"daily": "max_daily", "weekly": "max_weekly", "once": "max_course"}
    for key in ("max_daily", "max_weekly", "max_course"):
        if key in entry and key != allowed[schedule]:
            _fail(path, where, f"'{key}' does not belong to a {schedule!r} schedule (use '{allowed[schedule]}')")
    limit = entry.get(allowed[schedule])
    if schedule != "daily" and limit is None:
        _fail(path, where, f"a {schedule!r} schedule needs '{allowed[schedule]}'")
    if limit is not None and not (_number(limit) and limit >= single[1]):
        _fail(path, where, f"'{allowed[schedule]}' must be {'null or ' if schedule == 'daily' else ''}"
                           f"a number >= the highest single dose, got {limit!r}")
    limit = None if limit is None else float(limit)
    return DoseLimit(routes=routes, single=(float(single[0]), float(single[1])), schedule=schedule,
                     max_daily=limit if schedule == "daily" else None,
                     max_weekly=limit if schedule == "weekly" else None,
                     max_course=limit if schedule == "once" else None)


def load_knowledge(drugs_path: Path = DRUGS_PATH, interactions_path: Path = INTERACTIONS_PATH) -> Knowledge:
    """Read and validate both files; KnowledgeError names the first bad entry."""
    drugs_path, interactions_path = Path(drugs_path), Path(interactions_path)
    data = _read(drugs_path)
    classes = _classes(drugs_path, data)

    tags: dict[str, Tag] = {}
    raw_tags = data.get("tags", {})
    if not isinstance(raw_tags, dict):
        _fail(drugs_path, "tags", "must be an object of tag key -> {label}")
    for key, entry in raw_tags.items():
        if not isinstance(entry, dict):
            _fail(drugs_path, f"tags[{key!r}]", "must be an object")
        tags[key] = Tag(key, _str(drugs_path, f"tags[{key!r}]", entry, "label"))

    drugs: dict[str, Drug] = {}
    seen_names: dict[str, str] = {}

    def claim(where: str, name: str, aliases: tuple[str, ...]):
        for n in (name, *aliases):
            if n in seen_names:
                _fail(drugs_path, where, f"name or alias {n!r} is already used by {seen_names[n]!r}")
            seen_names[n] = name

    def refs(where, entry, key, known, what):
        values = _strings(drugs_path, where, entry, key, required=key == "classes")
        for v in values:
            if v not in known:
                _fail(drugs_path, where, f"{what} {v!r} is not defined in '{key}'")
        return values

    raw_drugs = data.get("drugs")
    if not isinstance(raw_drugs, list) or not raw_drugs:
        _fail(drugs_path, "drugs", "must be a non-empty list")
    for i, entry in enumerate(raw_drugs):
        where = f"drugs[{i}]"
        if not isinstance(entry, dict):
            _fail(drugs_path, where, "must be an object")
        name = _norm(_str(drugs_path, where, entry, "name"))
        where = f"drugs[{i}] ({name!r})"
        _keys(drugs_path, where, entry, {"name", "aliases", "classes", "tags", "unit", "doses", "source"})
        aliases = tuple(map(_norm, _strings(drugs_path, where, entry, "aliases")))
        claim(where, name, aliases)
        unit = entry.get("unit", "mg")
        if unit not in UNITS:
            _fail(drugs_path, where, f"'unit' must be one of {UNITS}, got {unit!r}")
        raw_doses = entry.get("doses")
        if not isinstance(raw_doses, list) or not raw_doses:
            _fail(drugs_path, where, "'doses' must be a non-empty list of {routes, single, ...}")
        doses = tuple(_dose_limit(drugs_path, f"{where}: doses[{j}]", d) for j, d in enumerate(raw_doses))
        pairs = [(r, d.schedule) for d in doses for r in d.routes]
        dup = next((p for p in pairs if pairs.count(p) > 1), None)
        if dup:
            _fail(drugs_path, where, f"route {dup[0]!r} has more than one {dup[1]!r} entry in 'doses'")
        drugs[name] = Drug(name=name, aliases=aliases, classes=refs(where, entry, "classes", classes, "class"),
                           tags=refs(where, entry, "tags", tags, "tag"), unit=unit, doses=doses,
                           source=_str(drugs_path, where, entry, "source"))

    raw_combos = data.get("combinations", [])
    if not isinstance(raw_combos, list):
        _fail(drugs_path, "combinations", "must be a list")
    for i, entry in enumerate(raw_combos):
        where = f"combinations[{i}]"
        if not isinstance(entry, dict):
            _fail(drugs_path, where, "must be an object")
        name = _norm(_str(drugs_path, where, entry, "name"))
        where = f"combinations[{i}] ({name!r})"
        _keys(drugs_path, where, entry, {"name", "aliases", "components", "routes", "strengths", "source"})
        aliases = tuple(map(_norm, _strings(drugs_path, where, entry, "aliases")))
        claim(where, name, aliases)
        components = _strings(drugs_path, where, entry, "components", required=True)
        if len(components) < 2 or len(set(components)) != len(components):
            _fail(drugs_path, where, "'components' must name at least two different drugs")
        for c in components:
            if c not in drugs:
                _fail(drugs_path, where, f"component {c!r} is not a drug in 'drugs'")
        if any(drugs[c].unit != "mg" for c in components):
            _fail(drugs_path, where, "components must be dosed in mg")
        routes = _strings(drugs_path, where, entry, "routes", required=True)
        for r in routes:
            if r not in ROUTES:
                _fail(drugs_path, where, f"route {r!r} is not one of {ROUTES}")
            for c in components:
                if r not in drugs[c].routes:
                    _fail(drugs_path, where, f"route {r!r} is not a route of component {c!r}")
        strengths, strength_routes = [], []
        raw_strengths = entry.get("strengths")
        if not isinstance(raw_strengths, list) or not raw_strengths:
            _fail(drugs_path, where, "'strengths' must be a non-empty list")
        for s in raw_strengths:
            mg, only = (s.get("mg"), s.get("routes", [])) if isinstance(s, dict) else (s, [])
            if isinstance(s, dict):
                _keys(drugs_path, where, s, {"mg", "routes"})
            if not (isinstance(mg, list) and len(mg) == len(components) and all(map(_positive, mg))):
                _fail(drugs_path, where, f"'strengths' must hold [mg of each of the {len(components)} components] "
                                         f"or {{mg, routes}}, got {s!r}")
            if not isinstance(only, list) or any(r not in routes for r in only):
                _fail(drugs_path, where, f"strength {mg!r}: 'routes' must be routes of the product {routes}")
            strengths.append(tuple(float(x) for x in mg))
            strength_routes.append(tuple(only))
        singles = [drugs[c] for c in components]
        drugs[name] = Drug(name=name, aliases=aliases,
                           classes=tuple(dict.fromkeys(k for d in singles for k in d.classes)),
                           tags=tuple(dict.fromkeys(t for d in singles for t in d.tags)), unit="mg", doses=(),
                           source=_str(drugs_path, where, entry, "source"), components=tuple(components),
                           strengths=tuple(strengths), product_routes=routes, strength_routes=tuple(strength_routes))

    cross = []
    for i, entry in enumerate(data.get("cross_reactivity", [])):
        where = f"cross_reactivity[{i}]"
        if not isinstance(entry, dict):
            _fail(drugs_path, where, "must be an object")
        _keys(drugs_path, where, entry, {"allergy_class", "drug_class", "severity", "note", "source"})
        for key in ("allergy_class", "drug_class"):
            if entry.get(key) not in classes:
                _fail(drugs_path, where, f"'{key}' {entry.get(key)!r} is not defined in 'classes'")
        if entry.get("severity") not in SEVERITIES:
            _fail(drugs_path, where, f"'severity' must be one of {SEVERITIES}")
        cross.append(CrossReactivity(entry["allergy_class"], entry["drug_class"], entry["severity"],
                                     _str(drugs_path, where, entry, "note"),
                                     _str(drugs_path, where, entry, "source")))

    allergens: dict[str, Allergen] = {}
    raw_allergens = data.get("non_drug_allergens", {})
    if not isinstance(raw_allergens, dict):
        _fail(drugs_path, "non_drug_allergens", "must be an object of key -> {label, terms}")
    for key, entry in raw_allergens.items():
        where = f"non_drug_allergens[{key!r}]"
        if not isinstance(entry, dict):
            _fail(drugs_path, where, "must be an object")
        _keys(drugs_path, where, entry, {"label", "terms", "note"})
        terms = tuple(map(_norm, _strings(drugs_path, where, entry, "terms", required=True)))
        for t in terms:
            if t in seen_names:
                _fail(drugs_path, where, f"term {t!r} is already the drug {seen_names[t]!r}")
        allergens[key] = Allergen(key, _str(drugs_path, where, entry, "label"), terms,
                                  _str(drugs_path, where, entry, "note", required=False))
    nil_terms = tuple(map(_norm, _strings(drugs_path, "nil_terms", data, "nil_terms")))

    data = _read(interactions_path)
    interactions = []
    raw = data.get("interactions")
    if not isinstance(raw, list):
        _fail(interactions_path, "interactions", "must be a list")
    for i, entry in enumerate(raw):
        where = f"interactions[{i}]"
        if not isinstance(entry, dict):
            _fail(interactions_path, where, "must be an object")
        _keys(interactions_path, where, entry, {"a", "b", "severity", "reason", "source"})
        for key in ("a", "b"):
            ref = entry.get(key)
            ok = isinstance(ref, str) and (
                (ref.startswith("class:") and ref[len("class:"):] in classes)
                or (ref.startswith("tag:") and ref[len("tag:"):] in tags)
                or (ref in drugs and not drugs[ref].is_combination)
            )
            if not ok:
                _fail(interactions_path, f"{where} ({entry.get('a')!r} + {entry.get('b')!r})",
                      f"'{key}' {ref!r} is neither a single drug in drugs.json, 'class:<a defined class>' "
                      "nor 'tag:<a defined tag>'")
        if entry.get("severity") not in SEVERITIES:
            _fail(interactions_path, where, f"'severity' must be one of {SEVERITIES}, got {entry.get('severity')!r}")
        interactions.append(Interaction(entry["a"], entry["b"], entry["severity"],
                                        _str(interactions_path, where, entry, "reason"),
                                        _str(interactions_path, where, entry, "source")))
    return Knowledge(classes, drugs, cross, interactions, tags, allergens, nil_terms)


@lru_cache(maxsize=1)
def default_knowledge() -> Knowledge:
    """The shipped knowledge, loaded once per process."""
    return load_knowledge()
