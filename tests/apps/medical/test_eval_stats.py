"""Wilson intervals: known values from the literature, coverage properties, and bad input."""
from __future__ import annotations

import pytest

from apps.core.eval_stats import Proportion, wilson


@pytest.mark.parametrize("k, n, lo, hi", [
    # Newcombe RG, Stat Med 1998;17:857-872, table I (method 3, Wilson score without continuity correction)
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0, 0.1611),
    (1, 29, 0.0061, 0.1718),
])
def test_wilson_matches_published_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_is_inside_0_1_and_contains_the_estimate():
    for n in (1, 7, 80, 1000):
        for k in range(0, n + 1, max(1, n // 7)):
            lo, hi = wilson(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0
    assert wilson(0, 80)[1] == pytest.approx(0.0458, abs=1e-3)  # 0 of 80 still leaves ~4.6 %


def test_wilson_narrows_with_n_and_rejects_nonsense():
    assert (lambda a, b: (a[1] - a[0]) > (b[1] - b[0]))(wilson(5, 10), wilson(50, 100))
    assert wilson(0, 0) == (0.0, 1.0)
    for k, n in ((3, 2), (-1, 5), (1, -1)):
        with pytest.raises(ValueError):
            wilson(k, n)


def test_proportion_text_and_dict():
    p = Proportion(3, 4)
    assert str(p).startswith("3/4 = 0.750 [")
    assert p.to_dict()["ci95"][0] < 0.75 < p.to_dict()["ci95"][1]
