"""Vital-sign thresholds by age: ESI 1 (life-saving) and the danger zone, in both directions of heart rate."""
from __future__ import annotations

import pytest

from apps.medical.clinical import TriageCase, Vitals
from apps.medical.triage_vitals import (
    Age,
    altered_consciousness,
    danger_band,
    danger_zone,
    gcs,
    hypotension_limit,
    lifesaving_vitals,
)


def _case(age=40, **v):
    return TriageCase(age=age, sex="male", chief_complaint="x", vitals=Vitals(**v))


@pytest.mark.parametrize("years, v, needle", [
    (40, {"systolic_bp": 78, "diastolic_bp": 40, "heart_rate": 128}, "shock"),        # hypotension + tachycardia
    (40, {"systolic_bp": 84, "diastolic_bp": 50, "heart_rate": 118}, "shock"),
    (70, {"systolic_bp": 76, "diastolic_bp": 40, "heart_rate": 32}, "unstable bradycardia"),  # brady + hypotension
    (70, {"systolic_bp": 82, "diastolic_bp": 40, "heart_rate": 44}, "bradycardia"),
    (40, {"systolic_bp": 86, "diastolic_bp": 50, "heart_rate": 90}, "shock index"),
    (40, {"systolic_bp": 66, "diastolic_bp": 40, "heart_rate": 60}, "profound hypotension"),
    (40, {"heart_rate": 38}, "unstable bradycardia"),
    (40, {"heart_rate": 190, "systolic_bp": 84, "diastolic_bp": 50}, "unstable tachycardia"),
    (3, {"heart_rate": 55}, "bradycardia"), (40, {"spo2": 88}, "SpO2 88%"), (40, {"respiratory_rate": 7}, "RR 7"),
    (40, {"consciousness": "pain"}, "unresponsive"),
])
def test_lifesaving_vitals(years, v, needle):
    reason = lifesaving_vitals(_case(years, **v), Age(years), "")
    assert reason is not None and needle in reason


@pytest.mark.parametrize("years, v", [
    (40, {"systolic_bp": 95, "diastolic_bp": 60, "heart_rate": 110}),   # tachycardic, not hypotensive
    (25, {"systolic_bp": 88, "diastolic_bp": 55, "heart_rate": 70}),    # low-normal BP, shock index < 1
    (40, {"heart_rate": 40}), (40, {"heart_rate": 184}), (40, {"spo2": 90}), (40, {"respiratory_rate": 9}), (1, {"respiratory_rate": 45}),
])
def test_not_lifesaving(years, v):
    assert lifesaving_vitals(_case(years, **v), Age(years), "") is None


def test_gcs_from_text():
    assert gcs("GCS 7 on arrival") == 7 and gcs("gcs: 13") == 13 and gcs("E2V2M4") == 8 and gcs("E1VTM4") == 6
    assert gcs("no GCS") is None and gcs("GCS 19") is None
    assert "GCS 6" in lifesaving_vitals(_case(), Age(40), "found down, GCS 6")
    assert "GCS 13" in altered_consciousness(_case(), "GCS 13, confused")
    assert altered_consciousness(_case(consciousness="voice"), "") == "altered consciousness (voice)"


@pytest.mark.parametrize("age, hr, rr", [
    (Age(0, 20), 180, 50), (Age(0, 200), 160, 40), (Age(2), 160, 40), (Age(5), 140, 30), (Age(40), 100, 20),
    (Age(0), 160, 40),  # age 0 with no stated age: the lower of the infant bands (errs to over-triage)
])
def test_danger_bands(age, hr, rr):
    assert danger_band(age)[1:] == (hr, rr)
    c = TriageCase(age=age.years, sex="male", chief_complaint="x", vitals=Vitals(heart_rate=hr + 1))
    assert danger_zone(c, age) is not None
    c = TriageCase(age=age.years, sex="male", chief_complaint="x", vitals=Vitals(heart_rate=hr, respiratory_rate=rr))
    assert danger_zone(c, age) is None


def test_paediatric_hypotension_limits():
    assert hypotension_limit(Age(0, 10)) == 60 and hypotension_limit(Age(0, 100)) == 70
    assert hypotension_limit(Age(5)) == 80 and hypotension_limit(Age(12)) == 90


def test_low_glucose_from_the_notes():
    from apps.medical.triage_vitals import low_glucose

    assert "1.9" in low_glucose("CBG 1.9 mmol/L, D50 given") and "38" in low_glucose("glucose 38 mg/dL")
    assert low_glucose("BM 2.4") and low_glucose("blood sugar 45")
    assert low_glucose("glucose 5.6 mmol/L") is None and low_glucose("BM 110") is None and low_glucose("") is None
