"""Production refuses to start without field encryption keys, or with a malformed one."""

import pytest

from tests.platform.test_settings import PROD_ENV, _check


@pytest.mark.slow
@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (None, "FIELD_ENCRYPTION_KEYS must be set in production"),
        ("not-a-fernet-key", "must be a Fernet key"),
    ],
)
def test_production_needs_valid_field_encryption_keys(keys, message):
    env = {k: v for k, v in PROD_ENV.items() if k != "FIELD_ENCRYPTION_KEYS"}
    if keys is not None:
        env["FIELD_ENCRYPTION_KEYS"] = keys
    result = _check(env)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.slow
def test_production_accepts_a_rotation_pair():
    new = "yNlbJkM3uDLtAFVJbmf8XHVGwvEzmzJ3WMnp-8rOjL0="
    old = "q4Xm2W0vTIs0cy8dYy0LHJmZEWkKlWYd9b3N5QfS1gk="
    result = _check({**PROD_ENV, "FIELD_ENCRYPTION_KEYS": f"{new},{old}"})
    assert result.returncode == 0, result.stderr
