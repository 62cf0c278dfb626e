"""Counting statistics for the evaluations (clinical and finance): proportions with 95 % Wilson score intervals.

Wilson EB. Probable inference, the law of succession, and statistical inference. J Am Stat Assoc.
1927;22(158):209-212. For k successes in n trials and z = 1.96:

    centre = (p + z²/2n) / (1 + z²/n),  half = z / (1 + z²/n) * sqrt(p(1-p)/n + z²/4n²)

Unlike the normal ("Wald") interval it stays inside [0, 1] and is not degenerate at k = 0 or k = n,
which is where a safety metric lives (0 under-triaged patients of 80 still leaves an upper bound of 4.6 %).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval of the proportion k/n; (0, 1) when n is 0."""
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k} n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends (no rounding residue)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


@dataclass(frozen=True)
class Proportion:
    k: int
    n: int

    @property
    def rate(self) -> float:
        return self.k / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def __str__(self) -> str:
        lo, hi = self.interval
        return f"{self.k}/{self.n} = {self.rate:.3f} [{lo:.3f}, {hi:.3f}]"

    def to_dict(self) -> dict:
        lo, hi = self.interval
        return {"k": self.k, "n": self.n, "rate": self.rate, "ci95": [lo, hi]}
