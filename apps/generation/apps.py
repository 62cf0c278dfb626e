from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "apps.generation"
    label = "generation"

    def ready(self) -> None:
        from apps.generation.models import TEXT_KIND
        from apps.generation.registry import JobKind, kind_register
        from apps.generation.runner import text_run

        kind_register(JobKind(name=TEXT_KIND, run=text_run))
