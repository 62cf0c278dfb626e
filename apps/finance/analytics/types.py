"""Inputs of the analytics: a company's statements by fiscal year, DCF assumptions, peers.

Plain frozen dataclasses, validated once when built; values are floats (Decimals from the database are
converted) and a missing line item is None.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

Number = Decimal | float | int


def _to_float(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | float | int):
        raise ValueError(f"{name} must be a number or None, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value}")
    return number


@dataclass(frozen=True)
class FinancialPeriod:
    """One fiscal year of statements: line-item key (apps.finance.line_items) -> value or None."""

    fiscal_year: int
    currency: str
    values: Mapping[str, Number | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.fiscal_year, bool) or not isinstance(self.fiscal_year, int):
            raise ValueError(f"fiscal_year must be an int, got {self.fiscal_year!r}")
        if not isinstance(self.currency, str) or not self.currency.strip():
            raise ValueError(f"currency must be a non-empty string, got {self.currency!r}")
        clean = {str(k): _to_float(f"{k} ({self.fiscal_year})", v) for k, v in dict(self.values).items()}
        object.__setattr__(self, "values", clean)
        object.__setattr__(self, "currency", self.currency.strip().upper())

    def get(self, key: str) -> float | None:
        return self.values.get(key)


@dataclass(frozen=True)
class DcfInputs:
    """DCF assumptions as fractions (0.09 = 9%). revenue_growth None: the historical revenue CAGR;
    fcf_margin None: the historical FCF margin, sum of FCF / sum of revenue over the years that have both."""

    wacc: float = 0.09
    terminal_growth: float = 0.025
    forecast_years: int = 5
    revenue_growth: float | None = None
    fcf_margin: float | None = None

    def __post_init__(self) -> None:
        for name in ("wacc", "terminal_growth", "revenue_growth", "fcf_margin"):
            value = _to_float(name, getattr(self, name))
            if value is None and name in ("wacc", "terminal_growth"):
                raise ValueError(f"{name} is required")
            object.__setattr__(self, name, value)
        if isinstance(self.forecast_years, bool) or not isinstance(self.forecast_years, int):
            raise ValueError(f"forecast_years must be an int, got {self.forecast_years!r}")

    def problems(self) -> list[str]:
        """Why a DCF with these inputs cannot be computed (empty when it can), for messages to people."""
        out = []
        if self.wacc <= self.terminal_growth:
            out.append(f"WACC {self.wacc:.2%} must exceed terminal growth {self.terminal_growth:.2%}")
        if self.wacc <= 0:
            out.append(f"WACC {self.wacc:.2%} must be positive")
        if not 1 <= self.forecast_years <= 30:
            out.append(f"forecast years must be between 1 and 30, got {self.forecast_years}")
        if self.revenue_growth is not None and self.revenue_growth <= -1:
            out.append(f"revenue growth {self.revenue_growth:.2%} must be above -100%")
        return out


@dataclass(frozen=True)
class Peer:
    """A comparable company: its share price and its latest fiscal year."""

    name: str
    price_per_share: float
    period: FinancialPeriod

    def __post_init__(self) -> None:
        price = _to_float(f"price_per_share of {self.name}", self.price_per_share)
        if price is None:
            raise ValueError(f"price_per_share of {self.name} is required")
        object.__setattr__(self, "price_per_share", price)
