from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.domains import Domain


class AdapterVersion(models.Model):
    """One uploaded LoRA adapter version. Its files live content-addressed in the blob store."""

    Domain = Domain

    class EvalStatus(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    name = models.SlugField(max_length=64)
    version = models.PositiveIntegerField()
    domain = models.CharField(max_length=16, choices=Domain.choices)
    base_model = models.CharField(max_length=200)
    rank = models.PositiveIntegerField()
    alpha = models.FloatField()
    target_modules = models.JSONField()
    size_bytes = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)  # of the weights file
    config_sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    eval_status = models.CharField(max_length=16, choices=EvalStatus.choices, default=EvalStatus.PENDING)
    eval_error = models.TextField(blank=True)
    domain_loss_base = models.FloatField(null=True, blank=True)
    domain_loss_adapter = models.FloatField(null=True, blank=True)
    general_loss_base = models.FloatField(null=True, blank=True)
    general_loss_adapter = models.FloatField(null=True, blank=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="uniq_adapter_name_version"),
            models.UniqueConstraint(fields=["sha256", "config_sha256"], name="uniq_adapter_content"),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def general_regression(self) -> float | None:
        """Relative rise of the general-set loss with the adapter (0.05 = 5 % worse); None until evaluated."""
        if self.general_loss_base is None or self.general_loss_adapter is None:
            return None
        return (self.general_loss_adapter - self.general_loss_base) / self.general_loss_base


class AdapterActivation(models.Model):
    """The history of which version serves a domain. The newest row of a domain is the active one;
    a row with adapter=None means the domain serves the base model."""

    class Kind(models.TextChoices):
        ACTIVATE = "activate"
        ROLLBACK = "rollback"

    domain = models.CharField(max_length=16, choices=Domain.choices, db_index=True)
    adapter = models.ForeignKey(AdapterVersion, null=True, on_delete=models.PROTECT, related_name="activations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    override_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.domain}: {self.adapter or 'base'} ({self.kind})"
