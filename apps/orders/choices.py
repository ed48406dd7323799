from django.db import models


class OrderSide(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class OrderType(models.TextChoices):
    MARKET = "market", "Market"
    LIMIT = "limit", "Limit"
    STOP = "stop", "Stop"
    STOP_LIMIT = "stop_limit", "Stop limit"


class TimeInForce(models.TextChoices):
    DAY = "day", "Day"
    GTC = "gtc", "Good till cancelled"
    IOC = "ioc", "Immediate or cancel"
    FOK = "fok", "Fill or kill"
    GTD = "gtd", "Good till date"


class OrderStatus(models.TextChoices):
    ACCEPTED = "accepted", "Accepted"
    PENDING_TRIGGER = "pending_trigger", "Pending trigger"
    PARTIALLY_FILLED = "partially_filled", "Partially filled"
    FILLED = "filled", "Filled"
    CANCELLED = "cancelled", "Cancelled"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


OPEN_ORDER_STATUSES = (
    OrderStatus.ACCEPTED,
    OrderStatus.PENDING_TRIGGER,
    OrderStatus.PARTIALLY_FILLED,
)
FINAL_ORDER_STATUSES = (
    OrderStatus.FILLED,
    OrderStatus.CANCELLED,
    OrderStatus.REJECTED,
    OrderStatus.EXPIRED,
)


class CancelSource(models.TextChoices):
    """Who or what ended an order that did not fill completely."""

    CLIENT = "client", "Client"
    STAFF = "staff", "Staff"
    EXPIRY = "expiry", "Expiry"
    MARKET = "market", "Unfilled remainder (IOC, FOK, market)"
    SELF_TRADE = "self_trade", "Self-trade prevention"
