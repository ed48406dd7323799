"""Load demo data, idempotently: every Bourse app's ``demo.load()`` in dependency order."""

from importlib import import_module
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Load the demo data set (users, instruments, funded accounts, a market maker)."

    def handle(self, *args: Any, **options: Any) -> None:
        for app_config in apps.get_app_configs():  # INSTALLED_APPS order is dependency order
            if not app_config.name.startswith("apps."):
                continue
            module_name = f"{app_config.name}.demo"
            try:
                module = import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name == module_name:
                    continue
                raise
            module.load(self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
