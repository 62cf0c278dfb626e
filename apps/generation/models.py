from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.domains import Domain

TEXT_KIND = "generation.text"  # a prompt a person typed; the other kinds are registered by their apps


class GenerationJob(models.Model):
    """One piece of model work (a prompt, a report, a triage, a draft), run by a worker on queue `gpu`."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    Domain = Domain

    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    # Which registered runner runs it (apps.generation.registry): "generation.text", "finance.report", ...
    kind = models.CharField(max_length=32, default=TEXT_KIND, db_index=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="generation_jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    domain = models.CharField(max_length=16, choices=Domain.choices, default=Domain.GENERAL)
    # The LoRA adapter version the job ran with; None = the base model.
    adapter = models.ForeignKey(
        "adapters.AdapterVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="jobs"
    )
    model_name = models.CharField(max_length=200, blank=True)
    prompt = models.TextField()
    chat = models.BooleanField(default=True)
    max_tokens = models.PositiveIntegerField(default=256)
    temperature = models.FloatField(default=0.0)
    top_p = models.FloatField(default=1.0)
    seed = models.BigIntegerField(null=True, blank=True)
    output = models.TextField(blank=True)
    finish_reason = models.CharField(max_length=16, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(temperature__gte=0), name="job_temperature_nonneg"),
            models.CheckConstraint(condition=models.Q(top_p__gt=0, top_p__lte=1), name="job_top_p_range"),
            models.CheckConstraint(condition=models.Q(max_tokens__gte=1), name="job_max_tokens_pos"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def time_to_first_token_s(self) -> float | None:
        if self.started_at and self.first_token_at:
            return (self.first_token_at - self.started_at).total_seconds()
        return None
