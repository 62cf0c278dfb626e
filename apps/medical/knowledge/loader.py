"""Load and validate the drug knowledge files (drugs.json, interactions.json).

The files are meant to be extended by hand, so the loader checks every entry and a mistake raises
``KnowledgeError`` naming the file, the entry (index and name) and what is wrong.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
DRUGS_PATH = HERE / "drugs.json"
INTERACTIONS_PATH = HERE / "interactions.json"
SEVERITIES = ("error", "warning")


class KnowledgeError(ValueError):
    """A knowledge file is malformed; the message names the entry."""


@dataclass(frozen=True)
class DrugClass:
    key: str
    label: str
    terms: tuple[str, ...]
    allergy_class_severity: str = "error"
    allergy_note: str = ""


@dataclass(frozen=True)
class Drug:
    name: str
    aliases: tuple[str, ...]
    drug_class: str
    single_dose_mg: tuple[float, float]
    max_daily_mg: float | None
    source: str


@dataclass(frozen=True)
class CrossReactivity:
    allergy_class: str
    drug_class: str
    severity: str
    note: str
    source: str


@dataclass(frozen=True)
class Interaction:
    a: str          # drug name or "class:<key>"
    b: str
    severity: str
    reason: str
    source: str

    def matches(self, one: Drug, other: Drug) -> bool:
        if one.name == other.name:
            return False
        return (_side(self.a, one) and _side(self.b, other)) or (_side(self.a, other) and _side(self.b, one))


def _side(ref: str, drug: Drug) -> bool:
    if ref.startswith("class:"):
        return drug.drug_class == ref[len("class:"):]
    return drug.name == ref


@dataclass(frozen=True)
class Mention:
    """A drug or drug class found in a text, with its span."""

    key: str          # drug name, or class key
    kind: str         # "drug" | "class"
    start: int
    end: int


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


class Knowledge:
    def __init__(self, classes: dict[str, DrugClass], drugs: dict[str, Drug],
                 cross_reactivity: list[CrossReactivity], interactions: list[Interaction]):
        self.classes = classes
        self.drugs = drugs
        self.cross_reactivity = cross_reactivity
        self.interactions = interactions
        self._by_name: dict[str, Drug] = {}
        for drug in drugs.values():
            for name in (drug.name, *drug.aliases):
                self._by_name[_norm(name)] = drug
        # longest names first, so "penicillin v" wins over the class term "penicillin"
        terms = [(n, "drug", d.name) for n, d in self._by_name.items()]
        terms += [(_norm(t), "class", c.key) for c in classes.values() for t in c.terms]
        terms.sort(key=lambda t: -len(t[0]))
        self._terms = terms
        self._pattern = re.compile(
            r"(?<![a-z0-9])(" + "|".join(re.escape(t[0]) for t in terms) + r")(?![a-z0-9])"
        )
        self._lookup = {t[0]: (t[1], t[2]) for t in reversed(terms)}

    def find_drug(self, name: str) -> Drug | None:
        """The drug whose name or alias is exactly `name` (case and spacing ignored), else the first
        drug mentioned in it ("Amoxicillin 500 mg capsules")."""
        drug = self._by_name.get(_norm(name))
        if drug:
            return drug
        for m in self.mentions(name):
            if m.kind == "drug":
                return self.drugs[m.key]
        return None

    def mentions(self, text: str) -> list[Mention]:
        """Every drug name/alias and class term in `text`, non-overlapping, in order."""
        out = []
        for m in self._pattern.finditer(text.lower()):
            kind, key = self._lookup[m.group(1)]
            out.append(Mention(key=key, kind=kind, start=m.start(), end=m.end()))
        return out

    def interactions_between(self, one: Drug, other: Drug) -> list[Interaction]:
        return [i for i in self.interactions if i.matches(one, other)]


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


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_knowledge(drugs_path: Path = DRUGS_PATH, interactions_path: Path = INTERACTIONS_PATH) -> Knowledge:
    """Read and validate both files; KnowledgeError names the first bad entry."""
    drugs_path, interactions_path = Path(drugs_path), Path(interactions_path)
    data = _read(drugs_path)
    classes: dict[str, DrugClass] = {}
    raw_classes = data.get("classes")
    if not isinstance(raw_classes, dict) or not raw_classes:
        _fail(drugs_path, "classes", "must be a non-empty object of class key -> {label, terms}")
    for key, entry in raw_classes.items():
        where = f"classes[{key!r}]"
        if not isinstance(entry, dict):
            _fail(drugs_path, where, "must be an object")
        terms = entry.get("terms", [])
        if not isinstance(terms, list) or not all(isinstance(t, str) and t.strip() for t in terms):
            _fail(drugs_path, where, "'terms' must be a list of non-empty strings")
        severity = entry.get("allergy_class_severity", "error")
        if severity not in SEVERITIES:
            _fail(drugs_path, where, f"'allergy_class_severity' must be one of {SEVERITIES}, got {severity!r}")
        classes[key] = DrugClass(key=key, label=_str(drugs_path, where, entry, "label"), terms=tuple(terms),
                                 allergy_class_severity=severity, allergy_note=entry.get("allergy_note", ""))

    drugs: dict[str, Drug] = {}
    seen_names: dict[str, str] = {}
    raw_drugs = data.get("drugs")
    if not isinstance(raw_drugs, list) or not raw_drugs:
        _fail(drugs_path, "drugs", "must be a non-empty list")
    for i, entry in enumerate(raw_drugs):
        where = f"drugs[{i}]"
        if not isinstance(entry, dict):
            _fail(drugs_path, where, "must be an object")
        name = _norm(_str(drugs_path, where, entry, "name"))
        where = f"drugs[{i}] ({name!r})"
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
            _fail(drugs_path, where, "'aliases' must be a list of non-empty strings")
        for n in (name, *map(_norm, aliases)):
            if n in seen_names:
                _fail(drugs_path, where, f"name or alias {n!r} is already used by {seen_names[n]!r}")
            seen_names[n] = name
        drug_class = entry.get("class")
        if drug_class not in classes:
            _fail(drugs_path, where, f"'class' {drug_class!r} is not defined in 'classes'")
        dose = entry.get("single_dose_mg")
        if not (isinstance(dose, list) and len(dose) == 2 and all(map(_number, dose)) and 0 < dose[0] <= dose[1]):
            _fail(drugs_path, where, f"'single_dose_mg' must be [low, high] with 0 < low <= high, got {dose!r}")
        daily = entry.get("max_daily_mg")
        if daily is not None and not (_number(daily) and daily >= dose[1]):
            _fail(drugs_path, where, f"'max_daily_mg' must be null or a number >= the highest single dose, got {daily!r}")
        drugs[name] = Drug(name=name, aliases=tuple(map(_norm, aliases)), drug_class=drug_class,
                           single_dose_mg=(float(dose[0]), float(dose[1])),
                           max_daily_mg=None if daily is None else float(daily),
                           source=_str(drugs_path, where, entry, "source"))

    cross = []
    for i, entry in enumerate(data.get("cross_reactivity", [])):
        where = f"cross_reactivity[{i}]"
        for key in ("allergy_class", "drug_class"):
            if entry.get(key) not in classes:
                _fail(drugs_path, where, f"'{key}' {entry.get(key)!r} is not defined in 'classes'")
        if entry.get("severity") not in SEVERITIES:
            _fail(drugs_path, where, f"'severity' must be one of {SEVERITIES}")
        cross.append(CrossReactivity(entry["allergy_class"], entry["drug_class"], entry["severity"],
                                     _str(drugs_path, where, entry, "note"),
                                     _str(drugs_path, where, entry, "source")))

    data = _read(interactions_path)
    interactions = []
    raw = data.get("interactions")
    if not isinstance(raw, list):
        _fail(interactions_path, "interactions", "must be a list")
    for i, entry in enumerate(raw):
        where = f"interactions[{i}]"
        if not isinstance(entry, dict):
            _fail(interactions_path, where, "must be an object")
        for key in ("a", "b"):
            ref = entry.get(key)
            ok = isinstance(ref, str) and (
                (ref.startswith("class:") and ref[len("class:"):] in classes) or ref in drugs
            )
            if not ok:
                _fail(interactions_path, f"{where} ({entry.get('a')!r} + {entry.get('b')!r})",
                      f"'{key}' {ref!r} is neither a drug in drugs.json nor 'class:<a defined class>'")
        if entry.get("severity") not in SEVERITIES:
            _fail(interactions_path, where, f"'severity' must be one of {SEVERITIES}, got {entry.get('severity')!r}")
        interactions.append(Interaction(entry["a"], entry["b"], entry["severity"],
                                        _str(interactions_path, where, entry, "reason"),
                                        _str(interactions_path, where, entry, "source")))
    return Knowledge(classes, drugs, cross, interactions)


@lru_cache(maxsize=1)
def default_knowledge() -> Knowledge:
    """The shipped knowledge, loaded once per process."""
    return load_knowledge()
