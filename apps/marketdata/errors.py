"""Error codes of the marketdata app (REST envelope and WebSocket error messages)."""

from enum import StrEnum

from apps.core.errors import register_status


class MarketDataError(StrEnum):
    BAD_JSON = "bad_json"
    UNKNOWN_CHANNEL = "unknown_channel"
    UNKNOWN_SYMBOL = "unknown_symbol"


register_status(MarketDataError.BAD_JSON, 400)
register_status(MarketDataError.UNKNOWN_CHANNEL, 400)
register_status(MarketDataError.UNKNOWN_SYMBOL, 404)
