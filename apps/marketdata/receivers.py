"""Market data's part in other apps' events: clients hear about money that reached them, see
their orders change live, and get a confirmation of every fill."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.accounts.models import TradingAccount
from apps.ledger.models import Deposit
from apps.ledger.money import cash_text
from apps.ledger.signals import deposit_credited
from apps.marketdata.choices import NotificationEvent, StreamChannel
from apps.marketdata.services import notify, private_publish_many
from apps.matching.signals import batch_committed
from apps.orders.selectors import order_summary
from apps.orders.signals import order_changed


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


@receiver(order_changed, dispatch_uid="marketdata-publish-orders")
def publish_orders(sender: Any, orders: list, **kwargs: Any) -> None:
    """Push each changed order to its owner's private ``orders`` stream (after commit)."""
    owners = dict(
        TradingAccount.objects.filter(pk__in={o.account_id for o in orders}).values_list(
            "pk", "owner_id"
        )
    )
    private_publish_many(
        items=[
            (owners[order.account_id], StreamChannel.ORDERS, order_summary(order))
            for order in orders
        ]
    )


@receiver(batch_committed, dispatch_uid="marketdata-fills")
def after_batch(sender: Any, fills: list, **kwargs: Any) -> None:
    """After a matching batch: clients' account streams hear their cash and holdings moved,
    and each fill is confirmed to its client (notifications queue; once per fill)."""
    if not fills:
        return
    accounts = {f.account_id for f in fills}
    owners = dict(TradingAccount.objects.filter(pk__in=accounts).values_list("pk", "owner_id"))
    private_publish_many(
        items=[
            (owners[account_id], StreamChannel.ACCOUNT, {"account": account_id, "event": "fill"})
            for account_id in sorted(accounts)
        ]
    )
    from apps.marketdata.tasks import notify_fills

    notify_fills.apply_async(args=[[f.pk for f in fills]], queue="notifications")
