from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "apps.ledger"
    label = "ledger"
    verbose_name = "Ledger and funding"

    def ready(self) -> None:
        from apps.ledger import receivers  # noqa: F401  (connect signal receivers)
