"""GenerationJob.kind: which registered runner runs a job. Existing jobs get the kind of the app row they feed."""
from django.db import migrations, models


def backfill_kinds(apps, schema_editor):
    GenerationJob = apps.get_model("generation", "GenerationJob")
    ReportRun = apps.get_model("finance", "ReportRun")
    TriageAssessment = apps.get_model("medical", "TriageAssessment")
    Draft = apps.get_model("medical", "Draft")
    for model, kind in ((ReportRun, "finance.report"), (TriageAssessment, "medical.triage"), (Draft, "medical.draft")):
        ids = model.objects.exclude(job_id=None).values("job_id")
        GenerationJob.objects.filter(pk__in=ids).update(kind=kind)


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0001_initial"),
        ("finance", "0002_reports"),
        ("medical", "0002_finding_acknowledgement"),
    ]

    operations = [
        migrations.AddField(
            model_name="generationjob",
            name="kind",
            field=models.CharField(db_index=True, default="generation.text", max_length=32),
        ),
        migrations.RunPython(backfill_kinds, migrations.RunPython.noop),
    ]
