"""Celery tasks of the ledger app: thin, idempotent, each calling one service."""

from celery import shared_task

from apps.ledger import services
from apps.ledger.bank import BankError, SimulatedBank, bank_adapter
from apps.ledger.choices import ReconciliationTrigger


@shared_task(name="apps.ledger.tasks.ledger_verify")
def ledger_verify() -> bool:
    """The daily reconciliation; the result is in the admin (Ledger checks)."""
    return services.ledger_verify(trigger=ReconciliationTrigger.SCHEDULE).ok


@shared_task(
    name="apps.ledger.tasks.withdrawal_send",
    autoretry_for=(BankError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=12,
)
def withdrawal_send(withdrawal_id: int) -> str:
    return services.withdrawal_send(withdrawal_id=withdrawal_id).status


@shared_task(
    name="apps.ledger.tasks.deposit_return_send",
    autoretry_for=(BankError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=12,
)
def deposit_return_send(deposit_id: int) -> str:
    return services.deposit_return_send(deposit_id=deposit_id).return_reference


@shared_task(name="apps.ledger.tasks.simulated_bank_settle_due")
def simulated_bank_settle_due() -> int:
    """The simulated bank settles payouts whose delay is over (no-op with a real bank)."""
    adapter = bank_adapter()
    return adapter.settle_due() if isinstance(adapter, SimulatedBank) else 0
