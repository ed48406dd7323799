from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "apps.settlement"
    label = "settlement"
    verbose_name = "Settlement"

    def ready(self) -> None:
        from apps.settlement import receivers  # noqa: F401  (connects the receivers)
