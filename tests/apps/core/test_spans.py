"""cut_at_spans: the one span cutter behind report grounding flags and draft findings."""
from apps.core.spans import cut_at_spans


def test_pieces_cover_the_text_in_order_and_the_first_overlapping_span_wins():
    text = "dose 10000 mg of amoxicillin"
    pieces = cut_at_spans(text, [(17, 28, "allergy"), (5, 10, "dose"), (5, 13, "dose-long"), (8, 20, "overlap")])
    assert "".join(p for p, _ in pieces) == text
    assert pieces == [("dose ", None), ("10000 mg", "dose-long"), (" of ", None), ("amoxicillin", "allergy")]


def test_spans_outside_the_text_or_empty_are_ignored():
    assert cut_at_spans("abc", [(2, 9, "x"), (1, 1, "y"), (-1, 2, "z")]) == [("abc", None)]
    assert cut_at_spans("", []) == []
