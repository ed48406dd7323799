"""Where client documents live: under ``settings.PRIVATE_MEDIA_ROOT``, never a public path.

Files are read only through the views that check who asks and record the access; the storage
has no public URL.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage


class PrivateStorage(FileSystemStorage):
    """File-system storage rooted at PRIVATE_MEDIA_ROOT, read each time (tests move it)."""

    def __init__(self) -> None:
        super().__init__(file_permissions_mode=0o600, directory_permissions_mode=0o700)

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(settings.PRIVATE_MEDIA_ROOT)

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("Private documents have no public URL; serve them through a view.")


_storage = PrivateStorage()


def private_storage() -> PrivateStorage:
    """The storage of KYC documents (a callable, so migrations don't freeze its location)."""
    return _storage


def private_root() -> Path:
    return Path(settings.PRIVATE_MEDIA_ROOT)
