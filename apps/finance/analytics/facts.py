"""Facts: one computed number each, with its label, unit, how it was computed, or why it is n/a.

A Fact's `display` is what a report prints; the grounding check reads prose numbers against `value`.
Values are never inf or NaN: a fact that cannot be computed has value None, display "n/a" and a reason.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Literal

Unit = Literal["currency", "ratio", "multiple", "per_share", "shares", "years"]
UNITS: tuple[str, ...] = ("currency", "ratio", "multiple", "per_share", "shares", "years")
NA = "n/a"


def format_amount(value: float) -> str:
    """Currency amounts and share counts: millions with one decimal ("1,234.5m") from a million up."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.1f}m"
    return f"{value:,.0f}"


def format_value(value: float | None, unit: str) -> str:
    text = _format(value, unit)
    return text[1:] if text.startswith("-") and not re.search(r"[1-9]", text) else text  # no "-0.0%"


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return NA
    if unit == "ratio":
        return f"{value * 100:,.1f}%"
    if unit == "multiple":
        return f"{value:,.1f}x"
    if unit == "per_share":
        return f"{value:,.2f}"
    if unit == "years":
        return f"{value:g} years" if value != 1 else "1 year"
    return format_amount(value)


@dataclass(frozen=True)
class Fact:
    key: str
    label: str
    value: float | None
    unit: Unit
    display: str
    reason: str
    formula: str
    period: int | None
    currency: str | None = None  # currency of currency and per-share facts

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"fact {self.key}: unknown unit {self.unit!r}")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"fact {self.key}: value must be finite, got {self.value}")

    @cached_property
    def metric(self) -> str:
        """The key without its period suffix: "gross_margin" of "gross_margin.2024"."""
        head, _, tail = self.key.rpartition(".")
        return head if head and re.fullmatch(r"\d{4}(_\d{4})?", tail) else self.key

    @cached_property
    def years(self) -> tuple[int, ...]:
        """Fiscal years the fact is about: (2024,) or both ends of a span like revenue_cagr.2020_2024."""
        tail = self.key.rpartition(".")[2]
        found = tuple(int(y) for y in re.findall(r"\d{4}", tail)) if re.fullmatch(r"\d{4}(_\d{4})?", tail) else ()
        return found or ((self.period,) if self.period is not None else ())

    def to_json(self) -> dict:
        return asdict(self)


def format_points(value: float | None) -> str:
    """A change of a ratio in percentage points: 0.012 -> "+1.2pp"."""
    if value is None:
        return NA
    text = f"{value * 100:+,.1f}pp"
    return text[1:] if not re.search(r"[1-9]", text) else text


def make_fact(key: str, label: str, value: float | None, unit: Unit, *, formula: str = "", reason: str = "",
              period: int | None = None, currency: str | None = None, points: bool = False) -> Fact:
    """A Fact with its display string; a non-finite value becomes None rather than reaching a report.
    points: a ratio that is a change in percentage points, displayed "+1.2pp"."""
    if value is not None:
        value = float(value)
        if not math.isfinite(value):
            value, reason = None, reason or "the computation did not give a finite number"
        elif value == 0:
            value = 0.0  # no "-0.0%"
    if value is None and not reason:
        raise ValueError(f"fact {key}: a missing value needs a reason")
    display = format_points(value) if points and unit == "ratio" else format_value(value, unit)
    return Fact(key=key, label=label, value=value, unit=unit, display=display,
                reason="" if value is not None else reason, formula=formula, period=period,
                currency=currency if unit in ("currency", "per_share") else None)


class FactSet:
    """The facts of one company, by key, in the order they were computed."""

    def __init__(self, facts: Iterable[Fact] = (), *, currency: str | None = None):
        self.facts: dict[str, Fact] = {}
        for fact in facts:
            if fact.key in self.facts:
                raise ValueError(f"duplicate fact {fact.key}")
            self.facts[fact.key] = fact
        self.currency = currency or next((f.currency for f in self.facts.values() if f.currency), None)

    def __len__(self) -> int:
        return len(self.facts)

    def __iter__(self):
        return iter(self.facts.values())

    def __contains__(self, key: str) -> bool:
        return key in self.facts

    def get(self, key: str) -> Fact | None:
        return self.facts.get(key)

    def value(self, key: str) -> float | None:
        fact = self.facts.get(key)
        return fact.value if fact else None

    def available(self) -> list[Fact]:
        return [f for f in self.facts.values() if f.value is not None]

    def for_year(self, year: int) -> list[Fact]:
        return [f for f in self.facts.values() if f.period == year]

    def years(self) -> list[int]:
        """Fiscal years of the statements (facts keyed "<metric>.<year>"; not forecast years like dcf.fcf.2029)."""
        return sorted({f.period for f in self.facts.values() if f.period is not None and f.key.count(".") == 1
                       and f.key.rpartition(".")[2] == str(f.period)})

    def series(self, metric: str) -> list[tuple[int, float | None]]:
        """(year, value) of "<metric>.<year>" facts, by year."""
        return [(y, self.facts[f"{metric}.{y}"].value) for y in self.years() if f"{metric}.{y}" in self.facts]

    def table(self, metrics: Sequence[str], years: Sequence[int] | None = None) -> tuple[list[str], list[list[str]]]:
        """(columns, rows) of display strings: one row per metric that has a fact, one column per year."""
        years = list(years) if years is not None else self.years()
        rows = []
        for metric in metrics:
            cells = [self.facts.get(f"{metric}.{y}") for y in years]
            present = [c for c in cells if c is not None]
            if present:
                rows.append([present[0].label] + [c.display if c else NA for c in cells])
        return ["Metric"] + [f"FY{y}" for y in years], rows

    def to_json(self) -> list[dict]:
        return [f.to_json() for f in self.facts.values()]

    @classmethod
    def from_json(cls, data: Sequence[dict]) -> FactSet:
        facts = []
        for item in data:
            value = item.get("value")
            facts.append(Fact(
                key=str(item["key"]), label=str(item["label"]), value=None if value is None else float(value),
                unit=item["unit"], display=str(item["display"]), reason=str(item.get("reason") or ""),
                formula=str(item.get("formula") or ""), period=item.get("period"), currency=item.get("currency"),
            ))
        return cls(facts)
