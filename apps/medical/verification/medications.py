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

import re
from dataclasses import dataclass

from apps.medical.knowledge import DoseLimit, Drug, Knowledge
from apps.medical.verification.orders import (
    Frequency,
    ParsedDose,
    fmt_amount,
    normalise_route,
    order_frequency,
    parse_dose,
)
from apps.medical.verification.types import (
    DraftContent,
    EncounterFacts,
    Finding,
    MedicationOrder,
    _dose_label,
    _number,
    medication_line,
)

# "anaphylaxis", "angioedema", "urticaria/hives", "immediate hypersensitivity": a recorded allergy of that kind
_IMMEDIATE_REACTION = re.compile(r"anaphyla|angio-?o?edema|urticaria|hives|immediate|airway|throat swell|"
                                 r"lip swell|tongue swell|type i\b|ige", re.I)
_BETA_LACTAM_CLASSES = frozenset({"penicillin", "cephalosporin", "carbapenem", "beta_lactam"})


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
        return out + [finding("error", f"{m.name}: dose {fmt_amount(mg_field)} is not a positive amount", evidence)]
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
        text = f"{'/'.join(d.routes)} {fmt_amount(lo, drug.unit)}-{fmt_amount(hi, drug.unit)}"
        if d.schedule == "weekly":
            text += f" once weekly, max {fmt_amount(d.max_weekly, drug.unit)} a week"
        elif d.schedule == "once":
            text += f" as a single dose, max {fmt_amount(d.max_course, drug.unit)} a course"
        else:
            text += f", max {fmt_amount(d.max_daily, drug.unit)}/day" if d.max_daily else ", no fixed daily maximum"
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
            return weekly[0], (f"{name} is given once weekly (max {fmt_amount(weekly[0].max_weekly, unit)} a week) but "
                               "the order does not say weekly")
        return once[0], ""
    if freq.per_day >= 1:
        if daily:
            return daily[0], ""
        if weekly:
            return weekly[0], (f"{name} is a once-weekly drug (max {fmt_amount(weekly[0].max_weekly, unit)} a week) "
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
        out.append(("error", f"{prefix} {fmt_amount(amount, unit)} is above the usual adult single dose "
                             f"({fmt_amount(high, unit)})", False))
    elif amount < low and not child and not component:
        out.append(("warning", f"{prefix} {fmt_amount(amount, unit)} is below the usual adult single dose "
                               f"({fmt_amount(low, unit)})", False))
    if not totals:
        return out
    if limit.schedule == "daily" and limit.max_daily is not None:
        daily = _daily_amount(amount, freq)
        if daily is None:
            out.append(("info", f"{prefix}: frequency not understood, daily total not checked", True))
        elif daily > limit.max_daily + 1e-9:
            how = (f"x {freq.per_day:g} a day = {fmt_amount(daily, unit)}" if freq.per_day and freq.per_day >= 1
                   else freq.describe())
            out.append(("error", f"{prefix} {fmt_amount(amount, unit)} {how} exceeds the maximum of "
                                 f"{fmt_amount(limit.max_daily, unit)} a day", True))
    elif limit.schedule == "weekly" and freq.per_week is not None:
        weekly = amount * freq.per_week
        if weekly > limit.max_weekly + 1e-9:
            out.append(("error", f"{prefix} {fmt_amount(amount, unit)} {freq.describe()} = {fmt_amount(weekly, unit)} a week "
                                 f"exceeds the maximum of {fmt_amount(limit.max_weekly, unit)} a week", True))
    elif limit.schedule == "once" and amount > limit.max_course + 1e-9:
        out.append(("error", f"{prefix} {fmt_amount(amount, unit)} exceeds the maximum of "
                             f"{fmt_amount(limit.max_course, unit)} for the course", False))
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
            parts = " + ".join(f"{name} {fmt_amount(daily)}" for _, name, daily, _ in entries)
            out.append(Finding(
                "dose_range", "error",
                f"{ingredient} from {len(entries)} orders ({parts} a day) = {fmt_amount(total)} exceeds the maximum of "
                f"{fmt_amount(ceiling)} a day",
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
