"""Demo funding: the demo clients' accounts receive bank transfers through the real deposit
path (bank_credit_receive, as the bank webhook calls it), and one transfer with a mistyped
reference waits in the suspense queue for staff. The back office also has work waiting: Bob's
withdrawal to approve, Alice's approved one at the (simulated) bank, a goodwill credit for Bob
awaiting a second approver, and the day's ledger check. Idempotent: each transfer has a fixed
bank transaction id and each request a fixed idempotency key."""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

from apps.accounts.demo import CLIENTS
from apps.accounts.models import TradingAccount, User
from apps.ledger import references, services
from apps.ledger.choices import ReconciliationTrigger
from apps.ledger.models import ReconciliationRun

DEPOSITS = {
    "alice@example.com": Decimal("100000.00"),
    "bob@example.com": Decimal("25000.00"),
}
UNMATCHED = ("DEMO-UNMATCHED-1", "RF00BRS000000", Decimal("750.00"), "USD")


def load(out: TextIO) -> None:
    funded = []
    for email, *_ in CLIENTS:
        amount = DEPOSITS.get(email)
        account = TradingAccount.objects.filter(owner__email=email).order_by("number").first()
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
    out.write("Demo deposits credited: " + "; ".join(funded) + "\n")
    out.write(f"One {amount} {currency} transfer with a bad reference is in the suspense queue.\n")
    _back_office_work(out)


def _back_office_work(out: TextIO) -> None:
    ops = User.objects.get(email="ops@bourse.local")
    accounts = {
        email: TradingAccount.objects.filter(owner__email=email).order_by("number").first()
        for email, *_ in CLIENTS
    }
    alice, bob = accounts["alice@example.com"], accounts["bob@example.com"]
    if bob is not None and bob.status == "active":
        services.withdrawal_request(
            account=bob,
            amount=Decimal("500.00"),
            actor=bob.owner,
            idempotency_key="demo-withdrawal-bob-1",
            destination="Bob's checking account",
        )
        services.adjustment_request(
            account=bob,
            amount=Decimal("25.00"),
            actor=ops,
            reason="Goodwill credit for a delayed transfer",
            idempotency_key="demo-adjustment-bob-1",
        )
    if alice is not None and alice.status == "active":
        withdrawal = services.withdrawal_request(
            account=alice,
            amount=Decimal("2500.00"),
            actor=alice.owner,
            idempotency_key="demo-withdrawal-alice-1",
            destination="Alice's savings account",
        )
        if withdrawal.status == "requested":
            services.withdrawal_approve(
                withdrawal=withdrawal, actor=ops, reason="Known destination account"
            )
    if not ReconciliationRun.objects.exists():
        services.ledger_verify(trigger=ReconciliationTrigger.COMMAND)
    out.write("Back-office work waiting: a withdrawal to approve, an adjustment to co-sign.\n")
