"""What each role may do with instruments and trading calendars.

Broker operations run the instrument master: list and edit instruments, halt, resume,
suspend, reinstate and delist them, keep the calendars and their closures, and enter,
approve (each other's) and process corporate actions. Risk and
compliance may halt and resume trading. Support looks.
"""

from apps.accounts.choices import Role

_VIEW = [
    "instruments.view_instrument",
    "instruments.view_instrumenthalt",
    "instruments.view_tradingcalendar",
    "instruments.view_calendarclosure",
    "instruments.view_corporateaction",
]
# Corporate actions: operations enter, approve (someone else's) and process them.
_CORPORATE_ACTIONS = [
    "instruments.add_corporateaction",
    "instruments.change_corporateaction",
    "instruments.approve_corporateaction",
    "instruments.process_corporateaction",
]

GRANTS = {
    Role.BROKER_OPERATIONS: [
        *_VIEW,
        "instruments.add_instrument",
        "instruments.change_instrument",
        "instruments.halt_instrument",
        "instruments.suspend_instrument",
        "instruments.delist_instrument",
        "instruments.add_tradingcalendar",
        "instruments.change_tradingcalendar",
        "instruments.add_calendarclosure",
        "instruments.change_calendarclosure",
        "instruments.delete_calendarclosure",
        *_CORPORATE_ACTIONS,
    ],
    Role.RISK: [*_VIEW, "instruments.halt_instrument"],
    Role.COMPLIANCE: [*_VIEW, "instruments.halt_instrument"],
    Role.SUPPORT: list(_VIEW),
}
