"""What the orders app grants each role: the desk cancels clients' orders and sets fees."""

from apps.accounts.choices import Role

_READ = ["orders.view_order", "orders.view_feeschedule", "orders.view_order_blotter"]

GRANTS = {
    Role.BROKER_OPERATIONS: [*_READ, "orders.cancel_any_order", "orders.change_feeschedule"],
    Role.COMPLIANCE: [*_READ],
    Role.RISK: [*_READ, "orders.cancel_any_order"],
    Role.SUPPORT: ["orders.view_order"],
}
