"""De-identification of free clinical text before it leaves the system (training exports).

``deidentify(text)`` replaces, in this order:
  [EMAIL]    e-mail addresses;
  [ID]       labelled identifiers (MRN, hospital/NHS/SSN/insurance/account/patient ID numbers: the label stays,
             the value goes), SSN-shaped 123-45-6789, runs of 7+ digits, letter+digit ids like AB1234567;
  [DATE]     dates: 12/03/2024, 3-12-24, 2024-03-12, 12.03.2024, 12 March 2024, 3rd of May, March 12, 2024,
             Mar 2024 (month names must be capitalised, so "may" the verb is kept);
  [PHONE]    phone numbers of 9-15 digits with optional +country code, (area code), spaces, dots or dashes;
  [ADDRESS]  street addresses (number + capitalised words + Street/Road/Avenue/Lane/...; with flat/apartment,
             town, US state + ZIP), "Town, ST 12345", UK postcodes;
  [NAME]     a capitalised name after a title (Mr, Mrs, Ms, Miss, Mx, Dr, Prof: the title stays), after a
             relation or role word ("son Peter", "seen by Anna Kowalski", "Patient name: ..."), a first name
             from ``FIRST_NAMES`` with the capitalised surname after it, "J. Smith" initials, and
             "SMITH, John" (an upper-case surname before a recognised first name).
Ages of 90 and over become "90+" (HIPAA Safe Harbor aggregates them).

Kept on purpose: ages under 90 ("54-year-old"), vital signs ("BP 120/80", "HR 112", "SpO2 94%", "T 38.5"),
doses and units ("paracetamol 1 g", "500 mg"), scores ("pain 7/10", "GCS 15", "ESI 2"), ICD codes ("I21.4"),
times of day ("14:30"), years on their own ("since 2019"), drug and disease names.

Limits: a name with no title, no role word and not in the first-name list (e.g. "Okonkwo said") is missed;
this is pattern matching, not a trained recogniser, so review exports before release.
"""
from __future__ import annotations

import re

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_ORD = r"(?:st|nd|rd|th)?"

EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")

_ID_LABEL = (r"(?:MRN|medical record (?:number|no\.?)|hospital (?:number|no\.?)|NHS (?:number|no\.?)|NHS|"
             r"SSN|social security (?:number|no\.?)|patient ID|ID|insurance (?:number|no\.?|ID)|"
             r"policy (?:number|no\.?)|account (?:number|no\.?)|CHI|record (?:number|no\.?))")
LABELLED_ID = re.compile(
    r"(\b" + _ID_LABEL + r"\s*(?:[:#]|is|no\.?)?\s*)((?=[A-Z0-9-]*\d)[A-Z0-9][A-Z0-9-]{2,}(?:\s\d{3,4}){0,2})\b",
    re.I,
)
SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
LONG_DIGITS = re.compile(r"\b\d{7,}\b")
ALNUM_ID = re.compile(r"\b[A-Z]{1,3}\d{6,}\b")

DATES = (
    re.compile(r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b"),
    re.compile(r"\b\d{1,2}[-/.]\d{1,2}[-/.](?:\d{4}|\d{2})\b"),
    re.compile(r"\b\d{1,2}" + _ORD + r"(?:\s+of)?\s+" + _MONTH + r"(?:,?\s+\d{4})?\b"),
    re.compile(r"\b" + _MONTH + r"\s+\d{1,2}" + _ORD + r"(?:,?\s+\d{4})?\b"),
    re.compile(r"\b" + _MONTH + r",?\s+\d{4}\b"),
)

PHONE = re.compile(r"(?<![\w/.])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?)?\d{2,5}(?:[\s.-]\d{2,6}){1,4}(?![\w/])")

_STREET = (r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|Close|"
           r"Crescent|Terrace|Gardens|Square|Sq|Parkway|Pkwy|Highway|Hwy|Row|Mews|Grove|Hill)")
ADDRESS = re.compile(
    r"(?:\b(?:Flat|Apt|Apartment|Unit|Suite)\s+\w+,?\s+)?"
    r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][a-z]+\.?\s+){1,4}" + _STREET + r"\b\.?"
    r"(?:,?\s+(?:Flat|Apt|Apartment|Unit|Suite|#)\s*\w+)?"
    r"(?:,\s+[A-Z][a-z]+(?:\s[A-Z][a-z]+)?)*"
    r"(?:,?\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?)?"
    r"(?:,?\s+[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})?"
)
TOWN_STATE_ZIP = re.compile(r"\b[A-Z][a-z]+(?:\s[A-Z][a-z]+)?,\s+[A-Z]{2}\s+\d{5}(?:-\d{4})?\b")
UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b")

_NAME_WORD = r"[A-Z][a-z]+(?:[-'’][A-Z]?[a-z]+)?"
_INITIAL = r"[A-Z]\."
TITLED = re.compile(r"\b((?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sister|Nurse)\.?\s+)((?:" + _NAME_WORD + "|" + _INITIAL
                    + r")(?:\s+(?:" + _NAME_WORD + "|" + _INITIAL + r")){0,2})")
_ROLE = (r"(?:patient name|name|patient|pt|seen by|signed|signed by|attending|reviewed by|referred by|son|daughter|"
         r"wife|husband|mother|father|brother|sister|partner|spouse|friend|carer|caregiver|neighbour|neighbor|"
         r"next of kin|NOK|GP|physician|consultant|contact)")
ROLE_NAME = re.compile(r"\b((?i:" + _ROLE + r")\s*[:,-]?\s*(?i:is\s+)?)(" + _NAME_WORD + r"(?:\s+" + _NAME_WORD
                       + r"){0,2})")
INITIAL_SURNAME = re.compile(r"(?<![/\w.])(?<!\d )[A-Z]\.\s?[A-Z][a-z]{2,}(?:[-'][A-Z][a-z]+)?\b")
# capitalised words that follow a role word but are not names
NOT_NAMES = frozenset("""
The A An He She They His Her Their It This That Has Had Is Was Were Reports Reported Denies Denied Presents
Presented States Stated Says Said With Without And Or But Of In On At To For From By Who Which Arrived Came
Brought Called Unable Able Not No Alert Lives Took Takes Walked Complains Feels Felt Also Only History
Emergency Department Hospital Ward Clinic Practice Surgery Team Notes Note Today Yesterday Tonight Now Then
Mr Mrs Ms Miss Mx Dr Prof Nurse Sister
""".split())
# common given names that are not also everyday words (no May, Will, Grace, Hope, Mark, Bill ...)
FIRST_NAMES = frozenset("""
John James Robert Michael William David Richard Joseph Thomas Charles Christopher Daniel Matthew Anthony Donald
Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas
Eric Jonathan Stephen Larry Justin Scott Brandon Benjamin Samuel Gregory Alexander Patrick Raymond Jack Dennis
Jerry Tyler Aaron Jose Adam Nathan Henry Douglas Zachary Peter Kyle Noah Ethan Jeremy Walter Christian Keith
Roger Terry Austin Sean Gerald Carl Harold Dylan Arthur Lawrence Jordan Jesse Bryan Bruce Gabriel Logan Alan
Juan Albert Willie Elijah Wayne Randy Vincent Liam Oliver Harry Mohammed Muhammad Ahmed Ali Omar Hassan Ibrahim
Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty Sandra Margaret Ashley
Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie Rebecca Sharon Laura Cynthia Kathleen Amy
Angela Shirley Anna Brenda Pamela Emma Nicole Helen Samantha Katherine Christine Debra Rachel Carolyn Janet
Catherine Maria Heather Diane Julie Joyce Victoria Kelly Christina Lauren Joan Evelyn Olivia Judith Megan
Cheryl Martha Andrea Hannah Jacqueline Gloria Teresa Sara Janice Julia Marie Madison Kathryn Abigail Sophia
Frances Jean Alice Judy Isabella Beverly Denise Danielle Marilyn Diana Natalie Brittany Charlotte Theresa
Fatima Aisha Priya Anil Rajesh Sanjay Wei Mei Yuki Hiroshi Olga Ivan Dmitri Sofia Lucia Carlos Luis Miguel
Giovanni Francesca Pierre Claire Hans Ingrid Lars Sven Siobhan Sean Niamh Aoife Ewan Fiona Morag Gwen Dafydd
""".split())
FIRST_NAME = re.compile(r"\b(" + "|".join(sorted(FIRST_NAMES, key=len, reverse=True)) + r")\b(?:\s+(?:"
                        + _INITIAL + r"\s+)?" + _NAME_WORD + r")?")
# "SMITH, John" headers: an upper-case word before a comma and a name already replaced
UPPER_SURNAME = re.compile(r"\b[A-Z]{2,}(?:[-'][A-Z]{2,})?,\s*\[NAME\]")
OLD_AGE = re.compile(r"\b(?:9\d|1[0-2]\d)(?=\s?-?\s?(?:years?|yrs?|y/?o\b|yo\b))", re.I)


def _phone(m: re.Match) -> str:
    digits = sum(ch.isdigit() for ch in m.group(0))
    return "[PHONE]" if 9 <= digits <= 15 else m.group(0)


def _role_name(m: re.Match) -> str:
    words = m.group(2).split()
    kept = []
    for w in words:
        if w in NOT_NAMES or w.lower() in NOT_NAMES_LOWER:
            break
        kept.append(w)
    if not kept:
        return m.group(0)
    rest = m.group(2)[len(" ".join(kept)):]
    return f"{m.group(1)}[NAME]{rest}"


NOT_NAMES_LOWER = frozenset(w.lower() for w in NOT_NAMES)


def _first_name(m: re.Match) -> str:
    tail = m.group(0)[len(m.group(1)):]
    surname = tail.split()[-1] if tail.strip() else ""
    if surname and surname in NOT_NAMES:
        return "[NAME]" + tail
    return "[NAME]"


def deidentify(text: str) -> str:
    """The text with names, dates, phone numbers, e-mails, addresses and ids replaced by placeholders."""
    if not text:
        return text
    out = EMAIL.sub("[EMAIL]", text)
    out = LABELLED_ID.sub(lambda m: f"{m.group(1)}[ID]", out)
    out = SSN.sub("[ID]", out)
    for pattern in DATES:
        out = pattern.sub("[DATE]", out)
    out = ADDRESS.sub("[ADDRESS]", out)
    out = TOWN_STATE_ZIP.sub("[ADDRESS]", out)
    out = UK_POSTCODE.sub("[ADDRESS]", out)
    out = PHONE.sub(_phone, out)
    out = LONG_DIGITS.sub("[ID]", out)
    out = ALNUM_ID.sub("[ID]", out)
    out = TITLED.sub(lambda m: f"{m.group(1)}[NAME]", out)
    out = ROLE_NAME.sub(_role_name, out)
    out = FIRST_NAME.sub(_first_name, out)
    out = INITIAL_SURNAME.sub("[NAME]", out)
    out = UPPER_SURNAME.sub("[NAME]", out)
    out = OLD_AGE.sub("90+", out)
    return out
