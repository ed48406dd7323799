"""The Celery application. Queues: matching.<n>, settlement, surveillance, reporting,
notifications, default (see docs/architecture.md)."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("bourse")
app.config_from_object("django.conf:settings", namespace="CELERY")


def _declare_queues() -> None:
    from django.conf import settings

    names = list(settings.CELERY_QUEUES_NON_MATCHING) + [
        f"matching.{shard}" for shard in range(settings.MATCHING_SHARDS)
    ]
    app.conf.task_queues = [Queue(name) for name in names]


_declare_queues()
app.autodiscover_tasks()
