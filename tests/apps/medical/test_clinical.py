"""Clinical value types: impossible vitals are named per field; abnormal ones are accepted."""
from __future__ import annotations

import pytest

from apps.medical.clinical import TriageCase, Vitals, case_errors, vitals_errors


def test_plausible_and_abnormal_vitals_have_no_errors():
    assert vitals_errors(Vitals()) == {}
    sick = Vitals(heart_rate=180, systolic_bp=70, diastolic_bp=40, respiratory_rate=40, spo2=82,
                  temperature_c=40.5, pain_score=10, consciousness="unresponsive")
    assert vitals_errors(sick) == {}


@pytest.mark.parametrize("field, value", [
    ("heart_rate", 301), ("heart_rate", -1), ("systolic_bp", 29), ("systolic_bp", 301),
    ("respiratory_rate", 81), ("spo2", 101), ("temperature_c", 24.9), ("temperature_c", 45.1),
    ("pain_score", 11), ("pain_score", -1),
])
def test_impossible_value_is_named(field, value):
    errors = vitals_errors(Vitals(**{field: value}))
    assert list(errors) == [field]
    assert str(value) in errors[field]


def test_boundaries_are_inclusive():
    assert vitals_errors(Vitals(heart_rate=0, respiratory_rate=80, spo2=100, temperature_c=45.0,
                                pain_score=0, systolic_bp=300, diastolic_bp=10)) == {}


def test_systolic_must_exceed_diastolic():
    errors = vitals_errors(Vitals(systolic_bp=80, diastolic_bp=90))
    assert "systolic_bp" in errors and "diastolic_bp 90" in errors["systolic_bp"]
    assert "systolic_bp" in vitals_errors(Vitals(systolic_bp=80, diastolic_bp=80))


def test_wrong_types_and_words_are_errors():
    errors = vitals_errors(Vitals(heart_rate="fast", spo2=97.5, consciousness="sleepy"))
    assert set(errors) == {"heart_rate", "spo2", "consciousness"}


def test_case_errors_and_round_trip():
    c = TriageCase(age=130, sex="robot", chief_complaint=" ", vitals=Vitals(spo2=120), expected_resources=-1)
    assert set(case_errors(c)) == {"age", "sex", "chief_complaint", "spo2", "expected_resources"}
    good = TriageCase(age=54, sex="male", chief_complaint="chest pain", vitals=Vitals(heart_rate=90))
    assert case_errors(good) == {}
    assert TriageCase.from_dict(good.to_dict()) == good
    with pytest.raises(ValueError, match="pulse"):
        Vitals.from_dict({"pulse": 80})
