"""The ledger's say in other apps' actions: a trading account can't close while the ledger
still holds anything for it."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.accounts.models import TradingAccount
from apps.accounts.signals import trading_account_closing
from apps.core.errors import invalid_state
from apps.ledger.choices import OPEN_WITHDRAWAL_STATUSES, AdjustmentStatus
from apps.ledger.models import Adjustment, LedgerAccount, Withdrawal


@receiver(trading_account_closing, dispatch_uid="ledger-refuse-closing-with-holdings")
def refuse_closing_with_holdings(sender: Any, account: TradingAccount, **kwargs: Any) -> None:
    """Refuse (``invalid_state``) while any cash or security bucket is non-zero, or a
    withdrawal or adjustment is still open."""
    holdings = [
        f"{ledger_account.asset} {ledger_account.bucket} {ledger_account.balance.normalize():f}"
        for ledger_account in LedgerAccount.objects.filter(owner=account)
        .exclude(balance=0)
        .select_related("instrument")
    ]
    if holdings:
        raise invalid_state(
            f"Account {account.number} still holds {', '.join(holdings)}; pay out or transfer "
            "everything before closing it.",
            holdings=holdings,
        )
    if Withdrawal.objects.filter(account=account, status__in=OPEN_WITHDRAWAL_STATUSES).exists():
        raise invalid_state(f"Account {account.number} has a withdrawal in progress.")
    if Adjustment.objects.filter(
        account=account, status=AdjustmentStatus.PENDING_APPROVAL
    ).exists():
        raise invalid_state(f"Account {account.number} has an adjustment awaiting approval.")
