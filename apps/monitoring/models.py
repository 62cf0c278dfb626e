"""What monitoring stores: one observation per finished generation job, the snapshots of each statistic per
closed window, the alerts they raise, and the sampled triage proposals that measure consistency.

PATIENT DATA RULE: nothing here reconstructs clinical text. Per-request input features (token unigram counts, a
sentence embedding of the prompt) are stored here (ObservationInput) for the finance and general domains only; for
the medical domain they live in apps.medical (MonitoringInput) and reach a snapshot through an audited medical
selector, so the monitoring tables of medical requests hold counts, durations, levels and outcomes only (a check
constraint enforces it).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.domains import Domain


class Observation(models.Model):
    """One finished generation job as monitoring sees it (written by observation_record, in the job's ending
    transaction); the snapshot task counts it into a Window of its domain and adapter version."""

    job = models.OneToOneField("generation.GenerationJob", on_delete=models.CASCADE, related_name="observation")
    domain = models.CharField(max_length=16, choices=Domain.choices)
    kind = models.CharField(max_length=32)
    adapter = models.ForeignKey("adapters.AdapterVersion", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="observations")  # None: the base model
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    ttft_s = models.FloatField(null=True, blank=True)
    tokens_per_s = models.FloatField(null=True, blank=True)
    # outcomes, where the kind has one (set by the app that computes it)
    verification = models.CharField(max_length=16, blank=True)  # medical drafts: passed / failed / unverifiable
    grounding_flags = models.PositiveIntegerField(null=True, blank=True)  # finance reports: flags over sections
    triage_level = models.PositiveSmallIntegerField(null=True, blank=True)  # triage: the model's ESI level
    # input features computed (ObservationInput or, for medical requests, medical.MonitoringInput)
    features_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["domain", "adapter", "id"])]


class Window(models.Model):
    """A closed window of one domain and adapter version: the observations with input features whose ids lie in
    [first_id, last_id] (a range, so closing a window writes one row and no observation). Window 0 is the
    reference of its domain and adapter version: the first window after the version started serving."""

    domain = models.CharField(max_length=16, choices=Domain.choices)
    adapter = models.ForeignKey("adapters.AdapterVersion", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    number = models.IntegerField()
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    size = models.PositiveIntegerField()
    closed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain", "adapter_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "adapter", "number"], condition=models.Q(adapter__isnull=False),
                                    name="monitoring_window_once"),
            models.UniqueConstraint(fields=["domain", "number"], condition=models.Q(adapter__isnull=True),
                                    name="monitoring_window_once_base"),
        ]


class ObservationInput(models.Model):
    """The input features of a finance or general request (a narrow observation row keeps window updates cheap):
    token unigram counts as int32 (token id, count) pairs (apps.monitoring.windows.unigrams_pack) and the prompt's
    float32 sentence embedding. Never for the medical domain: the database refuses it."""

    observation = models.OneToOneField(Observation, on_delete=models.CASCADE, primary_key=True, related_name="inputs")
    domain = models.CharField(max_length=16, choices=Domain.choices)
    unigrams = models.BinaryField()
    embedding = models.BinaryField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(domain=Domain.MEDICAL), name="monitoring_no_medical_inputs"),
        ]


class Statistic(models.TextChoices):
    PSI = "psi"
    KS = "ks"
    JS = "js"
    EMBEDDING = "embedding_drift"  # stats.embedding_drift_score (domain-classifier AUC)
    RATE = "rate"  # an outcome rate; alerts when it rises above the reference's by more than the drift threshold
    CONSISTENCY = "consistency"
    SERVING = "serving"  # ttft, tokens/s: shown, never alerted on


class Snapshot(models.Model):
    """The value of one statistic on one closed window of a domain and adapter version, against its reference."""

    domain = models.CharField(max_length=16, choices=Domain.choices)
    adapter = models.ForeignKey("adapters.AdapterVersion", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="snapshots")
    window = models.IntegerField()
    reference_window = models.IntegerField()
    statistic = models.CharField(max_length=16, choices=Statistic.choices)
    feature = models.CharField(max_length=32)
    value = models.FloatField()
    reference_value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    n = models.PositiveIntegerField()  # observations the value is computed over
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain", "adapter_id", "window", "statistic", "feature"]
        constraints = [
            # once per window and statistic (two partial indexes: NULL, the base model, is one adapter here)
            models.UniqueConstraint(fields=["domain", "adapter", "window", "statistic", "feature"],
                                    condition=models.Q(adapter__isnull=False), name="monitoring_snapshot_once"),
            models.UniqueConstraint(fields=["domain", "window", "statistic", "feature"],
                                    condition=models.Q(adapter__isnull=True), name="monitoring_snapshot_once_base"),
        ]


class Alert(models.Model):
    """A statistic beyond its threshold on one window: audited when raised and when an admin acknowledges it."""

    snapshot = models.OneToOneField(Snapshot, on_delete=models.PROTECT, related_name="alert")
    domain = models.CharField(max_length=16, choices=Domain.choices)
    adapter = models.ForeignKey("adapters.AdapterVersion", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="alerts")
    statistic = models.CharField(max_length=16, choices=Statistic.choices)
    feature = models.CharField(max_length=32)
    window = models.IntegerField()
    reference_window = models.IntegerField()
    value = models.FloatField()
    threshold = models.FloatField()
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class ConsistencyCheck(models.Model):
    """k proposals sampled for the input of one observed triage job (a job of kind monitoring.triage_consistency):
    only the levels are stored (None for an unusable proposal), never the model's text."""

    observation = models.ForeignKey(Observation, on_delete=models.CASCADE, related_name="consistency_checks")
    job = models.OneToOneField("generation.GenerationJob", on_delete=models.CASCADE, related_name="consistency")
    k = models.PositiveSmallIntegerField()
    levels = models.JSONField(default=list)
    agreement = models.FloatField(null=True, blank=True)  # None until the job stored its samples
    created_at = models.DateTimeField(default=timezone.now)
