"""`make run`'s bootstrap (migrate + demo data) on an empty database, twice: idempotent."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from scripts.embedded_db import database_url

ROOT = Path(__file__).resolve().parents[2]


def _admin_conninfo() -> dict:
    db = settings.DATABASES["default"]
    return {
        "host": db["HOST"] or None,
        "port": db["PORT"] or None,
        "user": db["USER"],
        "password": db["PASSWORD"] or None,
        "dbname": "postgres",
    }


def _url_for(name: str) -> str:
    db = settings.DATABASES["default"]
    return database_url(
        name=name, host=db["HOST"], port=db["PORT"], user=db["USER"], password=db["PASSWORD"]
    )


def _counts(name: str) -> dict[str, int]:
    with psycopg.connect(**{**_admin_conninfo(), "dbname": name}) as conn:
        tables = [
            "accounts_user",
            "accounts_tradingaccount",
            "otp_static_statictoken",
            "auth_group",
        ]
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.fixture
def empty_database():
    name = f"bourse_bootstrap_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(**_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(**_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_bootstrap_twice_on_an_empty_database(empty_database):
    env = {
        **os.environ,
        "DATABASE_URL": _url_for(empty_database),
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "REDIS_URL": "",
    }
    command = [sys.executable, "scripts/run.py", "--bootstrap-only"]
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "backup codes" in first.stdout
    after_first = _counts(empty_database)
    assert after_first["accounts_user"] == 5
    assert after_first["otp_static_statictoken"] == 15

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "backup codes" not in second.stdout  # printed once, never again
    assert _counts(empty_database) == after_first
