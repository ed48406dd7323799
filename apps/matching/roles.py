"""What the matching app grants each role. A bust needs two different people with
``bust_trade`` (four-eyes); operations and risk hold it."""

from apps.accounts.choices import Role

_READ = [
    "matching.view_trade",
    "matching.view_fill",
    "matching.view_bookstate",
    "matching.view_tradecorrection",
]

GRANTS = {
    Role.BROKER_OPERATIONS: [*_READ, "matching.bust_trade"],
    Role.COMPLIANCE: [*_READ],
    Role.RISK: [*_READ, "matching.bust_trade"],
    Role.SUPPORT: ["matching.view_trade", "matching.view_fill"],
}
