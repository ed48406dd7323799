"""Re-encrypt stored tax ids under the first key of FIELD_ENCRYPTION_KEYS."""

from typing import Any

from django.core.management.base import BaseCommand

from apps.kyc import services


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored tax id (and its history) with the newest key of "
        "FIELD_ENCRYPTION_KEYS. Run after putting a new key first; remove the old key after."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = services.field_encryption_rotate()
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} stored tax ids."))
