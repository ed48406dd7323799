"""Field encryption for the data a client must never see leak: tax ids.

Values are Fernet tokens (AES-128-CBC with an HMAC-SHA256, from ``cryptography``) under the
keys of ``settings.FIELD_ENCRYPTION_KEYS``: the first key encrypts, every key decrypts
(``MultiFernet``), so a key is rotated by putting the new one first, re-encrypting with
``manage.py rotate_field_encryption``, then dropping the old one. Production refuses to start
without keys; development and tests derive one from ``SECRET_KEY`` so they need no set-up.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DERIVATION_LABEL = b"bourse-field-encryption-v1:"


def derived_key(secret: str) -> str:
    """A Fernet key derived from ``secret`` (development and tests only)."""
    digest = hashlib.sha256(DERIVATION_LABEL + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def configured_keys() -> tuple[str, ...]:
    keys = tuple(k.strip() for k in getattr(settings, "FIELD_ENCRYPTION_KEYS", []) if k.strip())
    if keys:
        return keys
    if not settings.SECRET_KEY:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS (or a SECRET_KEY to derive one) is unset."
        )
    return (derived_key(settings.SECRET_KEY),)


def validate_keys(keys: list[str] | tuple[str, ...]) -> None:
    """Raise ImproperlyConfigured unless every key is a valid Fernet key."""
    for index, key in enumerate(keys):
        try:
            Fernet(key.strip())
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS entry {index + 1} is not a Fernet key (32 url-safe "
                'base64-encoded bytes; make one with `python -c "from cryptography.fernet '
                'import Fernet; print(Fernet.generate_key().decode())"`).'
            ) from exc


@lru_cache(maxsize=4)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    validate_keys(keys)
    return MultiFernet([Fernet(k) for k in keys])


def cipher() -> MultiFernet:
    return _cipher(configured_keys())


def encrypt(plaintext: str) -> str:
    """The Fernet token of ``plaintext`` under the primary key ('' stays '')."""
    if not plaintext:
        return ""
    return cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a token made under any configured key ('' stays '').

    Raises ImproperlyConfigured when no configured key opens it (a key was dropped too soon).
    """
    if not token:
        return ""
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "A stored value cannot be decrypted with FIELD_ENCRYPTION_KEYS; was a key removed "
            "before `manage.py rotate_field_encryption` ran?"
        ) from exc


def rotate(token: str) -> str:
    """The same plaintext re-encrypted under the primary key."""
    if not token:
        return ""
    return cipher().rotate(token.encode()).decode()
