"""Grounding of section prose against a report's stored facts, as JSON the version keeps and pages show.

A check's status (apps.finance.grounding): "matched" (the number is a fact), "flagged" (it contradicts the fact
its clause attributes it to; a flag, with its kind) or "unattributed" (the checker could not tell which fact it
is about: shown to the analyst as "could not check", never as an error). Checks stored before the status
existed have only "ok": ok is matched, else flagged.
"""
from __future__ import annotations

MATCHED, FLAGGED, UNATTRIBUTED = "matched", "flagged", "unattributed"


def _factset(facts_json: list):
    from apps.finance.analytics import FactSet

    return FactSet.from_json(facts_json)


def check_to_json(check) -> dict:
    expected = check.expected
    return {
        "start": check.start,
        "end": check.end,
        "text": check.text,
        "value": check.value,
        "ok": bool(check.ok),
        "status": check.status,
        "kind": check.kind,
        "matched_key": check.matched_key,
        "expected_key": expected.key if expected is not None else None,
        "expected_display": expected.display if expected is not None else None,
    }


def check_status(check: dict) -> str:
    return check.get("status") or (MATCHED if check.get("ok") else FLAGGED)


def flag_text(check: dict) -> str:
    kind = f" ({check['kind'].replace('_', ' ')})" if check.get("kind") else ""
    if check.get("expected_key"):
        return (f"\u201c{check['text']}\u201d contradicts the computed facts{kind}; expected "
                f"{check['expected_key']} = {check['expected_display']}")
    return f"\u201c{check['text']}\u201d matches no computed fact{kind}"


def unchecked_text(check: dict) -> str:
    return (f"\u201c{check['text']}\u201d could not be checked: the sentence does not say clearly which metric "
            f"and year it is")


def ground(text: str, facts_json: list) -> tuple[list[dict], list[str]]:
    """(checks, flags): every number of `text` checked against the facts; a flag per contradiction (numbers the
    checker could not attribute are in the checks, status "unattributed", and are no flag)."""
    from apps.finance.grounding import check_numbers
    from apps.monitoring import metrics

    checks = [check_to_json(c) for c in check_numbers(text, _factset(facts_json))]
    flags = [flag_text(c) for c in checks if check_status(c) == FLAGGED]
    metrics.verification_outcome(domain="finance", outcome="flagged" if flags else "grounded")
    return checks, flags


def unchecked(checks: list[dict]) -> int:
    """How many numbers of a section the checker could not attribute ("could not check")."""
    return sum(1 for c in checks if check_status(c) == UNATTRIBUTED)


def annotated(text: str, checks: list[dict]) -> str:
    """The text with each flag marked inline, for exports: 14.0% [[unverified: ... ]]."""
    out, pos = [], 0
    for check in sorted((c for c in checks if check_status(c) == FLAGGED), key=lambda c: c["start"]):
        out.append(text[pos:check["end"]])
        hint = f" \u2014 fact {check['expected_key']} is {check['expected_display']}" if check.get("expected_key") else ""
        out.append(f" [[unverified{hint}]]")
        pos = check["end"]
    out.append(text[pos:])
    return "".join(out)


def segments(text: str, checks: list[dict]) -> list[dict]:
    """The text cut into pieces for a page: {"text", "check" (a flag or a number that could not be checked, with
    its "status" and "flag" text, or None)}."""
    from apps.core.spans import cut_at_spans

    marked = ((c["start"], c["end"], c) for c in checks if check_status(c) != MATCHED)
    return [{"text": piece, "check": None if c is None else {
        **c, "status": check_status(c),
        "flag": flag_text(c) if check_status(c) == FLAGGED else unchecked_text(c)}}
        for piece, c in cut_at_spans(text, marked)]
