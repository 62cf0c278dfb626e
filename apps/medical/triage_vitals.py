"""Vital-sign checks of ESI v4, by age: the life-saving (ESI 1) and danger-zone (ESI 2) thresholds.

Every patient passes these before any complaint table is read: a complaint can make a level more
urgent, never spare a patient whose vitals are failing.

Sources
- ESI v4 Implementation Handbook (Gilboy et al., AHRQ 2012), ch. 3-4: unresponsive = AVPU P or U;
  SpO2 < 90 %, hypotension or brady-/tachycardia with signs of hypoperfusion need an immediate
  life-saving intervention; danger-zone vitals (HR / RR by age band, SpO2 < 92 %) -> consider ESI 2.
- Paediatric hypotension (PALS, AHA 2020): SBP < 60 in term neonates (0-28 days), < 70 in infants
  (1-12 months), < 70 + 2 x age in years (1-10 years), < 90 from 10 years.
- GCS: <= 8 is the conventional threshold for airway protection (ATLS, 10th ed.), i.e. unresponsive
  to voice; 9-14 is a reduced level of consciousness (ESI 2, "new confusion / lethargy").
- Shock index (HR / SBP) >= 1.0 marks hypoperfusion in adults (Allgöwer & Burri 1967; ATLS).
Our operationalisation (the handbook gives clinical words, not numbers): RR <= 8 at any age or
>= 60 / 50 / 40 (under 3 / 3-8 / over 8 years); adults HR < 40, or > 180 with hypotension or altered
consciousness (a stable SVT at 180 is the handbook's ESI 2 example); children HR < 60;
hypotension for age WITH a shock sign (HR > 100 or < 50, shock index >= 1, altered consciousness), or
SBP < 70 in anyone over 10 years, or SBP below the neonatal/infant limit at all.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from apps.medical.clinical import TriageCase

# (max age in days inclusive, HR above, RR above): the handbook's danger-zone bands
DANGER_ZONE_BANDS_DAYS: tuple[tuple[int, int, int], ...] = (
    (90, 180, 50),        # under 3 months
    (3 * 365, 160, 40),   # 3 months - 3 years
    (8 * 365, 140, 30),   # 3 - 8 years
    (10**9, 100, 20),     # over 8 years
)
DANGER_ZONE_SPO2_BELOW = 92
LIFESAVING_SPO2_BELOW = 90
LIFESAVING_RR_AT_MOST = 8
LIFESAVING_RR_AT_LEAST = ((3 * 365 - 1, 60), (8 * 365, 50), (10**9, 40))
ADULT_HR_BELOW, ADULT_HR_ABOVE = 40, 180
CHILD_HR_BELOW = 60
ADULT_SBP_ALONE_BELOW = 70
SHOCK_INDEX_AT_LEAST = 1.0
GCS_UNRESPONSIVE_AT_MOST = 8
GCS_ALTERED_AT_MOST = 14

_GCS = re.compile(r"\bGCS\s*(?:of|is|was|=|:)?\s*(\d{1,2})(?!\d)", re.I)
_GCS_PARTS = re.compile(r"\bE\s*([1-4])\s*V\s*([1-5]|T)\s*M\s*([1-6])\b", re.I)


@dataclass(frozen=True)
class Age:
    """The patient's age as triage knows it: days when an infant's text states it, else whole years."""

    years: int
    days: int | None = None

    @property
    def min_days(self) -> int:
        """The youngest the patient can be: for age 0 with no stated age, a newborn (the safe side)."""
        return self.days if self.days is not None else self.years * 365

    @property
    def label(self) -> str:
        if self.days is not None and self.years < 2:
            return f"{self.days} days" if self.days < 60 else f"{self.days // 30} months"
        return f"{self.years} years"


def _band(days: int, bands):
    for row in bands:
        if days <= row[0]:
            return row
    return bands[-1]


def danger_band(age: Age) -> tuple[int, int, int]:
    """The danger-zone band. Age 0 with no stated age uses 3 months - 3 years: its limits are lower than
    the under-3-months band's, so this errs towards over-triage."""
    if age.years == 0 and age.days is None:
        return DANGER_ZONE_BANDS_DAYS[1]
    return _band(age.min_days if age.days is not None else age.years * 365 + 1, DANGER_ZONE_BANDS_DAYS)


def hypotension_limit(age: Age) -> int:
    """SBP below this is hypotension for the age (PALS)."""
    if age.days is not None and age.days <= 28:
        return 60
    if age.years == 0:
        return 70
    if age.years <= 10:
        return 70 + 2 * age.years
    return 90


def gcs(text: str) -> int | None:
    """A Glasgow Coma Scale total written in the text ("GCS 7", "GCS: 13", "E2V2M4"; V "T" counts 1)."""
    hit = _GCS.search(text)
    if hit and 3 <= int(hit.group(1)) <= 15:
        return int(hit.group(1))
    hit = _GCS_PARTS.search(text)
    if hit:
        v = 1 if hit.group(2).upper() == "T" else int(hit.group(2))
        return int(hit.group(1)) + v + int(hit.group(3))
    return None


def lifesaving_vitals(case: TriageCase, age: Age, text: str) -> str | None:
    """Why the vitals alone need an immediate life-saving intervention (ESI 1), or None."""
    v = case.vitals
    if v.consciousness in ("pain", "unresponsive"):
        return f"unresponsive (AVPU {v.consciousness!r})"
    score = gcs(text)
    if score is not None and score <= GCS_UNRESPONSIVE_AT_MOST:
        return f"GCS {score} <= {GCS_UNRESPONSIVE_AT_MOST}: cannot protect the airway"
    if v.spo2 is not None and v.spo2 < LIFESAVING_SPO2_BELOW:
        return f"SpO2 {v.spo2}% < {LIFESAVING_SPO2_BELOW}%: severe respiratory distress"
    if v.respiratory_rate is not None:
        high = _band(age.min_days, LIFESAVING_RR_AT_LEAST)[1]
        if v.respiratory_rate <= LIFESAVING_RR_AT_MOST:
            return f"RR {v.respiratory_rate} <= {LIFESAVING_RR_AT_MOST}: needs airway/ventilation support"
        if v.respiratory_rate >= high:
            return f"RR {v.respiratory_rate} >= {high} for age {age.label}: severe respiratory distress"
    hr, sbp = v.heart_rate, v.systolic_bp
    if hr is not None:
        adult = age.years > 8
        if adult and hr < ADULT_HR_BELOW:
            return f"HR {hr} < {ADULT_HR_BELOW}: unstable bradycardia"
        # the handbook's own example: SVT at 180 in a stable patient is ESI 2; with hypoperfusion it is ESI 1
        perfusion = (sbp is not None and sbp < hypotension_limit(age)) or v.consciousness in ("voice", "new_confusion")
        if adult and hr > ADULT_HR_ABOVE and perfusion:
            return f"HR {hr} > {ADULT_HR_ABOVE} with signs of hypoperfusion: unstable tachycardia"
        if not adult and hr < CHILD_HR_BELOW:
            return f"HR {hr} < {CHILD_HR_BELOW} in a child: bradycardia needing resuscitation"
    if sbp is not None:
        limit = hypotension_limit(age)
        if sbp < limit:
            signs = []
            if hr is not None and hr > 100:
                signs.append(f"HR {hr}")
            if hr is not None and hr < 50:
                signs.append(f"HR {hr} (bradycardia)")
            if hr is not None and age.years > 10 and hr / sbp >= SHOCK_INDEX_AT_LEAST and hr <= 100:
                signs.append(f"shock index {hr / sbp:.2f}")
            if v.consciousness in ("voice", "new_confusion"):
                signs.append(f"consciousness {v.consciousness}")
            if signs:
                return f"SBP {sbp} < {limit} for age {age.label} with {' and '.join(signs)}: shock"
            if age.years > 10 and sbp < ADULT_SBP_ALONE_BELOW:
                return f"SBP {sbp} < {ADULT_SBP_ALONE_BELOW}: profound hypotension"
            if age.years <= 1:
                return f"SBP {sbp} < {limit} for age {age.label}: hypotension in an infant"
    return None


def altered_consciousness(case: TriageCase, text: str) -> str | None:
    """Reduced consciousness short of unresponsive (ESI 2): AVPU V, new confusion, or GCS 9-14."""
    if case.vitals.consciousness in ("voice", "new_confusion"):
        return f"altered consciousness ({case.vitals.consciousness.replace('_', ' ')})"
    score = gcs(text)
    if score is not None and GCS_UNRESPONSIVE_AT_MOST < score <= GCS_ALTERED_AT_MOST:
        return f"GCS {score}: reduced level of consciousness"
    return None


# Point-of-care glucose written in the notes: "CBG 1.9 mmol/L", "BM 2.4", "glucose 38 mg/dL", "BSL 2.8".
# Hypoglycaemia: < 3.0 mmol/L (54 mg/dL), level 2 of the ADA/IHSG classification (Diabetes Care 2017;40:155).
_GLUCOSE = re.compile(r"\b(?:cbg|bm|bgl|bsl|fsbg|fingerstick|finger stick|glucose|blood sugar|sugar|gluc|poct glucose)"
                      r"\s*(?:of|is|was|=|:|-)?\s*(\d{1,3}(?:\.\d)?)\s*(mmol(?:/l)?|mg/?dl)?", re.I)
HYPOGLYCAEMIA_MMOL_BELOW = 3.0
MG_DL_PER_MMOL = 18.0


def low_glucose(text: str) -> str | None:
    """'glucose 1.9 mmol/L < 3.0' when the text records a point-of-care glucose below 3.0 mmol/L, else None.
    A number without a unit is read as mmol/L below 30 and as mg/dL from 30 up."""
    for hit in _GLUCOSE.finditer(text):
        value, unit = float(hit.group(1)), (hit.group(2) or "").lower()
        mmol = value / MG_DL_PER_MMOL if unit.startswith("mg") or (not unit and value >= 30) else value
        if 0 < mmol < HYPOGLYCAEMIA_MMOL_BELOW:
            return f"glucose {hit.group(1)} {unit or ('mg/dL' if value >= 30 else 'mmol/L')} < 3.0 mmol/L: hypoglycaemia"
    return None


def danger_zone(case: TriageCase, age: Age) -> str | None:
    """The handbook's danger-zone vitals for the age band, or None."""
    v = case.vitals
    _, hr_above, rr_above = danger_band(age)
    found = []
    if v.heart_rate is not None and v.heart_rate > hr_above:
        found.append(f"HR {v.heart_rate} > {hr_above}")
    if v.respiratory_rate is not None and v.respiratory_rate > rr_above:
        found.append(f"RR {v.respiratory_rate} > {rr_above}")
    if v.spo2 is not None and v.spo2 < DANGER_ZONE_SPO2_BELOW:
        found.append(f"SpO2 {v.spo2}% < {DANGER_ZONE_SPO2_BELOW}%")
    if not found:
        return None
    return f"danger-zone vitals for age {age.label}: {', '.join(found)}"
