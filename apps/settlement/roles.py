"""What the settlement app grants each role."""

from apps.accounts.choices import Role

_READ = [
    "settlement.view_settlementinstruction",
    "settlement.view_settlementrun",
    "settlement.view_goodfaithviolation",
]

GRANTS = {
    Role.BROKER_OPERATIONS: [
        *_READ,
        "settlement.resolve_settlementfail",
        "settlement.start_settlementrun",
    ],
    Role.COMPLIANCE: _READ,
    Role.RISK: _READ,
    Role.SUPPORT: ["settlement.view_settlementinstruction"],
}
