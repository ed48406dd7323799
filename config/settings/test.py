"""The test suite: real PostgreSQL (DATABASE_URL), real Redis when REDIS_URL is set."""

import os

from .base import *
from .base import env

DEBUG = False
SECRET_KEY = "test-only-key"  # noqa: S105
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
PRIVATE_MEDIA_ROOT = (
    BASE_DIR / "var" / "test-private" / os.environ.get("PYTEST_XDIST_WORKER", "main")
)

# Each xdist worker keeps its own Redis keys so parallel tests never see each other's state.
REDIS_KEY_PREFIX = f"bourse-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-{os.getpid()}"
if REDIS_URL:
    CACHES["default"]["KEY_PREFIX"] = REDIS_KEY_PREFIX
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = f"{REDIS_KEY_PREFIX}:asgi"

# Tests run tasks in process unless a test starts a real worker (see tests/conftest.py).
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = REDIS_URL or "memory://"

REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    "anon": "100000/min",
    "user": "100000/min",
}
LOGGING["root"]["level"] = env("LOG_LEVEL", default="WARNING")
