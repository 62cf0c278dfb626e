"""Data migration: the job rows of triage and draft jobs held the model's text (a draft's SOAP sections and codes,
a triage's JSON with its rationale) as their output, and errors could quote a record. That text lives in this
app's tables (Draft, TriageAssessment); the job rows keep ids, states and counts only.

Outputs are emptied; a prompt that is not the id-only form ("Medical draft of encounter 7") is replaced. Errors are kept only when they are an exception's type name or one of the job mechanism's
own messages (an allow-list); a runner's step message keeps its step ("section plan: ...") and loses its detail;
anything else is replaced by a fixed sentence. Irreversible by design: the text it removes must not come back.
"""
import re

from django.db import migrations

MEDICAL_KINDS = ("medical.triage", "medical.draft")
TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,199}")
OWN_MESSAGES = re.compile(
    r"the (triage|draft|job) ran past its time limit|gave up after repeated database/broker errors"
    r"|the job ended without storing a result|the generation job was (failed|cancelled)"
    r"|no runner is registered for job kind '[\w.]+'"
)
STEP = re.compile(r"(triage|section (subjective|objective|assessment|plan|codes)): .*", re.DOTALL)
REMOVED = "the error text was removed (it may have quoted patient data)"


def safe_error(error: str) -> str:
    if not error or TYPE_NAME.fullmatch(error) or OWN_MESSAGES.fullmatch(error):
        return error
    step = STEP.fullmatch(error)
    if step:
        return f"{step.group(1)}: the model request failed"
    head = error.split(":", 1)[0]
    return head if ":" in error and TYPE_NAME.fullmatch(head) else REMOVED


def scrub_medical_jobs(apps, schema_editor):
    GenerationJob = apps.get_model("generation", "GenerationJob")
    jobs = GenerationJob.objects.filter(kind__in=MEDICAL_KINDS)
    jobs.exclude(output="").update(output="")
    for kind, what in (("medical.triage", "triage"), ("medical.draft", "draft")):  # prompts name ids only
        jobs.filter(kind=kind).exclude(prompt__regex=r"^Medical (triage|draft) of encounter [0-9]+$").update(
            prompt=f"Medical {what} (prompt removed)")
    for job in jobs.exclude(error="").only("pk", "error").iterator():
        cleaned = safe_error(job.error)
        if cleaned != job.error:
            GenerationJob.objects.filter(pk=job.pk).update(error=cleaned)


class Migration(migrations.Migration):
    dependencies = [
        ("medical", "0002_finding_acknowledgement"),
        ("generation", "0002_generationjob_kind"),
    ]

    operations = [migrations.RunPython(scrub_medical_jobs, migrations.RunPython.noop)]
