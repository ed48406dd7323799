"""The books are append-only: the models, the admin and the database refuse changes, and the
CHECK constraint refuses a negative client bucket even from raw SQL."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from apps.ledger import services
from apps.ledger.choices import Bucket
from apps.ledger.models import AppendOnlyError, JournalEntry, LedgerAccount, Posting
from tests.factories.accounts import StaffFactory
from tests.factories.ledger import funded_account, house

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry():
    funded_account("100.00")
    return JournalEntry.objects.get()


def test_models_refuse_to_change_or_delete_entries_and_postings(entry):
    posting = entry.postings.first()
    for action in (entry.save, entry.delete, posting.save, posting.delete):
        with pytest.raises(AppendOnlyError):
            action()
    with pytest.raises(AppendOnlyError):
        JournalEntry.objects.filter(pk=entry.pk).update(memo="edited")
    with pytest.raises(AppendOnlyError):
        Posting.objects.filter(entry=entry).delete()
    with pytest.raises(AppendOnlyError):
        Posting.objects.bulk_create([Posting(entry=entry, amount=1)])


def test_cached_balances_change_only_through_postings(entry):
    account = LedgerAccount.objects.filter(owner__isnull=False).get()
    account.balance = Decimal("1000000")
    with pytest.raises(AppendOnlyError):
        account.save()
    with pytest.raises(AppendOnlyError):
        LedgerAccount.objects.filter(pk=account.pk).update(balance=0)
    with pytest.raises(AppendOnlyError):
        account.delete()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE ledger_posting SET amount = amount * 2",
        "DELETE FROM ledger_posting",
        "UPDATE ledger_journalentry SET memo = 'edited'",
        "DELETE FROM ledger_journalentry",
    ],
)
def test_the_database_refuses_raw_sql_changes(entry, sql):
    with pytest.raises(IntegrityError) as refused, transaction.atomic(), connection.cursor() as c:
        c.execute(sql)
    assert "append-only" in str(refused.value)
    assert Posting.objects.filter(entry=entry).count() == 2


def test_the_check_constraint_catches_an_overdraft_by_raw_sql(entry):
    client_bucket = LedgerAccount.objects.filter(owner__isnull=False).get()
    with pytest.raises(IntegrityError) as refused, transaction.atomic(), connection.cursor() as c:
        c.execute(
            "UPDATE ledger_ledgeraccount SET balance = balance - 100.01 WHERE id = %s",
            [client_bucket.pk],
        )
    assert "ledger_client_bucket_not_negative" in str(refused.value)
    # The house may go negative: it is minus the client money the firm holds.
    with connection.cursor() as c:
        c.execute(
            "UPDATE ledger_ledgeraccount SET balance = balance - 1 WHERE id = %s",
            [house().pk],
        )


@pytest.mark.parametrize(
    ("entry_id", "account_id"),
    [("missing", "client"), ("entry", "missing")],
    ids=["unknown entry", "unknown ledger account"],
)
def test_a_posting_must_name_an_existing_entry_and_account(entry, entry_id, account_id):
    client_bucket = LedgerAccount.objects.filter(owner__isnull=False).get()
    values = [
        entry.pk if entry_id == "entry" else 10**12,
        client_bucket.pk if account_id == "client" else 10**12,
    ]
    with pytest.raises(IntegrityError) as refused, transaction.atomic(), connection.cursor() as c:
        c.execute(
            "INSERT INTO ledger_posting (entry_id, ledger_account_id, amount, balance_after, "
            "created_at) VALUES (%s, %s, 1, 1, now())",
            values,
        )
    assert "does not exist" in str(refused.value)


def test_ledger_accounts_cannot_be_deleted_or_renumbered_by_sql(entry):
    client_bucket = LedgerAccount.objects.filter(owner__isnull=False).get()
    for sql in (
        "DELETE FROM ledger_ledgeraccount WHERE id = %s",
        "UPDATE ledger_ledgeraccount SET id = id + 1000000 WHERE id = %s",
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as c:
            c.execute(sql, [client_bucket.pk])
    assert LedgerAccount.objects.filter(pk=client_bucket.pk).exists()


def test_the_admin_shows_the_books_read_only(entry, admin_browser):
    staff = StaffFactory(role="broker_operations")
    browser = admin_browser(staff)
    page = browser.get(f"/admin/ledger/journalentry/{entry.pk}/change/")
    assert page.status_code == 200
    assert b"Save" not in page.content  # view-only
    assert entry.hash.encode() in page.content
    assert browser.post(f"/admin/ledger/journalentry/{entry.pk}/delete/").status_code == 403
    assert browser.get("/admin/ledger/journalentry/add/").status_code == 403
    client_bucket = LedgerAccount.objects.filter(owner__isnull=False).get()
    assert browser.get(f"/admin/ledger/ledgeraccount/{client_bucket.pk}/change/").status_code == 200
    assert browser.get("/admin/ledger/posting/").status_code == 200
    search = browser.get("/admin/ledger/journalentry/", {"q": entry.reference})
    assert entry.reference.encode() in search.content
    assert Posting.objects.filter(entry=entry).count() == 2
    settled = services.ledger_account_get(
        owner=client_bucket.owner, currency="USD", bucket=Bucket.SETTLED
    )
    assert settled.balance == Decimal("100")
