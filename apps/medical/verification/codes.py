"""ICD-10-CM checks: the code exists in the table and is billable."""
from __future__ import annotations

from functools import lru_cache

from apps.medical.verification.types import DraftContent, Finding, code_line


@lru_cache(maxsize=1)
def _icd():
    import warnings

    with warnings.catch_warnings():  # the package loads its data with a deprecated importlib API
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm  # ~3 s to load the table: only when a draft is verified
    return simple_icd_10_cm


def _icd_table_name() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ICD-10-CM table of simple-icd-10-cm {version('simple-icd-10-cm')}"
    except PackageNotFoundError:  # pragma: no cover
        return "ICD-10-CM table of simple-icd-10-cm"


def check_codes(draft: DraftContent) -> list[Finding]:
    icd = _icd()
    out = []
    for i, c in enumerate(draft.icd_codes):
        code = c.code.strip().upper()
        line = code_line(c)
        start = max(0, line.find(c.code.strip())) if c.code.strip() else 0
        span = dict(section="icd_codes", start=start, end=start + len(c.code.strip()), item=i)
        if not code:
            out.append(Finding("icd_exists", "error", "empty ICD-10-CM code", "code: ''", **span))
            continue
        if not icd.is_valid_item(code):
            out.append(Finding("icd_exists", "error", f"{c.code} is not an ICD-10-CM code",
                               f"{c.code}: not in the {_icd_table_name()}", **span))
            continue
        official = icd.get_description(code)
        if not (icd.is_category_or_subcategory(code) and icd.is_leaf(code)):
            kind = "chapter or block" if icd.is_chapter_or_block(code) else "category with subcodes"
            children = [] if icd.is_chapter_or_block(code) else icd.get_children(code)[:4]
            hint = f"; use a more specific code such as {', '.join(children)}" if children else ""
            out.append(Finding("icd_billable", "error", f"{c.code} is a {kind}, not a billable code{hint}",
                               f"{c.code} ({official}): has subcodes in the {_icd_table_name()}", **span))
    return out

