"""What the positions app grants each role: operations receive transfers in and resolve
reconciliation breaks; a second member approves large transfers (four-eyes)."""

from apps.accounts.choices import Role

_READ = [
    "positions.view_position",
    "positions.view_taxlot",
    "positions.view_securitiestransfer",
    "positions.view_reconciliationbreak",
]

GRANTS = {
    Role.BROKER_OPERATIONS: [
        *_READ,
        "positions.add_securitiestransfer",
        "positions.approve_securitiestransfer",
        "positions.resolve_reconciliationbreak",
    ],
    Role.COMPLIANCE: [*_READ],
    Role.RISK: [*_READ],
    Role.SUPPORT: ["positions.view_position", "positions.view_taxlot"],
}
