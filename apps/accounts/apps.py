from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Clients and accounts"

    def ready(self) -> None:
        from apps.accounts import roles, schema, signals  # noqa: F401

        # Permissions are created app by app after migrate; re-syncing after each app means
        # the roles hold every permission they are granted once the last app is done.
        post_migrate.connect(roles.sync_role_permissions_receiver, dispatch_uid="bourse-roles")
