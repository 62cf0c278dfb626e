"""Encounters, their triage assessments, EMR drafts (versioned), verification findings and expert reviews.

Patient data is pseudonymous here (`patient_ref`, never a name). Models hold data and constraints; the
workflow (who may do what, when a draft is final) lives in services.py.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.medical.clinical import CONSCIOUSNESS_LEVELS, SEXES, TriageCase, Vitals
from apps.medical.verification.types import ACKNOWLEDGEABLE_CHECKS

VITAL_FIELDS = (
    "heart_rate", "systolic_bp", "diastolic_bp", "respiratory_rate", "spo2", "temperature_c", "pain_score",
    "consciousness",
)


class Encounter(models.Model):
    """One emergency-department visit of a pseudonymous patient."""

    patient_ref = models.CharField(max_length=64, help_text="pseudonymous patient id (never a name or an MRN)")
    age = models.PositiveSmallIntegerField()
    sex = models.CharField(max_length=8, choices=[(s, s) for s in SEXES])
    chief_complaint = models.CharField(max_length=300)
    heart_rate = models.SmallIntegerField(null=True, blank=True)
    systolic_bp = models.SmallIntegerField(null=True, blank=True)
    diastolic_bp = models.SmallIntegerField(null=True, blank=True)
    respiratory_rate = models.SmallIntegerField(null=True, blank=True)
    spo2 = models.SmallIntegerField(null=True, blank=True)
    temperature_c = models.FloatField(null=True, blank=True)
    pain_score = models.SmallIntegerField(null=True, blank=True)
    consciousness = models.CharField(
        max_length=16, blank=True, choices=[(c, c.replace("_", " ")) for c in CONSCIOUSNESS_LEVELS]
    )
    history = models.TextField(blank=True)
    allergies = models.JSONField(default=list, blank=True)
    current_medications = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True, help_text="notes or transcript of the encounter")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="encounters")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(age__lte=120), name="encounter_age_range")]

    def __str__(self) -> str:
        return f"encounter {self.pk} ({self.patient_ref})"

    @property
    def vitals(self) -> Vitals:
        return Vitals(**{f: getattr(self, f) for f in VITAL_FIELDS[:-1]}, consciousness=self.consciousness or None)

    def triage_case(self) -> TriageCase:
        return TriageCase(age=self.age, sex=self.sex, chief_complaint=self.chief_complaint, vitals=self.vitals,
                          history=self.history, notes=self.notes)


class TriageAssessment(models.Model):
    """One triage run of an encounter: the model's proposal, the rules' level, and the combined final level."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    class ModelOutcome(models.TextChoices):
        PENDING = "pending"
        OK = "ok"  # the model proposed a usable level
        UNUSABLE = "unusable"  # it answered, but not a usable level (bad JSON, cut off)
        FAILED = "failed"  # the request failed (error, time limit)

    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="triages")
    job = models.OneToOneField("generation.GenerationJob", on_delete=models.PROTECT, related_name="medical_triage")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    model_outcome = models.CharField(max_length=8, choices=ModelOutcome.choices, default=ModelOutcome.PENDING)
    model_error = models.CharField(max_length=300, blank=True)
    model_level = models.PositiveSmallIntegerField(null=True, blank=True)
    rules_level = models.PositiveSmallIntegerField(null=True, blank=True)
    final_level = models.PositiveSmallIntegerField(null=True, blank=True)
    rule_fired = models.CharField(max_length=40, blank=True)
    rules_reason = models.CharField(max_length=300, blank=True)
    raised_by_rules = models.BooleanField(default=False)
    department = models.CharField(max_length=40, blank=True)
    rationale = models.TextField(blank=True)
    explanation = models.TextField(blank=True)
    adapter_label = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(final_level__isnull=True) | models.Q(final_level__gte=1, final_level__lte=5),
                name="triage_final_level_range",
            ),
        ]


class Draft(models.Model):
    """One version of an EMR (SOAP) draft. A version never changes once verified; an edit is a new version."""

    class Status(models.TextChoices):
        GENERATING = "generating"
        VERIFYING = "verifying"
        IN_REVIEW = "in_review"  # verified (passed, unverifiable or failed), waiting for a reviewer
        SENT_BACK = "sent_back"
        FINAL = "final"
        SUPERSEDED = "superseded"  # a newer version exists
        FAILED = "failed"

    class Verification(models.TextChoices):
        PENDING = "pending"
        PASSED = "passed"
        # No hard error, but checks that could not run (ACKNOWLEDGEABLE_CHECKS) wait for a reviewer to
        # acknowledge each finding; when the last one is acknowledged the version passes.
        UNVERIFIABLE = "unverifiable"
        FAILED = "failed"

    encounter = models.ForeignKey(Encounter, on_delete=models.CASCADE, related_name="drafts")
    version = models.PositiveIntegerField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    job = models.OneToOneField(
        "generation.GenerationJob", null=True, blank=True, on_delete=models.PROTECT, related_name="medical_draft"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="medical_drafts")
    source = models.CharField(max_length=8, choices=[("model", "model"), ("edit", "edit")], default="model")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.GENERATING, db_index=True)
    verification = models.CharField(max_length=12, choices=Verification.choices, default=Verification.PENDING)
    subjective = models.TextField(blank=True)
    objective = models.TextField(blank=True)
    assessment = models.TextField(blank=True)
    plan = models.TextField(blank=True)
    icd_codes = models.JSONField(default=list, blank=True)  # [{"code", "description"}]
    medications = models.JSONField(default=list, blank=True)  # [{"name", "dose_mg", "dose_text", "route", ...}]
    triage_level = models.PositiveSmallIntegerField(null=True, blank=True)
    # Token budgets of a model draft, fixed when it is requested: each prose section, and the coded JSON.
    section_tokens = models.PositiveSmallIntegerField(default=0)
    codes_tokens = models.PositiveSmallIntegerField(default=0)
    generation_note = models.CharField(max_length=300, blank=True)  # e.g. the coded part was unusable
    error = models.TextField(blank=True)
    adapter_label = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    finalized_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="finalized_drafts"
    )
    finalized_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["encounter", "version"], name="draft_version_unique"),
            models.CheckConstraint(
                condition=~models.Q(status="final") | models.Q(verification="passed"), name="draft_final_is_verified"
            ),
        ]

    def __str__(self) -> str:
        return f"draft {self.pk} v{self.version} of encounter {self.encounter_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status == self.Status.FINAL


class Finding(models.Model):
    """One result of the knowledge-base verification of a draft version.

    An error whose check could not run (``ACKNOWLEDGEABLE_CHECKS``: a drug or a recorded fact unknown to the
    knowledge base) is acknowledged by a reviewer with a short reason; nothing else about a finding changes.
    """

    draft = models.ForeignKey(Draft, on_delete=models.CASCADE, related_name="findings")
    check_name = models.CharField(max_length=32)
    severity = models.CharField(max_length=8, choices=[(s, s) for s in ("error", "warning", "info")])
    message = models.CharField(max_length=500)
    evidence = models.CharField(max_length=500, blank=True)
    section = models.CharField(max_length=16)
    start = models.PositiveIntegerField(default=0)
    end = models.PositiveIntegerField(default=0)
    # For section "icd_codes" / "medications": which item; the span is into that item's rendered line.
    item = models.PositiveSmallIntegerField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="acknowledged_findings"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledge_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # Only an error whose check could not run may be acknowledged ...
            models.CheckConstraint(
                condition=models.Q(acknowledged_at__isnull=True)
                | models.Q(check_name__in=sorted(ACKNOWLEDGEABLE_CHECKS), severity="error"),
                name="finding_acknowledged_only_if_acknowledgeable",
            ),
            # ... and an acknowledgement is whole: who, when and why, or none of them.
            models.CheckConstraint(
                condition=models.Q(acknowledged_at__isnull=True, acknowledged_by__isnull=True, acknowledge_note="")
                | (models.Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False)
                   & ~models.Q(acknowledge_note="")),
                name="finding_acknowledgement_complete",
            ),
        ]

    @property
    def acknowledgeable(self) -> bool:
        """An error of a check that could not run: a reviewer may acknowledge it."""
        return self.severity == "error" and self.check_name in ACKNOWLEDGEABLE_CHECKS

    @property
    def waiting(self) -> bool:
        """Acknowledgeable and not acknowledged yet."""
        return self.acknowledgeable and self.acknowledged_at is None


class Review(models.Model):
    """A reviewer's score and decision on one draft version."""

    class Decision(models.TextChoices):
        APPROVE = "approve"
        SEND_BACK = "send_back"

    draft = models.ForeignKey(Draft, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="medical_reviews")
    score = models.DecimalField(max_digits=3, decimal_places=2)
    decision = models.CharField(max_length=10, choices=Decision.choices)
    comments = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(score__gte=0, score__lte=1), name="review_score_range")]


class MonitoringInput(models.Model):
    """Per-request input features of a medical-domain job for drift monitoring: token unigram counts and a sentence
    embedding of the encounter's facts (or of a clinician's free medical prompt). They can reconstruct clinical
    text, so they stay in this app's tables (patient data rule); apps.monitoring reads them per window through
    services.monitoring_inputs_read, which audits the system read, and stores only the statistics."""

    job = models.OneToOneField("generation.GenerationJob", on_delete=models.CASCADE,
                               related_name="medical_monitoring_input")
    unigrams = models.BinaryField()  # int32 (token id, count) pairs (apps.monitoring.windows.unigrams_pack)
    embedding = models.BinaryField()  # float32
    created_at = models.DateTimeField(default=timezone.now)
