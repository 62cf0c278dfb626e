"""The least urgent ESI level consistent with an ICD-10-CM diagnosis, by chapter block, category or subcategory.

Each row covers a range of codes: a range of 3-character categories ("I60-I62"), one category ("I26"), or a
subcategory prefix ("I71.0", "R40.2"). The most specific row wins (a subcategory over its category over its
block), so "S06.0" (concussion) can be ESI 3 while the rest of S06 (intracranial injury) is ESI 2.

The levels map the ESI v4 handbook's criteria (Gilboy et al., AHRQ 2012) onto the code table: ESI 1 for
conditions that by definition needed an immediate life-saving intervention (arrest, shock, coma, status
epilepticus, respiratory failure, eclampsia, asphyxia); ESI 2 for the handbook's high-risk situations
(ch. 4: acute coronary syndrome, stroke, dissection, PE, sepsis and meningitis, DKA, GI haemorrhage,
ectopic pregnancy, torsion, overdose and self-harm, major trauma, anaphylaxis, hypothermia ...); ESI 3
for conditions that always need two or more resources. The mapping is ours, not the handbook's; codes not
covered impose no floor. ``MINOR`` lists codes of conditions that never need ESI 1.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AcuityRow:
    first: str          # category ("I60") or subcategory prefix ("I71.0")
    last: str           # last category of a range (same as first for one)
    worst_esi: int      # least urgent level consistent with the diagnosis
    condition: str


def _rows(spec: str, worst: int, condition: str) -> AcuityRow:
    first, _, last = spec.partition("-")
    return AcuityRow(first, last or first, worst, condition)


ACUITY: tuple[AcuityRow, ...] = tuple(_rows(*row) for row in (
    # ESI 1: needed an immediate life-saving intervention
    ("I46", 1, "cardiac arrest"), ("I49.0", 1, "ventricular fibrillation / flutter"), ("R57", 1, "shock"),
    ("R65.21", 1, "septic shock"), ("T78.2", 1, "anaphylactic shock"), ("T88.6", 1, "anaphylactic shock"),
    ("T80.52", 1, "anaphylaxis due to vaccination"), ("T78.0", 1, "anaphylactic reaction due to food"),
    ("R40.2", 1, "coma"),
    *((code, 1, "status epilepticus") for code in (
        "G40.001", "G40.011", "G40.101", "G40.111", "G40.201", "G40.211", "G40.301", "G40.311", "G40.A01", "G40.A11",
        "G40.B01", "G40.B11", "G40.C01", "G40.C11", "G40.401", "G40.411", "G40.501", "G40.801", "G40.803", "G40.811",
        "G40.813", "G40.821", "G40.823", "G40.833", "G40.841", "G40.843", "G40.901", "G40.911")), ("J96.0", 1, "acute respiratory failure"),
    ("J96.2", 1, "acute on chronic respiratory failure"), ("R09.2", 1, "respiratory arrest"),
    ("O15", 1, "eclampsia"), ("T71", 1, "asphyxiation"), ("T75.1", 1, "drowning"), ("J80", 1, "ARDS"),
    ("E15", 1, "hypoglycaemic coma"), ("I44.2", 1, "complete heart block"), ("I47.2", 1, "ventricular tachycardia"),
    ("S06.1", 2, "traumatic cerebral oedema"),
    # ESI 2: the handbook's high-risk situations
    ("I20.0", 2, "unstable angina"), ("I21-I22", 2, "acute myocardial infarction"),
    ("I24", 2, "acute ischaemic heart disease"), ("I26", 2, "pulmonary embolism"), ("I30", 2, "acute pericarditis"),
    ("I31.4", 2, "cardiac tamponade"), ("I33", 2, "acute endocarditis"), ("I40", 2, "acute myocarditis"),
    ("I47.1", 2, "supraventricular tachycardia"), ("I50.21", 2, "acute systolic heart failure"),
    ("I50.23", 2, "acute on chronic systolic heart failure"), ("I50.31", 2, "acute diastolic heart failure"),
    ("I50.33", 2, "acute on chronic diastolic heart failure"), ("I50.41", 2, "acute combined heart failure"),
    ("I50.43", 2, "acute on chronic combined heart failure"), ("J81.0", 2, "acute pulmonary oedema"),
    ("I60-I62", 2, "intracranial haemorrhage"), ("I63", 2, "cerebral infarction"), ("I67.82", 2, "cerebral ischaemia"),
    ("G45", 2, "transient ischaemic attack"), ("G46", 2, "vascular syndrome of brain"),
    ("I71.0", 2, "aortic dissection"), ("I71.1", 2, "ruptured thoracic aortic aneurysm"),
    ("I71.3", 2, "ruptured abdominal aortic aneurysm"), ("I71.5", 2, "ruptured thoracoabdominal aneurysm"),
    ("I74", 2, "arterial embolism and thrombosis"), ("K55.0", 2, "acute mesenteric ischaemia"),
    ("A39", 2, "meningococcal infection"), ("A40-A41", 2, "sepsis"), ("R65.2", 2, "severe sepsis"),
    ("G00-G05", 2, "meningitis / encephalitis"), ("G06", 2, "intracranial abscess"),
    ("M72.6", 2, "necrotising fasciitis"), ("J05.1", 2, "acute epiglottitis"),
    ("E10.1", 2, "diabetic ketoacidosis"), ("E11.1", 2, "diabetic ketoacidosis"), ("E13.1", 2, "diabetic ketoacidosis"),
    ("E10.64", 2, "diabetes with hypoglycaemia"), ("E11.64", 2, "diabetes with hypoglycaemia"),
    ("E87.0", 2, "hyperosmolality"), ("E87.2", 2, "acidosis"), ("E87.5", 2, "hyperkalaemia"),
    ("E27.2", 2, "Addisonian crisis"), ("E05.01", 2, "thyroid storm"), ("E05.91", 2, "thyroid storm"),
    ("K92.0", 2, "haematemesis"), ("K92.1", 2, "melaena"), ("K92.2", 2, "gastrointestinal haemorrhage"), ("I85.01", 2, "bleeding oesophageal varices"),
    ("I85.11", 2, "bleeding oesophageal varices"), ("K25.0", 2, "bleeding gastric ulcer"),
    ("K26.0", 2, "bleeding duodenal ulcer"), ("K63.1", 2, "perforation of intestine"), ("K65", 2, "peritonitis"),
    ("K56.6", 2, "intestinal obstruction"), ("K85", 3, "acute pancreatitis"),
    ("O00", 2, "ectopic pregnancy"), ("O14", 2, "pre-eclampsia"), ("O44.1", 2, "placenta praevia with haemorrhage"),
    ("O45", 2, "placental abruption"), ("O72", 2, "postpartum haemorrhage"),
    ("N44.0", 2, "torsion of testis"), ("N83.5", 2, "torsion of ovary"),
    ("R45.851", 2, "suicidal ideation"), ("R45.850", 2, "homicidal ideation"), ("T14.91", 2, "suicide attempt"),
    ("T36-T50", 2, "poisoning by drugs"), ("T51-T65", 2, "toxic effect of a substance"),
    ("F10.231", 2, "alcohol withdrawal delirium"), ("F05", 2, "delirium"), ("R41.82", 2, "altered mental status"),
    ("R40.0", 2, "somnolence"), ("R40.1", 2, "stupor"), ("R56", 2, "convulsions"),
    ("S06", 2, "intracranial injury"), ("S06.0", 3, "concussion"), ("S12", 2, "cervical spine fracture"),
    ("S14.1", 2, "cervical spinal cord injury"), ("S22.5", 2, "flail chest"), ("S26", 2, "injury of heart"),
    ("S27", 2, "injury of intrathoracic organs"), ("S36", 2, "injury of intra-abdominal organs"),
    ("S32.8", 2, "pelvic fracture"),
    ("T79.A", 2, "traumatic compartment syndrome"),
    *((f"T31.{d}", 2, "burns of 20 % or more of body surface") for d in range(2, 10)),
    ("T27", 2, "burn of respiratory tract"), ("T26", 2, "burn of eye"), ("T68", 2, "hypothermia"),
    ("T67.0", 2, "heat stroke"), ("T75.4", 2, "electrocution"), ("T74.2", 2, "sexual abuse, confirmed"),
    ("T76.2", 2, "sexual abuse, suspected"), ("T78.3", 2, "angioneurotic oedema"),
    ("J45.22", 2, "status asthmaticus"), ("J45.32", 2, "status asthmaticus"), ("J45.42", 2, "status asthmaticus"),
    ("J45.52", 2, "status asthmaticus"), ("J45.902", 2, "status asthmaticus"),
    ("J93.0", 2, "tension pneumothorax"), ("J93.1", 2, "spontaneous pneumothorax"), ("J93.83", 2, "pneumothorax"),
    ("H34.1", 2, "central retinal artery occlusion"), ("H33.0", 2, "retinal detachment"),
    ("H40.2", 2, "acute angle-closure glaucoma"), ("D57.0", 2, "sickle cell crisis"), ("D70", 2, "neutropenia"),
    ("P81.9", 2, "temperature disturbance of a newborn"),
    ("N17", 3, "acute kidney failure"), ("K35", 3, "acute appendicitis"), ("K80.0", 3, "cholecystitis with calculus"),
    ("K81.0", 3, "acute cholecystitis"), ("I48", 3, "atrial fibrillation / flutter"), ("I50", 3, "heart failure"),
    ("J18", 3, "pneumonia"), ("J44.1", 3, "COPD with exacerbation"), ("N10", 3, "acute pyelonephritis"),
    ("R55", 3, "syncope"), ("S72", 3, "femur fracture"), ("N20", 3, "renal colic"),
))

# Conditions that never need ESI 1 (a level-1 triage with only these codes is worth a second look).
MINOR = ("J00", "J02.9", "J06.9", "H10", "H66.9", "L30.9", "S93.4", "Z76.0", "K08.8", "W57", "S60", "B35",
         "L23", "L24", "T14.8", "S01", "S61", "S91", "Z48.0", "Z09", "N39.0", "H60", "J30", "B00", "L70", "K02")


def code_key(code: str) -> str:
    """"i219" / "I21.9 " -> "I21.9"."""
    code = code.strip().upper()
    return code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def _covers(row: AcuityRow, key: str) -> bool:
    if "." in row.first or len(row.first) > 3:
        return key.startswith(row.first)
    return row.first <= key[:3] <= row.last


def _not_acute(key: str) -> bool:
    """Injury/poisoning codes (chapter 19, S00-T88) of a subsequent encounter or sequela (7th character D or
    S), and drug codes for an adverse effect in correct use or underdosing (T36-T50, 6th character 5 or 6)."""
    if key[:1] not in "ST" or len(key) < 8:
        return False
    if key[7] in "DS":
        return True
    return "T36" <= key[:3] <= "T50" and key[6] in "56"


def acuity_floor(code: str) -> AcuityRow | None:
    """The most specific row covering the code, or None."""
    key = code_key(code)
    if _not_acute(key):
        return None
    rows = [row for row in ACUITY if _covers(row, key)]
    if not rows:
        return None
    return max(rows, key=lambda r: (len(r.first), r.first == r.last))


def is_minor(code: str) -> bool:
    return code_key(code).startswith(MINOR)
