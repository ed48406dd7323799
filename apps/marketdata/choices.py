from django.db import models


class CandleInterval(models.TextChoices):
    """Candle widths, each a whole divisor of a UTC day."""

    ONE_MINUTE = "1m", "1 minute"
    FIVE_MINUTES = "5m", "5 minutes"
    FIFTEEN_MINUTES = "15m", "15 minutes"
    ONE_HOUR = "1h", "1 hour"
    ONE_DAY = "1d", "1 day"


class AggressorSide(models.TextChoices):
    BUY = "buy", "Buy"
    SELL = "sell", "Sell"


class AlertCondition(models.TextChoices):
    ABOVE = "above", "Price at or above"
    BELOW = "below", "Price at or below"
    PERCENT_MOVE = "percent_move", "Move of at least this percent from the base price"


class AlertStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    TRIGGERED = "triggered", "Triggered"
    CANCELLED = "cancelled", "Cancelled"


class NotificationEvent(models.TextChoices):
    PRICE_ALERT = "price_alert", "Price alerts"
    ORDER_FILL = "order_fill", "Order fills"
    DEPOSIT = "deposit", "Deposits"


class StreamChannel(models.TextChoices):
    """WebSocket channels: market streams by symbol, and private streams per user."""

    QUOTES = "quotes", "Quotes"
    DEPTH = "depth", "Depth"
    TRADES = "trades", "Trades"
    ORDERS = "orders", "Orders"
    ACCOUNT = "account", "Account"
    NOTIFICATIONS = "notifications", "Notifications"


MARKET_CHANNELS = (StreamChannel.QUOTES, StreamChannel.DEPTH, StreamChannel.TRADES)
PRIVATE_CHANNELS = (StreamChannel.ORDERS, StreamChannel.ACCOUNT, StreamChannel.NOTIFICATIONS)
