"""Research reports, their sections and each section's versions."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.finance.reports.prompts import SECTIONS


class Report(models.Model):
    """One research-report draft of a company, made from a snapshot of its computed facts."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        GENERATING = "generating"
        READY = "ready"
        APPROVED = "approved"
        FAILED = "failed"

    company = models.ForeignKey("finance.Company", on_delete=models.PROTECT, related_name="reports")
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="reports")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="finance_reports")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    # DCF inputs (shown in the report; chosen when the report is started)
    wacc = models.FloatField()
    terminal_growth = models.FloatField()
    forecast_years = models.PositiveSmallIntegerField()
    price_per_share = models.FloatField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    # What the report was made from: FactSet.to_json() and the DCF sensitivity grid.
    facts = models.JSONField(default=list)
    sensitivity = models.JSONField(default=dict)
    model_name = models.CharField(max_length=200, blank=True)
    adapter = models.ForeignKey(
        "adapters.AdapterVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="finance_reports"
    )
    adapter_label = models.CharField(max_length=120, blank=True)  # "" = the base model
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="approved_reports"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(wacc__gt=models.F("terminal_growth")), name="report_wacc_gt_g"),
            models.CheckConstraint(
                condition=models.Q(forecast_years__gte=1, forecast_years__lte=30), name="report_forecast_years_range"
            ),
        ]

    def __str__(self) -> str:
        return f"report {self.pk}: {self.title}"

    @property
    def is_frozen(self) -> bool:
        return self.status == self.Status.APPROVED


class ReportRun(models.Model):
    """One generation job of a report: all sections (section_kind "") or one regenerated section."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="runs")
    job = models.OneToOneField("generation.GenerationJob", on_delete=models.PROTECT, related_name="report_run")
    section_kind = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]


class ReportSection(models.Model):
    class Kind(models.TextChoices):
        RATING = "rating", "Rating and price target"
        SUMMARY = "summary", "Investment summary"
        OVERVIEW = "overview", "Company overview"
        FINANCIAL_ANALYSIS = "financial_analysis", "Financial analysis"
        VALUATION = "valuation", "Valuation"
        RISKS = "risks", "Risks"
        DISCLOSURE = "disclosure", "Disclosure"

    class Status(models.TextChoices):
        PENDING = "pending"
        GENERATING = "generating"
        DONE = "done"
        FAILED = "failed"

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="sections")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    live_text = models.TextField(blank=True)  # text streamed while the model writes it
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["report", "position"]
        constraints = [models.UniqueConstraint(fields=["report", "kind"], name="uniq_report_section_kind")]

    def __str__(self) -> str:
        return f"{self.report_id}/{self.kind}"

    @property
    def current(self) -> ReportSectionVersion | None:
        versions = getattr(self, "_prefetched_objects_cache", {}).get("versions")
        if versions is not None:
            return max(versions, key=lambda v: v.number, default=None)
        return self.versions.order_by("-number").first()


class ReportSectionVersion(models.Model):
    """An immutable text of a section: written by the model (author "model") or edited by a user."""

    MODEL_AUTHOR = "model"
    SYSTEM_AUTHOR = "system"

    section = models.ForeignKey(ReportSection, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    text = models.TextField()
    data = models.JSONField(default=dict, blank=True)  # structured output (the rating section)
    author = models.CharField(max_length=150)  # "model", "system" or the editing user's username
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    job = models.ForeignKey(
        "generation.GenerationJob", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    checks = models.JSONField(default=list, blank=True)  # grounding: one dict per number in the text
    flags = models.JSONField(default=list, blank=True)  # human-readable mismatches
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["section", "number"]
        constraints = [
            models.UniqueConstraint(fields=["section", "number"], name="uniq_section_version_number"),
            # A job writes a section once, however often its task is delivered.
            models.UniqueConstraint(
                fields=["section", "job"], condition=models.Q(job__isnull=False), name="uniq_section_version_job"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.section} v{self.number}"


assert [k for k, _ in ReportSection.Kind.choices] == [s.kind for s in SECTIONS]
