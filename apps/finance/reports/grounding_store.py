"""Grounding of section prose against a report's stored facts, as JSON the version keeps and pages show."""
from __future__ import annotations


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
        "matched_key": check.matched_key,
        "expected_key": expected.key if expected is not None else None,
        "expected_display": expected.display if expected is not None else None,
    }


def flag_text(check: dict) -> str:
    if check.get("expected_key"):
        return (f"\u201c{check['text']}\u201d matches no computed fact; the nearest is "
                f"{check['expected_key']} = {check['expected_display']}")
    return f"\u201c{check['text']}\u201d matches no computed fact"


def ground(text: str, facts_json: list) -> tuple[list[dict], list[str]]:
    """(checks, flags): every number of `text` checked against the facts; a flag per mismatch."""
    from apps.finance.grounding import check_numbers
    from apps.monitoring import metrics

    checks = [check_to_json(c) for c in check_numbers(text, _factset(facts_json))]
    flags = [flag_text(c) for c in checks if not c["ok"]]
    metrics.verification_outcome(domain="finance", outcome="flagged" if flags else "grounded")
    return checks, flags


def annotated(text: str, checks: list[dict]) -> str:
    """The text with each mismatch marked inline, for exports: 14.0% [[unverified: ... ]]."""
    out, pos = [], 0
    for check in sorted((c for c in checks if not c["ok"]), key=lambda c: c["start"]):
        out.append(text[pos:check["end"]])
        hint = f" \u2014 fact {check['expected_key']} is {check['expected_display']}" if check.get("expected_key") else ""
        out.append(f" [[unverified{hint}]]")
        pos = check["end"]
    out.append(text[pos:])
    return "".join(out)


def segments(text: str, checks: list[dict]) -> list[dict]:
    """The text cut into pieces for a page: {"text", "check" (a mismatch or None)}."""
    from apps.core.spans import cut_at_spans

    mismatches = ((c["start"], c["end"], c) for c in checks if not c["ok"])
    return [{"text": piece, "check": {**c, "flag": flag_text(c)} if c else None}
            for piece, c in cut_at_spans(text, mismatches)]
