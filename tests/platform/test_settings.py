"""Production settings pass Django's deployment checks and refuse to start half-configured."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DJANGO_SECRET_KEY": "k" * 20 + "-production-grade-secret-0123456789-abcdefghij",
    "DJANGO_ALLOWED_HOSTS": "bourse.example.com",
    "DATABASE_URL": "postgres://bourse:secret@db.example.com:5432/bourse",
    "REDIS_URL": "redis://redis.example.com:6379/0",
    "FIELD_ENCRYPTION_KEYS": "yNlbJkM3uDLtAFVJbmf8XHVGwvEzmzJ3WMnp-8rOjL0=",
}


def _check(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE", "REDIS"))
    }
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
            "--settings",
            "config.settings.prod",
        ],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_deploy_check_passes_with_the_documented_environment():
    result = _check(PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "REDIS_URL"])
def test_production_refuses_to_start_without(missing):
    env = {k: v for k, v in PROD_ENV.items() if k != missing}
    result = _check(env)
    assert result.returncode != 0
    assert missing in result.stderr
