from django.apps import AppConfig


class MedicalConfig(AppConfig):
    name = "apps.medical"
    label = "medical"

    def ready(self) -> None:
        from apps.core.domains import Domain
        from apps.generation.registry import JobKind, kind_register
        from apps.medical.runner import draft_run, triage_run
        from apps.medical.services import DRAFT_JOB_KIND, TRIAGE_JOB_KIND, draft_job_ended, triage_job_ended

        # clinical=True: the job rows hold ids, states and token counts; the text stays in this app's tables.
        kind_register(JobKind(name=TRIAGE_JOB_KIND, run=triage_run, domain=Domain.MEDICAL, on_end=triage_job_ended,
                              clinical=True, what="triage"))
        kind_register(JobKind(name=DRAFT_JOB_KIND, run=draft_run, domain=Domain.MEDICAL, on_end=draft_job_ended,
                              clinical=True, what="draft"))
