"""Corrections are reversing entries linked to the entry they undo, at most one each."""

from decimal import Decimal

import pytest

from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.ledger.choices import Bucket
from apps.ledger.models import JournalEntry
from tests.factories.accounts import StaffFactory
from tests.factories.ledger import cash, funded_account, house

pytestmark = pytest.mark.django_db

D = Decimal


def test_a_reversal_negates_every_posting_and_links_back():
    account = funded_account("300.00")
    deposit_entry = JournalEntry.objects.get()
    admin = StaffFactory(is_superuser=True)
    reversal = services.journal_reverse(entry=deposit_entry, actor=admin, reason="Bank recalled")
    assert reversal.reverses_id == deposit_entry.pk
    assert reversal.kind == "reversal" and reversal.memo == "Bank recalled"
    assert reversal.actor_id == admin.pk
    assert cash(account) == 0
    assert house().balance == 0
    amounts = sorted(reversal.postings.values_list("amount", flat=True))
    assert amounts == [D("-300"), D("300")]
    assert selectors.ledger_integrity().ok


def test_an_entry_is_reversed_at_most_once():
    funded_account("50.00")
    entry = JournalEntry.objects.get()
    first = services.journal_reverse(entry=entry, actor=None, reason="duplicate")
    again = services.journal_reverse(entry=entry, actor=None, reason="duplicate")
    assert again.pk == first.pk  # the same request again: its first answer
    with pytest.raises(ApplicationError) as refused:
        services.journal_reverse(entry=entry, actor=None, reason="again", idempotency_key="other")
    assert refused.value.code == "invalid_state"


def test_a_reversal_that_would_overdraw_is_refused():
    account = funded_account("80.00")
    entry = JournalEntry.objects.get()
    settled = services.ledger_account_get(owner=account, currency="USD", bucket=Bucket.SETTLED)
    reserved = services.ledger_account_get(owner=account, currency="USD", bucket=Bucket.RESERVED)
    services.journal_post(kind="hold", postings=[(settled, D("-50")), (reserved, D("50"))])
    with pytest.raises(ApplicationError) as refused:
        services.journal_reverse(entry=entry, actor=None, reason="recall")
    assert refused.value.code == "insufficient_funds"
    assert cash(account) == D("30")


def test_staff_reversal_needs_the_permission():
    funded_account("10.00")
    entry = JournalEntry.objects.get()
    ops = StaffFactory(role="broker_operations")
    with pytest.raises(ApplicationError) as refused:
        services.journal_reverse(entry=entry, actor=ops, reason="x", enforce_permission=True)
    assert refused.value.code == "permission_denied"
    with pytest.raises(ApplicationError) as missing_reason:
        services.journal_reverse(entry=entry, actor=ops, reason=" ")
    assert missing_reason.value.code == "invalid"
