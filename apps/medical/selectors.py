"""Reads of the medical app. Callers write the audit event of a read (services.*_read_audit)."""
from __future__ import annotations

from django.db.models import Count, Q
from django.http import Http404

from apps.accounts.roles import CLINICIAN
from apps.core.spans import cut_at_spans
from apps.medical.models import Draft, Encounter, Finding, TriageAssessment
from apps.medical.prompts import SOAP_SECTIONS
from apps.medical.verification import types
from apps.medical.verification.types import ACKNOWLEDGEABLE_CHECKS

SECTION_TITLES = {"subjective": "Subjective", "objective": "Objective", "assessment": "Assessment", "plan": "Plan"}


def encounters_for_user(*, user):
    """A clinician sees the encounters they created; a reviewer sees all."""
    qs = Encounter.objects.select_related("created_by")
    if user.role == CLINICIAN:
        qs = qs.filter(created_by=user)
    return qs


def encounter_for_user(*, user, encounter_id: int) -> Encounter:
    encounter = encounters_for_user(user=user).filter(pk=encounter_id).first()
    if encounter is None:
        raise Http404(f"no encounter {encounter_id}")
    return encounter


def drafts_for_user(*, user):
    qs = Draft.objects.select_related("encounter", "author", "finalized_by", "job")
    if user.role == CLINICIAN:
        qs = qs.filter(encounter__created_by=user)
    return qs


def draft_for_user(*, user, draft_id: int) -> Draft:
    draft = drafts_for_user(user=user).filter(pk=draft_id).first()
    if draft is None:
        raise Http404(f"no draft {draft_id}")
    return draft


def finding_of_draft(*, draft: Draft, finding_id: int) -> Finding:
    """A finding of this version (404 otherwise: a finding id of another version is not found here)."""
    finding = draft.findings.select_related("acknowledged_by").filter(pk=finding_id).first()
    if finding is None:
        raise Http404(f"no finding {finding_id} of draft {draft.pk}")
    return finding


def findings_queryset(draft: Draft):
    return draft.findings.select_related("acknowledged_by").order_by("id")


def findings_of_draft(draft: Draft) -> list[Finding]:
    return list(findings_queryset(draft))


def latest_triage(encounter: Encounter) -> TriageAssessment | None:
    return encounter.triages.select_related("job").first()


def review_queue(*, user):
    """Versions verified and waiting for review, oldest first; a reviewer's own versions are not theirs to review."""
    waiting = Q(findings__severity="error", findings__check_name__in=ACKNOWLEDGEABLE_CHECKS,
                findings__acknowledged_at__isnull=True)
    return (Draft.objects.filter(status=Draft.Status.IN_REVIEW).exclude(author=user)
            .annotate(waiting=Count("findings", filter=waiting))
            .select_related("encounter", "author").order_by("verified_at", "id"))


def _segments(text: str, findings: list[Finding]) -> list[dict]:
    """The text cut at the findings' spans: [{"text", "finding" or None}], overlapping spans merged into the first."""
    pieces = cut_at_spans(text, ((f.start, f.end, f) for f in findings))
    return [{"text": piece, "finding": f} for piece, f in pieces] or [{"text": text, "finding": None}]


def code_line(code: dict) -> str:
    """The line a stored code's spans point into (verification's format)."""
    return types.code_line(types.CodedDiagnosis(code=code.get("code", ""), description=code.get("description", "")))


def medication_line(m: dict) -> str:
    """The line a stored medication's spans point into (verification's format)."""
    return types.medication_line(types.MedicationOrder(
        name=m.get("name", ""), dose_mg=m.get("dose_mg"), dose_text=m.get("dose_text", ""),
        route=m.get("route", ""), frequency=m.get("frequency", "")))


def draft_view(draft: Draft) -> dict:
    """Sections and coded lines with their findings at their spans, for the review page and the API."""
    findings = findings_of_draft(draft)
    by_section: dict[str, list[Finding]] = {}
    for f in findings:
        by_section.setdefault(f.section, []).append(f)
    sections = [
        {"name": name, "title": SECTION_TITLES[name], "text": getattr(draft, name),
         "segments": _segments(getattr(draft, name), by_section.get(name, [])), "findings": by_section.get(name, [])}
        for name, _ in SOAP_SECTIONS
    ]
    codes = [{"line": code_line(c), **c} for c in draft.icd_codes]
    meds = [{"line": medication_line(m), **m} for m in draft.medications]
    for items, section in ((codes, "icd_codes"), (meds, "medications")):
        for i, item in enumerate(items):
            mine = [f for f in by_section.get(section, []) if f.item == i]
            item["findings"] = mine
            item["segments"] = _segments(item["line"], mine)
    return {
        "sections": sections, "codes": codes, "medications": meds, "findings": findings,
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity == "warning" for f in findings),
        "waiting": sum(f.waiting for f in findings),  # acknowledgeable errors not acknowledged yet
    }


def draft_versions(draft: Draft):
    return draft.encounter.drafts.select_related("author", "finalized_by").order_by("-version")
