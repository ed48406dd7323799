"""Browser tests: Debian's Chromium driven by Playwright against the real application served
by daphne (HTTP and the WebSocket feed) on the test database.

Select them with ``-m browser``; they run in ``make test`` with everything else. Chromium is
/usr/bin/chromium (``apt-get install chromium``; .ci/run installs it); Playwright's own
browser downloads are never used. Screenshots go to var/test-artifacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Chromium against a live daphne server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def _log_path() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return ARTIFACTS / f"daphne-{worker}.log"


@pytest.fixture
def live_server_url(transactional_db) -> Iterator[str]:
    """daphne serving config.asgi on the test database (data the test commits is what the
    server sees); stopped before the database is flushed."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.browser.settings",
        "DATABASE_URL": _database_url(),
        "BOURSE_BROWSER_REDIS_PREFIX": settings.REDIS_KEY_PREFIX,
        "PYTHONUNBUFFERED": "1",
    }
    log = open(_log_path(), "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"daphne exited with {server.returncode}; see {log.name}")
            try:
                with urllib.request.urlopen(f"{url}/auth/sign-in/", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not answer within 60 s; see {log.name}")
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        _wait_for_server_sessions_to_end()


def _wait_for_server_sessions_to_end() -> None:
    """The server's database sessions end a moment after its process; the test database is
    flushed (and at the end dropped) only once they have."""
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A Chromium page (Playwright's sync API). Database calls made while it is open are
    allowed: Playwright keeps an event loop running in this thread, which Django would
    otherwise refuse."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = browser.new_context(viewport={"width": 1280, "height": 1600})
        page = context.new_page()
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # With Playwright's loop in this thread, Django kept the test's queries on a
            # connection of their own; close it, or the test database could not be dropped.
            connections.close_all()
