from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from apps.core import audit, celery_context  # noqa: F401  (connect signal receivers)
        from config.celery import app

        # Register every app's tasks now, not lazily at a worker's start: in single-machine
        # mode tasks run in this process and are looked up by name.
        app.autodiscover_tasks(force=True)
