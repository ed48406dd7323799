"""What the ledger grants each role. Reversing journal entries is left to superusers."""

from apps.accounts.choices import Role

_READ = [
    "ledger.view_ledgeraccount",
    "ledger.view_journalentry",
    "ledger.view_posting",
    "ledger.view_deposit",
    "ledger.view_withdrawal",
    "ledger.view_adjustment",
    "ledger.view_reconciliationrun",
]

GRANTS = {
    Role.BROKER_OPERATIONS: [
        *_READ,
        "ledger.assign_deposit",
        "ledger.approve_withdrawal",
        "ledger.reject_withdrawal",
        "ledger.complete_withdrawal",
        "ledger.add_adjustment",
        "ledger.approve_adjustment",
        "ledger.run_reconciliation",
        "ledger.view_simulatedbankpayout",
    ],
    Role.COMPLIANCE: [*_READ, "ledger.reject_withdrawal", "ledger.run_reconciliation"],
    Role.RISK: [*_READ, "ledger.approve_withdrawal", "ledger.reject_withdrawal"],
    Role.SUPPORT: ["ledger.view_ledgeraccount", "ledger.view_deposit", "ledger.view_withdrawal"],
}
