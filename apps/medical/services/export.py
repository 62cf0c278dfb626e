"""Reviewed versions as de-identified training rows."""
from __future__ import annotations

from apps.accounts.audit import audit_log
from apps.medical.models import Draft
from apps.medical.services.drafts import SECTION_NAMES

DraftStatus = Draft.Status


def training_export(*, actor=None, via: str = "worker") -> list[dict]:
    """Reviewed versions as training rows (final = approved, sent back = rejected), free text de-identified."""
    from apps.medical.deid import deidentify
    from apps.medical.prompts import encounter_facts_text

    drafts = (Draft.objects.filter(status__in=[DraftStatus.FINAL, DraftStatus.SENT_BACK])
              .select_related("encounter").prefetch_related("reviews").order_by("id"))
    rows = []
    for d in drafts:
        review = list(d.reviews.all())[-1] if d.reviews.all() else None
        rows.append({
            "draft": d.pk, "version": d.version, "label": "approved" if d.is_final else "rejected",
            "score": float(review.score) if review else None,
            "prompt": deidentify(encounter_facts_text(d.encounter)),
            **{n: deidentify(getattr(d, n)) for n in SECTION_NAMES},
            "icd_codes": [c["code"] for c in d.icd_codes],
            "medications": [{k: m.get(k) for k in ("name", "dose_mg", "route", "frequency", "times_per_day")}
                            for m in d.medications],
            "review_comments": deidentify(review.comments) if review else "",
        })
    audit_log(actor=actor, action="medical_draft.export", object_type="medical.draft", via=via,
              detail={"ids": [r["draft"] for r in rows][:500], "rows": len(rows)})
    return rows
