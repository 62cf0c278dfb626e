"""Verification of a draft version against the knowledge base (queue default): findings stored once per version;
checks that cannot run fail closed."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.accounts.audit import audit_log
from apps.medical.models import Draft, Encounter, Finding
from apps.medical.services.encounters import latest_triage_level
from apps.medical.verification.types import ACKNOWLEDGEABLE_CHECKS
from apps.monitoring import metrics

DraftStatus = Draft.Status
Verification = Draft.Verification


def draft_content(draft: Draft):
    """The version as verification's DraftContent."""
    from apps.medical.verification import CodedDiagnosis, DraftContent, MedicationOrder

    return DraftContent(
        subjective=draft.subjective, objective=draft.objective, assessment=draft.assessment, plan=draft.plan,
        icd_codes=[CodedDiagnosis(code=c["code"], description=c.get("description", "")) for c in draft.icd_codes],
        medications=[
            MedicationOrder(name=m["name"], dose_mg=m.get("dose_mg"), dose_text=m.get("dose_text", ""),
                            route=m.get("route", ""), frequency=m.get("frequency", ""),
                            times_per_day=m.get("times_per_day"))
            for m in draft.medications
        ],
        triage_level=draft.triage_level,
    )


def encounter_facts(encounter: Encounter):
    from apps.medical.verification import EncounterFacts

    return EncounterFacts(
        age=encounter.age, sex=encounter.sex, vitals=encounter.vitals, allergies=list(encounter.allergies),
        current_medications=list(encounter.current_medications),
        triage_level=latest_triage_level(encounter),
    )


def verification_state(error_checks: list[str]) -> str:
    """FAILED if any error is outside ACKNOWLEDGEABLE_CHECKS, else UNVERIFIABLE if any error is left, else PASSED."""
    if any(check not in ACKNOWLEDGEABLE_CHECKS for check in error_checks):
        return Verification.FAILED
    return Verification.UNVERIFIABLE if error_checks else Verification.PASSED


@transaction.atomic
def draft_verify(*, draft_id: int) -> Draft | None:
    """Run the knowledge-base checks on a version and store its findings (once: a verified version is left as is)."""
    from apps.medical.verification import verify_draft

    draft = Draft.objects.select_for_update().select_related("encounter").filter(pk=draft_id).first()
    if draft is None or draft.verification != Verification.PENDING or draft.status != DraftStatus.VERIFYING:
        return None
    findings = verify_draft(draft_content(draft), encounter_facts(draft.encounter))
    Finding.objects.filter(draft=draft).delete()
    Finding.objects.bulk_create(
        Finding(draft=draft, check_name=f.check[:32], severity=f.severity, message=f.message[:500],
                evidence=(f.evidence or "")[:500], section=f.section[:16], start=max(0, f.start), end=max(0, f.end),
                item=getattr(f, "item", None))
        for f in findings
    )
    draft.verification = verification_state([f.check for f in findings if f.severity == "error"])
    draft.status = DraftStatus.IN_REVIEW
    draft.verified_at = timezone.now()
    draft.save(update_fields=["verification", "status", "verified_at"])
    transaction.on_commit(lambda: metrics.verification_outcome(domain="medical", outcome=draft.verification))
    if draft.job_id is not None:  # a model draft: its verification outcome for monitoring
        from apps.monitoring.services import observation_outcome

        observation_outcome(job_id=draft.job_id, verification=draft.verification)
    audit_log(actor=None, action="medical_draft.verify", obj=draft, via="worker", detail={
        "encounter": draft.encounter_id, "version": draft.version, "verification": draft.verification,
        "errors": sum(f.severity == "error" for f in findings), "findings": len(findings),
        "unverifiable": sum(f.severity == "error" and f.check in ACKNOWLEDGEABLE_CHECKS for f in findings),
    })
    return draft


@transaction.atomic
def draft_verify_fail(*, draft_id: int, error: str) -> Draft | None:
    """Verification could not run: the version fails it (fail closed) with one error finding saying so."""
    draft = Draft.objects.select_for_update().filter(pk=draft_id).first()
    if draft is None or draft.verification != Verification.PENDING or draft.status != DraftStatus.VERIFYING:
        return None
    Finding.objects.create(draft=draft, check_name="verification", severity="error", section="plan",
                           message=f"the checks could not run ({error[:200]}); the draft cannot be approved")
    draft.verification, draft.status, draft.verified_at = Verification.FAILED, DraftStatus.IN_REVIEW, timezone.now()
    draft.save(update_fields=["verification", "status", "verified_at"])
    transaction.on_commit(lambda: metrics.verification_outcome(domain="medical", outcome=Verification.FAILED))
    if draft.job_id is not None:  # a model draft: its verification outcome for monitoring
        from apps.monitoring.services import observation_outcome

        observation_outcome(job_id=draft.job_id, verification=draft.verification)
    audit_log(actor=None, action="medical_draft.verify", obj=draft, via="worker",
              detail={"encounter": draft.encounter_id, "version": draft.version, "verification": "failed",
                      "errors": 1, "findings": 1})
    return draft
