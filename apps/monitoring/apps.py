from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"

    def ready(self) -> None:
        from apps.core.domains import Domain
        from apps.generation.registry import JobKind, kind_register
        from apps.monitoring.runner import consistency_run
        from apps.monitoring.services import CONSISTENCY_JOB_KIND

        # clinical: it reads an encounter; the job row holds ids and counts, the sampled levels go to
        # ConsistencyCheck.
        kind_register(JobKind(name=CONSISTENCY_JOB_KIND, run=consistency_run, domain=Domain.MEDICAL, clinical=True,
                              what="consistency sample"))
