"""Celery tasks of the marketdata app: thin, idempotent, each calling one service."""

from smtplib import SMTPException

from celery import shared_task

from apps.instruments.models import Instrument
from apps.marketdata import services
from apps.marketdata.feed import BookTop, TradePrint


@shared_task(
    name="apps.marketdata.tasks.notify_email",
    autoretry_for=(SMTPException, OSError),
    retry_backoff=True,
    max_retries=8,
)
def notify_email(notification_id: int) -> bool:
    """Send one notification's e-mail (queue ``notifications``); a sent one is not resent."""
    return services.notification_email_send(notification_id=notification_id)


@shared_task(name="apps.marketdata.tasks.market_data_apply")
def market_data_apply(instrument_id: int, trades: list[dict], book: dict | None = None) -> int:
    """The outbox form of services.market_data_apply, for a pipeline that must not lose a
    batch between its commit and the call. Idempotent like the service."""
    result = services.market_data_apply(
        instrument=Instrument.objects.get(pk=instrument_id),
        trades=[TradePrint.from_json(t) for t in trades],
        book=BookTop.from_json(book) if book is not None else None,
    )
    return result.recorded


@shared_task(name="apps.marketdata.tasks.ticks_purge")
def ticks_purge() -> int:
    """Retention of ticks, quote ticks and minute candles on plain PostgreSQL."""
    return services.ticks_purge()


@shared_task(name="apps.marketdata.tasks.notify_fills")
def notify_fills(fill_ids: list[int]) -> int:
    """Trade confirmations of a matching batch's fills (queue ``notifications``)."""
    return services.fills_notify(fill_ids=fill_ids)


@shared_task(name="apps.marketdata.tasks.simulate_market")
def simulate_market(steps: int | None = None) -> int:
    """A few steps of the house market makers on every open instrument (celery beat, when
    MARKETDATA_SIMULATOR is on). One run at a time; returns the trades it printed."""
    from django.conf import settings

    from apps.marketdata import simulator

    report = simulator.simulate(
        symbols=settings.MARKETDATA_SIMULATOR_SYMBOLS or None,
        steps=steps or settings.MARKETDATA_SIMULATOR_STEPS,
        exclusive=True,
    )
    return report.trades
