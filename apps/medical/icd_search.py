"""Search the ICD-10-CM table as the clinician types (the draft edit page's code fields). Page-only read: no
patient data goes in or out, so nothing is audited."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from apps.medical.verification.codes import _icd

MAX_RESULTS = 20
_CODE_LIKE = re.compile(r"^[A-Za-z][0-9][0-9A-Za-z]{0,1}\.?[0-9A-Za-z]{0,4}$")


@dataclass(frozen=True)
class IcdEntry:
    code: str          # with its dot: "R07.9"
    description: str
    billable: bool     # a leaf: the only kind verification accepts on a draft


@lru_cache(maxsize=1)
def _table() -> tuple[IcdEntry, ...]:
    """Every category and subcategory (chapters and blocks are not codes), in table order (~0.3 s once)."""
    icd = _icd()
    return tuple(IcdEntry(code, icd.get_description(code), icd.is_leaf(code))
                 for code in icd.get_all_codes(with_dots=True) if icd.is_category_or_subcategory(code))


def icd_search(query: str, *, limit: int = MAX_RESULTS) -> list[IcdEntry]:
    """Codes that start with `query` when it looks like a code ("r07", "R07.8"), else whose description holds
    every word of it ("chest pain"); billable leaves first, then in table order."""
    q = " ".join(query.split()).strip()
    if len(q) < 2:
        return []
    if _CODE_LIKE.match(q):
        key = q.upper().replace(".", "")
        hits = [e for e in _table() if e.code.replace(".", "").startswith(key)]
    else:
        words = q.lower().split()
        hits = [e for e in _table() if all(w in e.description.lower() for w in words)]
    hits.sort(key=lambda e: not e.billable)  # stable: table order within each group
    return hits[:limit]
