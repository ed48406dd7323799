"""Demo funding, all through the real services:

* the demo clients' accounts receive bank transfers (bank_credit_receive, as the bank webhook
  calls it), pending accounts included;
* a transfer with a mistyped reference waits in the suspense queue;
* once a client's account is active (KYC approved): one withdrawal approved and paid out by the
  simulated bank, one waiting in the approval queue;
* a goodwill adjustment requested by operations waits for a second pair of eyes;
* the books are checked once, so staff find a ledger check in the admin.

Idempotent: transfers have fixed bank transaction ids, withdrawals and the adjustment fixed
idempotency keys, and the check runs only if the ledger was never checked.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

from apps.accounts.choices import AccountStatus
from apps.accounts.demo import CLIENTS
from apps.accounts.models import TradingAccount, User
from apps.core.errors import ApplicationError
from apps.ledger import references, services
from apps.ledger.choices import ReconciliationTrigger, WithdrawalStatus
from apps.ledger.models import ReconciliationRun

DEPOSITS = {
    "alice@example.com": Decimal("100000.00"),
    "bob@example.com": Decimal("25000.00"),
}
UNMATCHED = ("DEMO-UNMATCHED-1", "RF00BRS000000", Decimal("750.00"), "USD")
OPERATIONS = "ops@bourse.local"
PAID_OUT = ("demo-withdrawal-paid-out", Decimal("1500.00"))
AWAITING = ("demo-withdrawal-awaiting-approval", Decimal("2500.00"))
GOODWILL = ("demo-goodwill", Decimal("25.00"), "Goodwill credit for a delayed statement")


def _account(email: str) -> TradingAccount | None:
    return TradingAccount.objects.filter(owner__email=email).order_by("number").first()


def _withdrawals(account: TradingAccount, ops: User, out: TextIO) -> None:
    try:
        paid = services.withdrawal_request(
            account=account, amount=PAID_OUT[1], actor=account.owner, idempotency_key=PAID_OUT[0]
        )
        if paid.status == WithdrawalStatus.REQUESTED:
            services.withdrawal_approve(withdrawal=paid, actor=ops, reason="Demo: payee verified")
        services.withdrawal_send(withdrawal_id=paid.pk)
        services.withdrawal_request(
            account=account, amount=AWAITING[1], actor=account.owner, idempotency_key=AWAITING[0]
        )
    except ApplicationError as exc:  # e.g. the client enrolled a device: OTP needed
        out.write(f"Demo withdrawals for {account.number} skipped: {exc.message}\n")
        return
    out.write(
        f"Demo withdrawals for {account.number}: {PAID_OUT[1]} paid out by the simulated bank, "
        f"{AWAITING[1]} awaiting approval.\n"
    )


def load(out: TextIO) -> None:
    funded = []
    for email, *_ in CLIENTS:
        amount, account = DEPOSITS.get(email), _account(email)
        if amount is None or account is None:
            continue
        services.bank_credit_receive(
            bank_transaction_id=f"DEMO-{account.number}-1",
            reference=references.reference_for(account.number),
            amount=amount,
            currency=account.currency,
            payload={"source": "demo"},
        )
        funded.append(f"{account.number} ({email}) {amount} {account.currency}")
    transaction_id, reference, amount, currency = UNMATCHED
    services.bank_credit_receive(
        bank_transaction_id=transaction_id,
        reference=reference,
        amount=amount,
        currency=currency,
        payload={"source": "demo"},
    )
    out.write("Demo accounts funded: " + "; ".join(funded) + "\n")
    out.write(f"A {amount} {currency} transfer with a bad reference is in the suspense queue.\n")

    ops = User.objects.filter(email=OPERATIONS).first()
    alice, bob = _account("alice@example.com"), _account("bob@example.com")
    if ops is not None and alice is not None and alice.status == AccountStatus.ACTIVE:
        _withdrawals(alice, ops, out)
    if ops is not None and bob is not None:
        key, credit, why = GOODWILL
        services.adjustment_request(
            account=bob, amount=credit, actor=ops, reason=why, idempotency_key=key
        )
        out.write(f"A {credit} adjustment for {bob.number} awaits a second approval.\n")
    if not ReconciliationRun.objects.exists():
        run = services.ledger_verify(
            trigger=ReconciliationTrigger.COMMAND, reason="Demo data loaded"
        )
        out.write(f"{run}\n")
