"""An infant's age in days from what triage recorded: whole years in ``TriageCase.age``, the rest in words.

The intake form records age in whole years (0-120), so a 3-week-old and an 11-month-old are both age 0.
The handbook's paediatric rules (fever bands, danger-zone vitals) need the age in days or months, which
nurses write in the complaint or notes: "3-week-old", "6 wk old", "10 days old", "4 mo M", "5mo", "6/12"
and "3/52" (British notation: months and weeks), "newborn", "neonate".

``infant_age_days`` reads them only for patients recorded as 0-2 years, and only in shapes that state an
age (followed by "old", "of age", a sex or "baby/infant", or at the very start of the text): "cough for
3 weeks" is a duration, not an age. A stated age that contradicts the recorded years is ignored.
"""
from __future__ import annotations

import re

from apps.medical.clinical import TriageCase

DAYS_PER = {"day": 1, "week": 7, "month": 30.44, "year": 365.25}
_UNIT = {
    "d": "day", "day": "day", "days": "day", "dy": "day", "dys": "day",
    "w": "week", "wk": "week", "wks": "week", "week": "week", "weeks": "week",
    "m": "month", "mo": "month", "mos": "month", "mth": "month", "mths": "month", "month": "month",
    "months": "month",
}
_SLASH_UNIT = {"7": "day", "52": "week", "12": "month"}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_NUM = r"(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")"
_AFTER = r"(?=\s*(?:-\s*)?(?:old\b|o\b|of age\b|(?:m|f|male|female|boy|girl|baby|infant|neonate)\b))"
# "3-week-old", "6 wk old", "10 days of age", "4 mo male", "5mo"
_WORDED = re.compile(_NUM + r"\s*-?\s*(" + "|".join(sorted(_UNIT, key=len, reverse=True)) + r")\.?" + _AFTER, re.I)
_LEADING = re.compile(r"^\W*" + _NUM + r"\s*-?\s*(" + "|".join(sorted(_UNIT, key=len, reverse=True)) + r")\b", re.I)
# "6/12 girl", "3/52 old": British notation, only where it states an age ("rash 1/7" is a duration)
_SLASH = re.compile(r"(?<![\d/])(\d{1,2})\s*/\s*(7|52|12)(?![\d/])" + _AFTER, re.I)
_SLASH_LEADING = re.compile(r"^\W*(\d{1,2})\s*/\s*(7|52|12)(?![\d/])")
_NEONATE = re.compile(r"\b(?:new\s*-?born|neonat(?:e|al)|day[- ]old)\b", re.I)
NEONATE_DAYS = 14  # "newborn" without a number: inside the handbook's 1-28 day band


def _days(number: str, unit: str) -> int:
    n = _NUMBER_WORDS.get(number.lower()) or int(number)
    return round(n * DAYS_PER[unit])


def stated_age_days(text: str) -> int | None:
    """The first age in days stated in `text`, or None."""
    for pattern in (_WORDED, _LEADING):
        hit = pattern.search(text)
        if hit:
            return _days(hit.group(1), _UNIT[hit.group(2).lower()])
    hit = _SLASH.search(text) or _SLASH_LEADING.search(text)
    if hit:
        return _days(hit.group(1), _SLASH_UNIT[hit.group(2)])
    if _NEONATE.search(text):
        return NEONATE_DAYS
    return None


def infant_age_days(case: TriageCase) -> int | None:
    """Age in days for a patient recorded as 0-2 years whose text states it; None when unknown."""
    if case.age > 2:
        return None
    for text in (case.chief_complaint, case.notes, case.history):
        days = stated_age_days(text or "")
        if days is None:
            continue
        if case.age * 365 <= days < (case.age + 1) * 366:
            return days
    return None
