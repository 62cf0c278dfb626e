"""Companies, statements, analytics and research reports (generation by section on a gpu worker, grounding,
editing, versions, approval, export)."""
from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "apps.finance"
    label = "finance"

    def ready(self) -> None:
        from apps.core.domains import Domain
        from apps.finance.reports.runner import report_run
        from apps.finance.reports.services import REPORT_JOB_KIND, report_job_ended
        from apps.generation.registry import JobKind, kind_register

        kind_register(JobKind(name=REPORT_JOB_KIND, run=report_run, domain=Domain.FINANCE, on_end=report_job_ended,
                              what="report"))
