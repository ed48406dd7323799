"""Check every position against the ledger's securities now; print the breaks; exit 1 if any.

The nightly job (apps.positions.tasks.positions_reconcile) does the same; both record the
breaks for staff (admin: Reconciliation breaks).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.positions import services
from apps.positions.models import Position


class Command(BaseCommand):
    help = "Reconcile positions (quantity and settled quantity) with the ledger's securities."

    def handle(self, *args: Any, **options: Any) -> None:
        breaks = services.positions_reconcile()
        checked = Position.objects.count()
        for item in breaks:
            self.stdout.write(
                f"BREAK account {item.account_id} instrument {item.instrument_id}: "
                f"position {item.position_quantity.normalize():f} "
                f"(settled {item.position_settled.normalize():f}), "
                f"ledger {item.ledger_quantity.normalize():f} "
                f"(settled {item.ledger_settled.normalize():f})"
            )
        self.stdout.write(f"{checked} position(s) checked, {len(breaks)} break(s).")
        if breaks:
            raise CommandError(f"{len(breaks)} position(s) differ from the ledger.")
