"""The rating section: the model's structured answer, its price target checked against the valuation facts."""
from __future__ import annotations

import json
import math

UPSIDE_FOR_BUY = 0.10  # a rating derived from the facts: DCF value this far above the price -> buy


def _valuation_facts(facts) -> list:
    """Per-share valuation facts a price target may rest on: the DCF value first, then peer-implied prices."""
    found = [f for f in facts.available() if f.unit == "per_share" and f.key.startswith(("dcf.", "peers."))]
    found.sort(key=lambda f: (f.key != "dcf.value_per_share", f.key))
    return found


def derived_rating(facts, price: float | None) -> str | None:
    dcf = facts.get("dcf.value_per_share")
    if dcf is None or dcf.value is None or not price:
        return None
    upside = dcf.value / price - 1
    return "buy" if upside > UPSIDE_FOR_BUY else "sell" if upside < -UPSIDE_FOR_BUY else "hold"


def parse_model_output(text: str) -> dict | None:
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("rating") not in ("buy", "hold", "sell"):
        return None
    target = data.get("target_price")
    if not isinstance(target, int | float) or isinstance(target, bool) or not math.isfinite(target):
        target = None
    return {"rating": data["rating"], "target_price": target, "basis": str(data.get("basis") or "").strip()[:300]}


def rating_resolve(model_text: str, facts, *, price: float | None, currency: str, rel_tol: float) -> tuple[str, dict]:
    """(section text, structured data). The target is the model's when within rel_tol of a valuation fact;
    otherwise the DCF value per share (the report says which)."""
    proposal = parse_model_output(model_text)
    anchors = _valuation_facts(facts)
    data: dict = {"model_output": model_text[:2000], "model_rating": None, "model_target_price": None}
    if proposal is not None:
        data["model_rating"], data["model_target_price"] = proposal["rating"], proposal["target_price"]
    rating = proposal["rating"] if proposal else derived_rating(facts, price)
    rating_source = "model" if proposal else "derived from the DCF upside" if rating else "none"

    target, basis, check = None, "", "no_valuation"
    model_target = proposal["target_price"] if proposal else None
    matched = None
    if model_target is not None:
        matched = next((f for f in anchors if abs(model_target - f.value) <= rel_tol * abs(f.value)), None)
    if matched is not None:
        target, check = model_target, "grounded"
        basis = f"the model's target, consistent with {matched.label} ({matched.display})"
        if proposal and proposal["basis"]:
            basis += f"; model's reasoning: {proposal['basis']}"
    elif anchors:
        anchor = anchors[0]
        target, check = anchor.value, "replaced" if model_target is not None else "from_facts"
        basis = f"{anchor.label} ({anchor.display})"
        if model_target is not None:
            basis += f"; the model proposed {model_target:,.2f}, which no valuation fact supports"
    else:
        reason = facts.get("dcf.value_per_share").reason if facts.get("dcf.value_per_share") else "no DCF value"
        basis = f"no price target: {reason}"
    data.update({
        "rating": rating, "rating_source": rating_source, "target_price": target, "basis": basis,
        "target_check": check, "target_fact": (matched or (anchors[0] if anchors else None)).key if anchors else None,
    })
    shown_rating = rating.upper() if rating else "NOT RATED"
    target_text = f"{target:,.2f} {currency} per share" if target is not None else "n/a"
    text = f"Rating: {shown_rating}. Price target: {target_text}. Basis: {basis}."
    if rating_source != "model":
        text += f" (Rating {rating_source}; the model's answer was not usable.)"
    return text, data
