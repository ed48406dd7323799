"""journal_post: balancing, units, overdrafts, idempotency, running balances, composition."""

import importlib
import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.ledger.choices import Bucket, HouseAccount
from apps.ledger.models import GENESIS_HASH, JournalEntry, LedgerAccount, Posting
from tests.factories.accounts import TradingAccountFactory
from tests.factories.ledger import house, instrument, ledger_balance

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def account():
    return TradingAccountFactory()


@pytest.fixture
def settled(account):
    return services.ledger_account_get(owner=account, currency="USD", bucket=Bucket.SETTLED)


@pytest.fixture
def reserved(account):
    return services.ledger_account_get(owner=account, currency="USD", bucket=Bucket.RESERVED)


def credit(ledger_account, amount, **kwargs):
    return services.journal_post(
        kind="deposit",
        postings=[(ledger_account, D(amount)), (house(), -D(amount))],
        **kwargs,
    )


def test_a_balanced_entry_moves_both_sides(settled):
    entry = credit(settled, "250.00", memo="first", reference="R-1", idempotency_key="k-0")
    stored = JournalEntry.objects.get(pk=entry.pk)
    fields = [f.attname for f in JournalEntry._meta.concrete_fields]
    assert [getattr(entry, f) for f in fields] == [getattr(stored, f) for f in fields]
    assert ledger_balance(settled) == D("250")
    assert ledger_balance(house()) == D("-250")
    lines = sorted(entry.postings.values_list("amount", flat=True))
    assert lines == [D("-250"), D("250")]
    assert entry.sequence >= 1 and len(entry.hash) == 64
    assert JournalEntry.objects.get(pk=entry.pk).hash == entry.hash


@pytest.mark.parametrize(
    "amounts",
    [
        ("100.00", "-99.99"),  # off by a cent
        ("100.00", "100.00"),  # same sign
    ],
)
def test_unbalanced_entries_are_refused(settled, amounts):
    with pytest.raises(ApplicationError) as refused:
        services.journal_post(
            kind="deposit", postings=[(settled, D(amounts[0])), (house(), D(amounts[1]))]
        )
    assert refused.value.code == "invalid"
    assert "sum to zero" in refused.value.message
    assert not Posting.objects.exists()
    assert ledger_balance(settled) == 0


def test_balance_is_per_asset(account, settled):
    euros = services.ledger_account_get(owner=account, currency="EUR", bucket=Bucket.SETTLED)
    # 100 USD in and 100 EUR out sum to zero numerically, but not per currency.
    with pytest.raises(ApplicationError) as refused:
        services.journal_post(
            kind="transfer",
            postings=[
                (settled, D("100")),
                (house(currency="EUR"), D("-100")),
            ],
        )
    assert refused.value.code == "invalid"
    assert set(refused.value.details) >= {"USD", "EUR"}
    # Two currencies, each balanced, in one entry: fine.
    services.journal_post(
        kind="transfer",
        postings=[
            (settled, D("100")),
            (house(), D("-100")),
            (euros, D("90")),
            (house(currency="EUR"), D("-90")),
        ],
    )
    assert ledger_balance(euros) == D("90")


def test_one_posting_zero_amounts_and_floats_are_refused(settled):
    for postings in (
        [(settled, D("1"))],
        [(settled, D("0")), (house(), D("0"))],
        [(settled, 1.5), (house(), -1.5)],
    ):
        with pytest.raises(ApplicationError) as refused:
            services.journal_post(kind="deposit", postings=postings)
        assert refused.value.code == "invalid"


def test_cash_is_in_minor_units_and_quantities_in_eight_places(account, settled):
    with pytest.raises(ApplicationError):
        credit(settled, "10.001")
    yen = services.ledger_account_get(owner=account, currency="JPY", bucket=Bucket.SETTLED)
    with pytest.raises(ApplicationError):
        services.journal_post(
            kind="deposit", postings=[(yen, D("100.5")), (house(currency="JPY"), D("-100.5"))]
        )
    gold = instrument("XAUG", name="Gold gram", asset_class="commodity", lot_size=D("0.001"))
    holding = services.ledger_account_get(owner=account, instrument=gold, bucket=Bucket.SETTLED)
    custody = services.ledger_account_get(
        house=HouseAccount.CUSTODY, instrument=gold, bucket=Bucket.SETTLED
    )
    services.journal_post(
        kind="transfer", postings=[(holding, D("0.00100001")), (custody, D("-0.00100001"))]
    )
    balances = selectors.security_balances(account=account, instrument=gold)
    assert balances.settled == D("0.00100001")
    with pytest.raises(ApplicationError):
        services.journal_post(
            kind="transfer", postings=[(holding, D("0.000000001")), (custody, D("-0.000000001"))]
        )


def test_client_buckets_refuse_an_overdraft_house_accounts_may_go_negative(settled, reserved):
    credit(settled, "100.00")
    with pytest.raises(ApplicationError) as refused:
        services.journal_post(
            kind="withdrawal_hold", postings=[(settled, D("-100.01")), (reserved, D("100.01"))]
        )
    assert refused.value.code == "insufficient_funds"
    assert refused.value.details["available"] == "100.00"
    assert refused.value.details["needed"] == "100.01"
    assert ledger_balance(settled) == D("100")
    assert ledger_balance(house()) == D("-100")  # house bank: minus the client cash held


def test_securities_overdraft_is_insufficient_position(account):
    share = instrument("ACME")
    holding = services.ledger_account_get(owner=account, instrument=share, bucket=Bucket.SETTLED)
    custody = services.ledger_account_get(
        house=HouseAccount.CUSTODY, instrument=share, bucket=Bucket.SETTLED
    )
    with pytest.raises(ApplicationError) as refused:
        services.journal_post(kind="transfer", postings=[(holding, D("-1")), (custody, D("1"))])
    assert refused.value.code == "insufficient_position"


def test_the_same_idempotency_key_returns_the_first_entry_and_moves_nothing(settled):
    first = credit(settled, "40.00", idempotency_key="bank:1")
    again = credit(settled, "40.00", idempotency_key="bank:1")
    assert again.pk == first.pk
    assert ledger_balance(settled) == D("40")
    assert JournalEntry.objects.count() == 1


def test_a_key_reused_for_a_different_entry_is_a_conflict(settled):
    credit(settled, "40.00", idempotency_key="bank:2")
    with pytest.raises(ApplicationError) as refused:
        credit(settled, "41.00", idempotency_key="bank:2")
    assert refused.value.code == "idempotency_conflict"
    assert ledger_balance(settled) == D("40")


def test_running_balances_and_the_hash_chain(settled, reserved):
    credit(settled, "100.00")
    services.journal_post(
        kind="withdrawal_hold", postings=[(settled, D("-30")), (reserved, D("30"))]
    )
    credit(settled, "5.00")
    lines = list(
        Posting.objects.filter(ledger_account=settled)
        .order_by("id")
        .values_list("amount", "balance_after")
    )
    assert lines == [(D("100"), D("100")), (D("-30"), D("70")), (D("5"), D("75"))]
    entries = list(JournalEntry.objects.order_by("sequence"))
    assert [e.sequence for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[1].prev_hash == entries[0].hash
    assert entries[2].prev_hash == entries[1].hash
    assert selectors.ledger_integrity().ok


def test_composes_inside_a_callers_transaction(settled, reserved):
    credit(settled, "10.00")
    with transaction.atomic():
        credit(settled, "5.00")
        with pytest.raises(ApplicationError):  # refused inside: the caller's work goes on
            services.journal_post(
                kind="withdrawal_hold", postings=[(settled, D("-100")), (reserved, D("100"))]
            )
        credit(settled, "1.00")
    assert ledger_balance(settled) == D("16")

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        credit(settled, "50.00")
        raise Abort  # the caller's rollback takes the entry with it
    assert ledger_balance(settled) == D("16")
    assert selectors.ledger_integrity().ok


def test_ledger_account_get_validates_and_returns_one_row(account):
    first = services.ledger_account_get(owner=account, currency="usd", bucket=Bucket.RESERVED)
    again = services.ledger_account_get(owner=account, currency="USD", bucket=Bucket.RESERVED)
    assert first.pk == again.pk and first.currency == "USD"
    bad = [
        {"currency": "USD", "bucket": Bucket.SETTLED},  # no owner, no house
        {"owner": account, "house": HouseAccount.BANK, "currency": "USD", "bucket": "settled"},
        {"owner": account, "bucket": Bucket.SETTLED},  # no asset
        {"owner": account, "currency": "XXX", "bucket": Bucket.SETTLED},
        {"owner": account, "currency": "USD", "bucket": "spare"},
        {"house": "treasury", "currency": "USD", "bucket": Bucket.SETTLED},
    ]
    for kwargs in bad:
        with pytest.raises(ApplicationError):
            services.ledger_account_get(**kwargs)


def test_the_migration_creates_house_accounts_for_every_currency(settings):
    from django.apps import apps

    migration = importlib.import_module(
        "apps.ledger.migrations.0002_house_accounts_and_append_only"
    )
    migration.create_house_accounts(apps, None)
    count = LedgerAccount.objects.count()
    migration.create_house_accounts(apps, None)  # idempotent
    assert LedgerAccount.objects.count() == count
    for currency in settings.CURRENCIES:
        for kind in HouseAccount.values:
            assert LedgerAccount.objects.filter(
                owner=None, house=kind, currency=currency, bucket=Bucket.SETTLED
            ).exists()


@pytest.mark.django_db(transaction=True)
def test_ledger_account_get_is_safe_under_concurrency():
    account = TradingAccountFactory()
    results, errors = [], []
    barrier = threading.Barrier(8)

    def get() -> None:
        try:
            barrier.wait()
            row = services.ledger_account_get(
                owner=account, currency="GBP", bucket=Bucket.UNSETTLED
            )
            results.append(row.pk)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1
    assert LedgerAccount.objects.filter(owner=account, currency="GBP").count() == 1


@pytest.mark.parametrize(
    "memo",
    ['He said "hi", {ok}', "back\\slash\\", "NULL", "", "ünïcødé €", "line\nbreak", "a,b}{"],
)
def test_memos_and_references_are_stored_exactly(settled, memo):
    entry = credit(settled, "1.00", memo=memo, reference=memo[:128], idempotency_key=memo or None)
    stored = JournalEntry.objects.get(pk=entry.pk)
    assert (stored.memo, stored.reference, stored.idempotency_key) == (memo, memo, memo or None)
    assert selectors.ledger_integrity().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_posters_share_house_accounts_and_the_chain_consistently():
    buckets = [
        services.ledger_account_get(
            owner=TradingAccountFactory(), currency="USD", bucket=Bucket.SETTLED
        )
        for _ in range(8)
    ]
    errors = []
    barrier = threading.Barrier(len(buckets))

    def post(bucket) -> None:
        try:
            barrier.wait()
            for _ in range(15):
                services.journal_post(
                    kind="deposit",
                    postings=[
                        (bucket, D("2.00")),
                        (house(), D("-1.50")),
                        (house(HouseAccount.FEES), D("-0.50")),
                    ],
                )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(b,)) for b in buckets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert ledger_balance(house()) == D("-180")
    assert ledger_balance(house(HouseAccount.FEES)) == D("-60")
    assert sorted(JournalEntry.objects.values_list("sequence", flat=True)) == list(range(1, 121))
    report = selectors.ledger_integrity()  # running balances, times and the chain included
    assert report.ok, report.problems


@pytest.mark.django_db(transaction=True)
def test_credits_debits_and_transfers_race_without_deadlock():
    first, second = TradingAccountFactory(), TradingAccountFactory()
    a, b = (
        services.ledger_account_get(owner=acct, currency="USD", bucket=Bucket.SETTLED)
        for acct in (first, second)
    )
    for bucket in (a, b):
        credit(bucket, "1000.00")
    errors = []
    barrier = threading.Barrier(6)

    def deposits(bucket) -> None:  # credits only: the client row is locked inside the write
        for _ in range(20):
            credit(bucket, "1.00")

    def transfers(source, target) -> None:  # debits: client rows locked first, by id
        for _ in range(20):
            services.journal_post(kind="transfer", postings=[(source, D("-2")), (target, D("2"))])

    def run(work, *args) -> None:
        try:
            barrier.wait()
            work(*args)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    jobs = [
        (deposits, a),
        (deposits, b),
        (transfers, a, b),
        (transfers, b, a),
        (transfers, a, b),
        (deposits, a),
    ]
    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    # a: 1000 + 2 x 20 deposits - 2 x 20 x 2 sent + 20 x 2 received; b the other way round.
    assert (ledger_balance(a), ledger_balance(b)) == (D("1000"), D("1060"))
    report = selectors.ledger_integrity()
    assert report.ok, report.problems
