"""Print who may do what: every role and the permissions its group holds."""

from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from apps.accounts.choices import Role
from apps.accounts.roles import sync_role_permissions


class Command(BaseCommand):
    help = "Sync the roles' permissions and print them."

    def handle(self, *args: Any, **options: Any) -> None:
        missing = sync_role_permissions()
        for role in Role:
            group = Group.objects.get(name=role.value)
            perms = group.permissions.select_related("content_type").order_by(
                "content_type__app_label", "codename"
            )
            self.stdout.write(self.style.MIGRATE_HEADING(f"{role.label} ({role.value})"))
            for perm in perms:
                self.stdout.write(f"  {perm.content_type.app_label}.{perm.codename}")
        if missing:
            self.stderr.write("Granted but not defined: " + ", ".join(missing))
