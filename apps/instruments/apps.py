from typing import Any

from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_standard_calendars(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from apps.instruments.models import TradingCalendar
    from apps.instruments.services import calendars_ensure_standard

    # A migrate to an earlier state, or a plan that stopped short, may leave no table yet.
    if TradingCalendar._meta.db_table not in connections[using].introspection.table_names():
        return
    calendars_ensure_standard()


class InstrumentsConfig(AppConfig):
    name = "apps.instruments"
    label = "instruments"
    verbose_name = "Instruments"

    def ready(self) -> None:
        # The standard calendars (XNYS, SIFMA, 24x7) exist after every migrate, and again
        # after a database flush, which replays post_migrate.
        post_migrate.connect(
            _ensure_standard_calendars, sender=self, dispatch_uid="bourse-standard-calendars"
        )
