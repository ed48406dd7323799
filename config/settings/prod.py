"""Production: every secret from the environment, HTTPS only, refuses to start half-configured."""

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters in production."
    )
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
if not REDIS_URL:
    raise ImproperlyConfigured(
        "REDIS_URL must be set in production (Celery broker, cache, channels)."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)

# KYC: tax ids are encrypted with these keys; a derived development key would be guessable.
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS must be set in production (comma-separated Fernet keys, newest "
        "first); see docs/runbook.md, 'Rotate the field encryption key'."
    )
for _key in FIELD_ENCRYPTION_KEYS:
    try:
        Fernet(_key.strip())
    except (ValueError, TypeError) as _exc:
        raise ImproperlyConfigured(
            "Every FIELD_ENCRYPTION_KEYS entry must be a Fernet key (32 url-safe base64 bytes)."
        ) from _exc
