"""Input and output shapes of the medical REST API."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.serializers import StrictInputSerializer
from apps.generation.api import JobRefOutput
from apps.medical import selectors
from apps.medical.clinical import CONSCIOUSNESS_LEVELS, SEXES
from apps.medical.models import Draft, Encounter, Review, TriageAssessment
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


class TriageOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=TriageAssessment.Status.choices)
    job = JobRefOutput(allow_null=True)
    final_level = serializers.IntegerField(allow_null=True, help_text="ESI 1 (most urgent) to 5")
    model_level = serializers.IntegerField(allow_null=True)
    rules_level = serializers.IntegerField(allow_null=True)
    rule_fired = serializers.CharField()
    rules_reason = serializers.CharField()
    raised_by_rules = serializers.BooleanField()
    model_outcome = serializers.ChoiceField(choices=TriageAssessment.ModelOutcome.choices)
    model_error = serializers.CharField()
    department = serializers.CharField()
    rationale = serializers.CharField()
    explanation = serializers.CharField()
    adapter = serializers.CharField(source="adapter_label", help_text='name@version; "" for the base model')
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class DraftSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Draft.Status.choices)
    verification = serializers.ChoiceField(choices=Draft.Verification.choices)
    author = serializers.CharField(source="author.username")
    source = serializers.ChoiceField(choices=["model", "edit"])
    created_at = serializers.DateTimeField()

    def get_url(self, d: Draft) -> str:
        return f"/api/v1/medical/drafts/{d.pk}/"

    def get_page_url(self, d: Draft) -> str:
        return f"/medical/drafts/{d.pk}/"


class ReviewQueueItemOutput(DraftSummaryOutput):
    encounter = serializers.IntegerField(source="encounter_id")
    waiting_acknowledgement = serializers.IntegerField(
        source="waiting", help_text="errors of checks that could not run, not yet acknowledged")


class VitalsOutput(serializers.Serializer):
    heart_rate = serializers.IntegerField(allow_null=True)
    systolic_bp = serializers.IntegerField(allow_null=True)
    diastolic_bp = serializers.IntegerField(allow_null=True)
    respiratory_rate = serializers.IntegerField(allow_null=True)
    spo2 = serializers.IntegerField(allow_null=True)
    temperature_c = serializers.FloatField(allow_null=True)
    pain_score = serializers.IntegerField(allow_null=True)
    consciousness = serializers.ChoiceField(choices=CONSCIOUSNESS_LEVELS, allow_null=True)


class EncounterListOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    patient_ref = serializers.CharField()
    age = serializers.IntegerField()
    sex = serializers.ChoiceField(choices=SEXES)
    chief_complaint = serializers.CharField()
    created_by = serializers.CharField(source="created_by.username")
    created_at = serializers.DateTimeField()

    def get_url(self, e: Encounter) -> str:
        return f"/api/v1/medical/encounters/{e.pk}/"

    def get_page_url(self, e: Encounter) -> str:
        return f"/medical/encounters/{e.pk}/"


class EncounterOutput(EncounterListOutput):
    vitals = VitalsOutput()
    history = serializers.CharField()
    allergies = serializers.ListField(child=serializers.CharField())
    current_medications = serializers.ListField(child=serializers.CharField())
    notes = serializers.CharField()
    updated_at = serializers.DateTimeField()
    triage = serializers.SerializerMethodField(help_text="the latest triage, or null")
    drafts = serializers.SerializerMethodField(help_text="every version, newest first")

    @extend_schema_field(TriageOutput(allow_null=True))
    def get_triage(self, e: Encounter) -> dict | None:
        triage = selectors.latest_triage(e)
        return None if triage is None else TriageOutput(triage).data

    @extend_schema_field(DraftSummaryOutput(many=True))
    def get_drafts(self, e: Encounter) -> list:
        return DraftSummaryOutput(e.drafts.select_related("author").order_by("-version"), many=True).data


class DraftStatusOutput(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Draft.Status.choices)
    verification = serializers.ChoiceField(choices=Draft.Verification.choices)


class EncounterStatusOutput(serializers.Serializer):
    """Only states, no clinical data: what the live page polls."""

    triage = serializers.ChoiceField(choices=TriageAssessment.Status.choices, allow_null=True)
    drafts = DraftStatusOutput(many=True, help_text="newest first")


class CodeOutput(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField(required=False)


class MedicationOutput(serializers.Serializer):
    name = serializers.CharField()
    dose_mg = serializers.FloatField(required=False, allow_null=True)
    dose_text = serializers.CharField(required=False)
    route = serializers.CharField(required=False)
    frequency = serializers.CharField(required=False)
    times_per_day = serializers.IntegerField(required=False, allow_null=True)


class TokenBudgetsOutput(serializers.Serializer):
    section = serializers.IntegerField(source="section_tokens")
    codes = serializers.IntegerField(source="codes_tokens")


class ReviewOutput(serializers.Serializer):
    reviewer = serializers.CharField(source="reviewer.username")
    score = serializers.DecimalField(max_digits=3, decimal_places=2, help_text="0 to 1, as a string")
    decision = serializers.ChoiceField(choices=Review.Decision.choices)
    comments = serializers.CharField()
    created_at = serializers.DateTimeField()


class DraftOutput(DraftSummaryOutput):
    encounter = serializers.IntegerField(source="encounter_id")
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    job = JobRefOutput(allow_null=True)
    subjective = serializers.CharField()
    objective = serializers.CharField()
    assessment = serializers.CharField()
    plan = serializers.CharField()
    icd_codes = CodeOutput(many=True)
    medications = MedicationOutput(many=True)
    triage_level = serializers.IntegerField(allow_null=True)
    generation_note = serializers.CharField()
    token_budgets = TokenBudgetsOutput(source="*")
    error = serializers.CharField()
    adapter = serializers.CharField(source="adapter_label")
    verified = serializers.SerializerMethodField(help_text="verification passed")
    verified_at = serializers.DateTimeField(allow_null=True)
    findings = serializers.SerializerMethodField()
    waiting_acknowledgement = serializers.SerializerMethodField(
        help_text="errors of checks that could not run, not yet acknowledged")
    reviews = serializers.SerializerMethodField(help_text="oldest first")
    finalized_by = serializers.CharField(source="finalized_by.username", allow_null=True)
    finalized_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, d: Draft) -> dict:
        self._findings = selectors.findings_of_draft(d)
        return super().to_representation(d)

    def get_verified(self, d: Draft) -> bool:
        return d.verification == Draft.Verification.PASSED

    @extend_schema_field(FindingOutput(many=True))
    def get_findings(self, d: Draft) -> list:
        return FindingOutput(self._findings, many=True).data

    @extend_schema_field(ReviewOutput(many=True))
    def get_reviews(self, d: Draft) -> list:
        return ReviewOutput(d.reviews.select_related("reviewer"), many=True).data

    def get_waiting_acknowledgement(self, d: Draft) -> int:
        return sum(f.acknowledgeable and f.acknowledged_at is None for f in self._findings)
