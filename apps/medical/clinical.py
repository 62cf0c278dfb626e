"""Clinical value types shared by the triage rules, draft verification and the Django side.

Plain frozen dataclasses, no Django and no database: the encounter models convert to and from
these, and every pure module (``triage_rules``, ``triage_eval``, ``verification``) takes them.

Plausibility limits (``VITAL_LIMITS``) reject values that cannot be a measurement of a living
patient (a typo, a unit mix-up), not values that are merely abnormal: an abnormal value is what
triage is for.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

Consciousness = Literal["alert", "voice", "pain", "unresponsive", "new_confusion"]
Sex = Literal["female", "male", "other", "unknown"]

CONSCIOUSNESS_LEVELS: tuple[str, ...] = get_args(Consciousness)
SEXES: tuple[str, ...] = get_args(Sex)

# field -> (lowest, highest) accepted, inclusive; units in VITAL_UNITS
VITAL_LIMITS: dict[str, tuple[float, float]] = {
    "heart_rate": (0, 300),
    "systolic_bp": (30, 300),
    "diastolic_bp": (10, 200),
    "respiratory_rate": (0, 80),
    "spo2": (0, 100),
    "temperature_c": (25.0, 45.0),
    "pain_score": (0, 10),
}
VITAL_UNITS: dict[str, str] = {
    "heart_rate": "/min",
    "systolic_bp": "mmHg",
    "diastolic_bp": "mmHg",
    "respiratory_rate": "/min",
    "spo2": "%",
    "temperature_c": "C",
    "pain_score": "/10",
}
AGE_LIMITS = (0, 120)


@dataclass(frozen=True)
class Vitals:
    """One set of observations; None means not recorded."""

    heart_rate: int | None = None
    systolic_bp: int | None = None
    diastolic_bp: int | None = None
    respiratory_rate: int | None = None
    spo2: int | None = None
    temperature_c: float | None = None
    pain_score: int | None = None
    consciousness: Consciousness | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> Vitals:
        """Build from a dict (a JSON row, a model's fields); unknown keys are an error."""
        data = dict(data or {})
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown vitals field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def vitals_errors(v: Vitals) -> dict[str, str]:
    """Field -> message for every value that cannot be a real measurement. Empty when all are plausible."""
    errors: dict[str, str] = {}
    for name, (low, high) in VITAL_LIMITS.items():
        value = getattr(v, name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors[name] = f"{name} must be a number, got {value!r}"
            continue
        if name != "temperature_c" and not float(value).is_integer():
            errors[name] = f"{name} must be a whole number, got {value}"
            continue
        if not low <= value <= high:
            unit = VITAL_UNITS[name]
            errors[name] = f"{name} {value} {unit} is impossible (accepted {low:g}-{high:g} {unit})"
    if (
        v.systolic_bp is not None
        and v.diastolic_bp is not None
        and "systolic_bp" not in errors
        and "diastolic_bp" not in errors
        and v.systolic_bp <= v.diastolic_bp
    ):
        errors["systolic_bp"] = (
            f"systolic_bp {v.systolic_bp} must be greater than diastolic_bp {v.diastolic_bp}"
        )
    if v.consciousness is not None and v.consciousness not in CONSCIOUSNESS_LEVELS:
        errors["consciousness"] = (
            f"consciousness {v.consciousness!r} is not one of {', '.join(CONSCIOUSNESS_LEVELS)}"
        )
    return errors


@dataclass(frozen=True)
class TriageCase:
    """What triage sees at the door: who, why they came, their vitals, and (when known) resources."""

    age: int
    sex: Sex
    chief_complaint: str
    vitals: Vitals = field(default_factory=Vitals)
    history: str = ""
    notes: str = ""
    expected_resources: int | None = None  # ESI decision point D; None -> estimated from the complaint

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TriageCase:
        data = dict(data)
        data["vitals"] = Vitals.from_dict(data.get("vitals"))
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown triage case field(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def case_errors(case: TriageCase) -> dict[str, str]:
    """Field -> message for an impossible case (vitals fields keep their own names)."""
    errors: dict[str, str] = {}
    if isinstance(case.age, bool) or not isinstance(case.age, int) or not AGE_LIMITS[0] <= case.age <= AGE_LIMITS[1]:
        errors["age"] = f"age must be a whole number of years {AGE_LIMITS[0]}-{AGE_LIMITS[1]}, got {case.age!r}"
    if case.sex not in SEXES:
        errors["sex"] = f"sex {case.sex!r} is not one of {', '.join(SEXES)}"
    if not (case.chief_complaint or "").strip():
        errors["chief_complaint"] = "chief_complaint is required"
    if case.expected_resources is not None and (
        isinstance(case.expected_resources, bool)
        or not isinstance(case.expected_resources, int)
        or case.expected_resources < 0
    ):
        errors["expected_resources"] = f"expected_resources must be a whole number >= 0, got {case.expected_resources!r}"
    errors.update(vitals_errors(case.vitals))
    return errors
