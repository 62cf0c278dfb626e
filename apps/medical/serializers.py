"""Input and output shapes of the medical REST API."""
from __future__ import annotations

from rest_framework import serializers

from apps.core.schema import ErrorOutput  # noqa: F401 (re-exported: the one error shape)
from apps.core.serializers import StrictInputSerializer
from apps.medical import selectors
from apps.medical.clinical import CONSCIOUSNESS_LEVELS, SEXES
from apps.medical.models import Draft, Encounter, Finding, Review, TriageAssessment
from apps.medical.services import MAX_ACKNOWLEDGE_NOTE_CHARS


class EncounterInput(StrictInputSerializer):
    patient_ref = serializers.CharField(max_length=64, help_text="pseudonymous id, never a name")
    age = serializers.IntegerField()
    sex = serializers.ChoiceField(choices=SEXES)
    chief_complaint = serializers.CharField(max_length=300)
    heart_rate = serializers.IntegerField(required=False, allow_null=True)
    systolic_bp = serializers.IntegerField(required=False, allow_null=True)
    diastolic_bp = serializers.IntegerField(required=False, allow_null=True)
    respiratory_rate = serializers.IntegerField(required=False, allow_null=True)
    spo2 = serializers.IntegerField(required=False, allow_null=True)
    temperature_c = serializers.FloatField(required=False, allow_null=True)
    pain_score = serializers.IntegerField(required=False, allow_null=True)
    consciousness = serializers.ChoiceField(choices=CONSCIOUSNESS_LEVELS, required=False, allow_null=True,
                                            allow_blank=True)
    history = serializers.CharField(required=False, allow_blank=True)
    allergies = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    current_medications = serializers.ListField(child=serializers.CharField(max_length=100), required=False)
    notes = serializers.CharField(required=False, allow_blank=True)


class CodeInput(StrictInputSerializer):
    code = serializers.CharField(max_length=10)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)


class MedicationInput(StrictInputSerializer):
    name = serializers.CharField(max_length=60)
    dose_mg = serializers.FloatField(required=False, allow_null=True, min_value=0.001)
    dose_text = serializers.CharField(max_length=60, required=False, allow_blank=True)
    route = serializers.CharField(max_length=20, required=False, allow_blank=True)
    frequency = serializers.CharField(max_length=40, required=False, allow_blank=True)
    times_per_day = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=24)


class DraftEditInput(StrictInputSerializer):
    subjective = serializers.CharField(allow_blank=True, max_length=8000)
    objective = serializers.CharField(allow_blank=True, max_length=8000)
    assessment = serializers.CharField(allow_blank=True, max_length=8000)
    plan = serializers.CharField(allow_blank=True, max_length=8000)
    icd_codes = CodeInput(many=True, required=False)
    medications = MedicationInput(many=True, required=False)


class ReviewInput(StrictInputSerializer):
    score = serializers.DecimalField(max_digits=3, decimal_places=2, min_value=0, max_value=1)
    decision = serializers.ChoiceField(choices=Review.Decision.values)
    comments = serializers.CharField(required=False, allow_blank=True, max_length=8000)


class FindingAcknowledgeInput(StrictInputSerializer):
    note = serializers.CharField(max_length=MAX_ACKNOWLEDGE_NOTE_CHARS, allow_blank=True,
                                 help_text="why the finding is acceptable (required; trimmed)")


class FindingOutput(serializers.Serializer):
    """One verification finding, with its acknowledgement (who, when, why) when a reviewer gave one."""

    id = serializers.IntegerField()
    check = serializers.CharField(source="check_name")
    severity = serializers.ChoiceField(choices=["error", "warning", "info"])
    message = serializers.CharField()
    evidence = serializers.CharField()
    section = serializers.CharField()
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    item = serializers.IntegerField(allow_null=True)
    acknowledgeable = serializers.BooleanField(help_text="an error of a check that could not run")
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledge_note = serializers.CharField()


def job_json(job) -> dict | None:
    if job is None:
        return None
    return {"id": job.pk, "url": f"/api/v1/jobs/{job.pk}/", "status": job.status, "attempts": job.attempts}


def triage_json(t: TriageAssessment | None) -> dict | None:
    if t is None:
        return None
    return {
        "id": t.pk, "status": t.status, "job": job_json(t.job), "final_level": t.final_level,
        "model_level": t.model_level, "rules_level": t.rules_level, "rule_fired": t.rule_fired,
        "rules_reason": t.rules_reason, "raised_by_rules": t.raised_by_rules, "model_outcome": t.model_outcome,
        "model_error": t.model_error, "department": t.department, "rationale": t.rationale,
        "explanation": t.explanation, "adapter": t.adapter_label, "created_at": t.created_at,
        "finished_at": t.finished_at,
    }


def draft_summary_json(d: Draft) -> dict:
    return {
        "id": d.pk, "url": f"/api/v1/medical/drafts/{d.pk}/", "page_url": f"/medical/drafts/{d.pk}/",
        "version": d.version, "status": d.status, "verification": d.verification, "author": d.author.username,
        "source": d.source, "created_at": d.created_at,
    }


def encounter_json(e: Encounter, *, detail: bool = True) -> dict:
    out = {
        "id": e.pk, "url": f"/api/v1/medical/encounters/{e.pk}/", "page_url": f"/medical/encounters/{e.pk}/",
        "patient_ref": e.patient_ref, "age": e.age, "sex": e.sex, "chief_complaint": e.chief_complaint,
        "created_by": e.created_by.username, "created_at": e.created_at,
    }
    if detail:
        out.update({
            "vitals": e.vitals.to_dict(), "history": e.history, "allergies": e.allergies,
            "current_medications": e.current_medications, "notes": e.notes, "updated_at": e.updated_at,
            "triage": triage_json(selectors.latest_triage(e)),
            "drafts": [draft_summary_json(d) for d in e.drafts.select_related("author").order_by("-version")],
        })
    return out


def finding_json(f: Finding) -> dict:
    return FindingOutput(f).data


def draft_json(d: Draft) -> dict:
    findings = [finding_json(f) for f in selectors.findings_of_draft(d)]
    return {
        **draft_summary_json(d),
        "encounter": d.encounter_id, "parent": d.parent_id, "job": job_json(d.job),
        "subjective": d.subjective, "objective": d.objective, "assessment": d.assessment, "plan": d.plan,
        "icd_codes": d.icd_codes, "medications": d.medications, "triage_level": d.triage_level,
        "generation_note": d.generation_note, "token_budgets": {"section": d.section_tokens, "codes": d.codes_tokens}, "error": d.error, "adapter": d.adapter_label,
        "verified": d.verification == Draft.Verification.PASSED, "verified_at": d.verified_at,
        "findings": findings,
        "waiting_acknowledgement": sum(f["acknowledgeable"] and f["acknowledged_at"] is None for f in findings),
        "reviews": [{"reviewer": r.reviewer.username, "score": str(r.score), "decision": r.decision,
                     "comments": r.comments, "created_at": r.created_at}
                    for r in d.reviews.select_related("reviewer")],
        "finalized_by": d.finalized_by.username if d.finalized_by else None, "finalized_at": d.finalized_at,
    }
