"""journal_post_batch: many entries in one transaction, all or nothing, idempotent."""

from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.ledger.choices import Bucket
from apps.ledger.models import JournalEntry, Posting
from apps.ledger.services import EntrySpec
from tests.factories.accounts import TradingAccountFactory
from tests.factories.ledger import house, ledger_balance

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def buckets():
    account = TradingAccountFactory()
    return (
        services.ledger_account_get(owner=account, currency="USD", bucket=Bucket.SETTLED),
        services.ledger_account_get(owner=account, currency="USD", bucket=Bucket.RESERVED),
    )


def test_a_batch_posts_every_entry_in_order_with_running_balances(buckets):
    settled, reserved = buckets
    specs = [
        EntrySpec(kind="deposit", postings=[(settled, D("100")), (house(), D("-100"))]),
        EntrySpec(kind="hold", postings=[(settled, D("-60")), (reserved, D("60"))]),
        EntrySpec(kind="release", postings=[(reserved, D("-10")), (settled, D("10"))]),
        EntrySpec(kind="hold", postings=[(settled, D("-50")), (reserved, D("50"))]),
    ]
    entries = services.journal_post_batch(entries=specs)
    assert [e.kind for e in entries] == ["deposit", "hold", "release", "hold"]
    assert [e.sequence for e in entries] == sorted(e.sequence for e in entries)
    assert ledger_balance(settled) == D("0")
    assert ledger_balance(reserved) == D("100")
    running = list(
        Posting.objects.filter(ledger_account=settled)
        .order_by("id")
        .values_list("balance_after", flat=True)
    )
    assert running == [D("100"), D("40"), D("50"), D("0")]
    assert selectors.ledger_integrity().ok


def test_one_overdraft_refuses_the_whole_batch(buckets):
    settled, reserved = buckets
    specs = [
        EntrySpec(kind="deposit", postings=[(settled, D("100")), (house(), D("-100"))]),
        EntrySpec(kind="hold", postings=[(settled, D("-150")), (reserved, D("150"))]),
    ]
    with pytest.raises(ApplicationError) as refused:
        services.journal_post_batch(entries=specs)
    assert refused.value.code == "insufficient_funds"
    assert refused.value.details["entry"] == 1
    assert not JournalEntry.objects.exists()
    assert ledger_balance(settled) == 0


def test_an_invalid_entry_names_its_index(buckets):
    settled, _ = buckets
    specs = [
        EntrySpec(kind="deposit", postings=[(settled, D("1")), (house(), D("-1"))]),
        EntrySpec(kind="Bad Kind", postings=[(settled, D("1")), (house(), D("-1"))]),
    ]
    with pytest.raises(ApplicationError) as refused:
        services.journal_post_batch(entries=specs)
    assert refused.value.details["entry"] == ["1"]


def test_keys_already_posted_and_repeated_within_the_batch_post_once(buckets):
    settled, _ = buckets
    first = services.journal_post(
        kind="deposit", postings=[(settled, D("5")), (house(), D("-5"))], idempotency_key="k1"
    )
    spec = EntrySpec(
        kind="deposit", postings=[(settled, D("7")), (house(), D("-7"))], idempotency_key="k2"
    )
    entries = services.journal_post_batch(
        entries=[
            EntrySpec(
                kind="deposit",
                postings=[(settled, D("5")), (house(), D("-5"))],
                idempotency_key="k1",
            ),
            spec,
            spec,
        ]
    )
    assert entries[0].pk == first.pk
    assert entries[1].pk == entries[2].pk
    assert ledger_balance(settled) == D("12")
    assert JournalEntry.objects.count() == 2


def test_an_empty_batch_posts_nothing():
    assert services.journal_post_batch(entries=[]) == []
