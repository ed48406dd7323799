"""Demo market data: an opening state per instrument, a watchlist, notification choices and a
price alert for each demo client. Idempotent; uses the instruments the instrument master's
demo listed."""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

from django.db import transaction

from apps.accounts.models import User
from apps.instruments.models import Instrument
from apps.marketdata import services
from apps.marketdata.choices import AlertCondition
from apps.marketdata.models import MarketState, NotificationPreference, PriceAlert, Watchlist

CLIENTS = ["alice@example.com", "bob@example.com"]
WATCHLIST = "Favourites"
# Names clients would follow first; any listed instruments fill in when these are missing.
FAVOURITES = ["AAPL", "MSFT", "NVDA", "SPY", "XAU-G"]
WATCHLIST_SIZE = 5


def _favourites(instruments: list[Instrument]) -> list[Instrument]:
    by_symbol = {i.symbol: i for i in instruments}
    chosen = [by_symbol[s] for s in FAVOURITES if s in by_symbol]
    chosen += [i for i in instruments if i not in chosen]
    return chosen[:WATCHLIST_SIZE]


@transaction.atomic
def load(out: TextIO) -> None:
    instruments = list(Instrument.objects.order_by("symbol"))
    for instrument in instruments:
        services.market_state_initialize(instrument=instrument)
    for email in CLIENTS:
        user = User.objects.filter(email=email).first()
        if user is None:
            continue
        if not Watchlist.objects.filter(user=user, name=WATCHLIST).exists():
            services.watchlist_create(
                user=user, name=WATCHLIST, instruments=_favourites(instruments)
            )
        if not NotificationPreference.objects.filter(user=user).exists():
            services.notification_preferences_update(
                user=user, preferences=dict(services.NOTIFICATION_DEFAULTS)
            )
        state = (
            MarketState.objects.filter(instrument__in=instruments, previous_close__isnull=False)
            .select_related("instrument")
            .first()
        )
        if state is not None and not PriceAlert.objects.filter(user=user).exists():
            services.price_alert_create(
                user=user,
                instrument=state.instrument,
                condition=AlertCondition.PERCENT_MOVE,
                threshold=Decimal("2"),
                base_price=state.previous_close,
                note="Demo: a 2% move",
            )
    out.write(
        f"Market data: {len(instruments)} instruments opened; watchlists and alerts for "
        "the demo clients.\n"
    )
