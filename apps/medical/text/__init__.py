"""Clinical text layer: canonical phrases in free-text notes, through an abbreviation/synonym lexicon,
fuzzy matching of misspellings and ConText assertions (negated, uncertain, historical, hypothetical,
family). Pure Python; no Django.

    from apps.medical.text import find_terms, first_affirmed
    first_affirmed("Pt c/o CP radiating to L arm, denies SOB", ["chest pain", "shortness of breath"])
    # TermHit(phrase='chest pain', surface='CP', how='lexicon', ...)
"""
from apps.medical.text.terms import TermHit, canonical_terms, find_terms, first_affirmed

__all__ = ["TermHit", "canonical_terms", "find_terms", "first_affirmed"]
