"""Market data's part in other apps' events: clients hear about money that reached them."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.ledger.models import Deposit
from apps.ledger.money import cash_text
from apps.ledger.signals import deposit_credited
from apps.marketdata.choices import NotificationEvent
from apps.marketdata.services import notify


@receiver(deposit_credited, dispatch_uid="marketdata-notify-deposit")
def notify_deposit(sender: Any, deposit: Deposit, **kwargs: Any) -> None:
    """Tell the account's owner their transfer arrived (once per deposit)."""
    account = deposit.account
    value = cash_text(deposit.amount, deposit.currency)
    amount = f"{value} {deposit.currency}"
    notify(
        user=account.owner,
        event=NotificationEvent.DEPOSIT,
        subject=f"{amount} arrived in {account.number}",
        body=(
            f"Your bank transfer of {amount} has been credited to account {account.number} "
            "and is available to trade or withdraw."
        ),
        data={
            "deposit_id": deposit.pk,
            "account": account.number,
            "amount": value,
            "currency": deposit.currency,
        },
        key=f"deposit:{deposit.pk}",
    )
