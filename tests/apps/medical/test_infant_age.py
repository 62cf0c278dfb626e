"""An infant's age in days from the text: stated ages are read, durations are not, contradictions ignored."""
from __future__ import annotations

import pytest

from apps.medical.clinical import TriageCase
from apps.medical.infant_age import infant_age_days, stated_age_days


@pytest.mark.parametrize("text, days", [
    ("3-week-old with fever", 21), ("6 wk old male, poor feeding", 42), ("10 days old, jaundiced", 10),
    ("4 mo M fever", 122), ("5mo", 152), ("6/12 girl with cough", 183), ("3/52 boy", 21),
    ("newborn not feeding", 14), ("twelve-day-old baby", 12), ("fever x 3 days in 8 month old baby", 244),
    ("2 month old, fussy", 61), ("Seven week old infant", 49),
])
def test_stated_ages(text, days):
    assert stated_age_days(text) == days


@pytest.mark.parametrize("text", ["cough for 3 weeks", "fever x 2 days", "rash 1/7", "BP 120/80", "vomiting 6 d",
                                  "HR 160, RR 50", ""])
def test_durations_and_numbers_are_not_ages(text):
    assert stated_age_days(text) is None


def _case(age, complaint, notes=""):
    return TriageCase(age=age, sex="female", chief_complaint=complaint, notes=notes)


def test_infant_age_reads_complaint_then_notes_and_checks_the_recorded_years():
    assert infant_age_days(_case(0, "fever", notes="3-week-old, well appearing")) == 21
    assert infant_age_days(_case(1, "14 month old with croup")) == 426
    assert infant_age_days(_case(0, "14 month old with croup")) is None   # contradicts the recorded 0 years
    assert infant_age_days(_case(30, "3 week old cough")) is None          # adults: never
    assert infant_age_days(_case(0, "fever")) is None                      # unknown: the caller errs safe
