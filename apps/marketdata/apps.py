from django.apps import AppConfig


class MarketdataConfig(AppConfig):
    name = "apps.marketdata"
    label = "marketdata"
    verbose_name = "Market data"

    def ready(self) -> None:
        from apps.marketdata import receivers  # noqa: F401  (connect signal receivers)
