"""Tables of the matching app:
the state of each instrument's book, trades and fills.
"""

from django.db import models


class BookState(models.Model):
    """Per instrument: the book's version (for workers' cached books) and its last trade."""

    instrument = models.OneToOneField(
        "instruments.Instrument",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="book_state",
    )
    version = models.BigIntegerField(default=0)
    last_price = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    last_quantity = models.DecimalField(max_digits=24, decimal_places=8, null=True, blank=True)
    last_trade_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Book of {self.instrument_id} v{self.version}"
