"""Demo funding: the demo clients' accounts receive bank transfers through the real deposit
path (bank_credit_receive, as the bank webhook calls it), and one transfer with a mistyped
reference waits in the suspense queue for staff. Idempotent: each transfer has a fixed bank
transaction id, which credits once."""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

from apps.accounts.demo import CLIENTS
from apps.accounts.models import TradingAccount
from apps.ledger import references, services

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
