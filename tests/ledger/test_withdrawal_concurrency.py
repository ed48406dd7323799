"""Fifty clients' worth of withdrawals racing on one account, on real PostgreSQL."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.ledger.choices import Bucket
from apps.ledger.models import LedgerAccount, Posting, Withdrawal
from tests.factories.ledger import cash, funded_account

THREADS = 50


@pytest.mark.django_db(transaction=True)
def test_fifty_threads_withdrawing_100_from_1000_exactly_ten_succeed():
    account = funded_account("1000.00")
    outcomes: list[str] = []
    unexpected: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def withdraw() -> None:
        try:
            barrier.wait()
            services.withdrawal_request(account=account, amount=Decimal("100"), actor=account.owner)
            outcomes.append("ok")
        except ApplicationError as exc:
            outcomes.append(exc.code)
        except BaseException as exc:  # pragma: no cover - reported below
            unexpected.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=withdraw) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not unexpected, unexpected
    assert outcomes.count("ok") == 10
    assert outcomes.count("insufficient_funds") == THREADS - 10
    assert cash(account) == 0
    assert cash(account, Bucket.RESERVED) == Decimal("1000")
    assert Withdrawal.objects.filter(account=account).count() == 10
    settled = LedgerAccount.objects.get(owner=account, currency="USD", bucket=Bucket.SETTLED)
    running = Posting.objects.filter(ledger_account=settled).values_list("balance_after", flat=True)
    assert min(running) >= 0  # never below zero, at any point in its history
    report = selectors.ledger_integrity()
    assert report.ok, report.problems
