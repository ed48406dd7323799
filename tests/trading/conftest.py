"""A real Celery worker for the pipeline tests: a separate process on the test database and
Redis, consuming the matching queues, that a test may kill and start again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection

from apps.orders.choices import OPEN_ORDER_STATUSES
from apps.orders.models import Order

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    """``start()``, ``kill()`` (SIGKILL, no goodbye), ``stop()``; ``wait_idle()`` waits until
    no order is waiting for the pipeline."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.process: subprocess.Popen | None = None
        self.log = ROOT / "var" / f"test-worker-{os.getpid()}.log"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        queues = ",".join(
            ["default", "notifications"]
            + [f"matching.{n}" for n in range(settings.MATCHING_SHARDS)]
        )
        db = connection.settings_dict
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": (
                f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
                f"/{self.database}"
            ),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queues,
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "WARNING",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        time.sleep(2.5)
        assert self.process.poll() is None, self.log.read_text()[-3000:]

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_idle(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not Order.objects.filter(needs_match=True, status__in=OPEN_ORDER_STATUSES).exists():
                return
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            time.sleep(0.2)
        raise AssertionError(
            "orders still waiting for the pipeline:\n" + self.log.read_text()[-3000:]
        )


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[Worker]:
    """A real worker on the test database; tasks go through Redis while it runs."""
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL is required: pipeline tests use a real broker and worker")
    app = current_app
    app.conf.task_always_eager = False
    client = app.connection_for_write()
    for n in range(settings.MATCHING_SHARDS):  # nothing left over from an earlier test
        with client.channel() as channel:
            channel.queue_purge(f"matching.{n}")
    worker = Worker(connection.settings_dict["NAME"])
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        app.conf.task_always_eager = True
