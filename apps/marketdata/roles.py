"""What the marketdata app grants each role."""

from apps.accounts.choices import Role

_CLIENT_CHOICES = [
    "marketdata.view_watchlist",
    "marketdata.view_watchlistitem",
    "marketdata.view_pricealert",
    "marketdata.view_notification",
    "marketdata.view_notificationpreference",
]

GRANTS: dict[str, list[str]] = {
    Role.BROKER_OPERATIONS: [*_CLIENT_CHOICES, "marketdata.view_marketstate"],
    Role.SUPPORT: list(_CLIENT_CHOICES),
    Role.COMPLIANCE: [*_CLIENT_CHOICES, "marketdata.view_marketstate"],
    Role.RISK: ["marketdata.view_marketstate"],
}
