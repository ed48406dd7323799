"""Money in and out of accounts through the ledger's own services (the real paths)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from decimal import Decimal
from typing import Any

from django.conf import settings

from apps.accounts.choices import AccountStatus
from apps.accounts.models import TradingAccount, User
from apps.instruments.models import Instrument
from apps.ledger import references, services
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.models import Deposit, LedgerAccount
from tests.factories.accounts import TradingAccountFactory

_bank_ids = itertools.count(1)


def bank_transaction_id() -> str:
    return f"BANK-TX-{next(_bank_ids):08d}"


def deposit(account: TradingAccount, amount: Any, **kwargs: Any) -> Deposit:
    """A bank credit quoting the account's reference (as the webhook records it)."""
    credited, _ = services.bank_credit_receive(
        bank_transaction_id=kwargs.pop("bank_transaction_id", None) or bank_transaction_id(),
        reference=kwargs.pop("reference", None) or references.reference_for(account.number),
        amount=Decimal(str(amount)),
        currency=kwargs.pop("currency", account.currency),
        **kwargs,
    )
    return credited


def funded_account(
    amount: Any = "1000.00",
    *,
    owner: User | None = None,
    status: str = AccountStatus.ACTIVE,
    kyc_tier: int | None = 3,
) -> TradingAccount:
    """An account (active unless told) holding ``amount`` of settled cash from a deposit.

    An active account's owner passed KYC at ``kyc_tier`` (3, no daily limit, unless told;
    None: no KYC), so withdrawals meet the tier's limit as they would in production. (KYC
    approval activates pending accounts, so a pending account's owner has none.)"""
    from tests.factories.kyc import KycApplicationFactory

    kwargs = {"status": status}
    if owner is not None:
        kwargs["owner"] = owner
    account = TradingAccountFactory(**kwargs)
    approve = status == AccountStatus.ACTIVE and kyc_tier is not None
    if approve and not hasattr(account.owner, "kyc_application"):
        KycApplicationFactory(
            user=account.owner, status="approved", tier=kyc_tier, legal_name="Jordan Example"
        )
        account.refresh_from_db()
    if Decimal(str(amount)) > 0:
        deposit(account, amount)
    return account


def instrument(symbol: str, **fields: Any) -> Instrument:
    """An instrument to hold in the ledger, from the instrument master's factory."""
    from tests.factories.instruments import InstrumentFactory

    fields.setdefault("name", symbol.title())
    fields.setdefault("asset_class", "equity")
    if "lot_size" in fields:
        fields.setdefault("min_quantity", fields["lot_size"])
    return InstrumentFactory(symbol=symbol, **fields)


def cash(account: TradingAccount, bucket: str = Bucket.SETTLED) -> Decimal:
    """The account's cash in one bucket, straight from the cached balance."""
    row = LedgerAccount.objects.filter(
        owner=account, currency=account.currency, bucket=bucket
    ).first()
    return row.balance if row is not None else Decimal("0")


def ledger_balance(ledger_account: LedgerAccount) -> Decimal:
    return LedgerAccount.objects.get(pk=ledger_account.pk).balance


def house(kind: str = HouseAccount.BANK, currency: str = "USD") -> LedgerAccount:
    return services.house_account(kind, currency)


def signed(payload: dict[str, Any], secret: str | None = None) -> tuple[bytes, str]:
    """The JSON body of a bank webhook call and its X-Bank-Signature."""
    body = json.dumps(payload).encode()
    key = (secret if secret is not None else settings.BANK_WEBHOOK_SECRET).encode()
    return body, hmac.new(key, body, hashlib.sha256).hexdigest()
