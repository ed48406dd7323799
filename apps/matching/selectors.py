"""Reads of the matching app used by more than one caller."""

from collections.abc import Iterable
from decimal import Decimal

from apps.matching.models import BookState


def last_prices(*, instrument_ids: Iterable[int]) -> dict[int, Decimal]:
    """The last trade price of each instrument that has traded."""
    return dict(
        BookState.objects.filter(
            instrument_id__in=list(instrument_ids), last_price__isnull=False
        ).values_list("instrument_id", "last_price")
    )
