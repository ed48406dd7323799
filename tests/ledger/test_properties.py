"""Property test: any sequence of deposits, withdrawals (and their outcomes), adjustments and
reversals keeps every invariant of the books."""

from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.ledger.choices import Bucket, WithdrawalStatus
from apps.ledger.models import JournalEntry, LedgerAccount, Posting, Withdrawal
from tests.factories.ledger import bank_transaction_id, deposit, funded_account

pytestmark = pytest.mark.django_db

cents = st.integers(min_value=1, max_value=300_000).map(lambda c: Decimal(c).scaleb(-2))
signed_cents = st.one_of(cents, cents.map(lambda d: -d))
which_account = st.integers(min_value=0, max_value=1)
operation = st.one_of(
    st.tuples(st.just("deposit"), which_account, cents),
    st.tuples(st.just("withdraw"), which_account, cents),
    st.tuples(
        st.just("resolve"),
        st.integers(min_value=0, max_value=10),
        st.sampled_from(["complete", "fail", "reject", "cancel"]),
    ),
    st.tuples(st.just("adjust"), which_account, signed_cents),
    st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=40), st.none()),
)


def buckets(account) -> dict[str, Decimal]:
    rows = LedgerAccount.objects.filter(owner=account).values_list("bucket", "balance")
    found = dict(rows)
    return {b: found.get(b, Decimal("0")) for b in Bucket.values}


def effect(entry: JournalEntry, account) -> dict[str, Decimal]:
    """What an entry did to the account's buckets."""
    moved: dict[str, Decimal] = defaultdict(Decimal)
    for bucket, amount in Posting.objects.filter(
        entry=entry, ledger_account__owner=account
    ).values_list("ledger_account__bucket", "amount"):
        moved[bucket] += amount
    return moved


def approve(withdrawal, ops, ops2):
    withdrawal = services.withdrawal_approve(withdrawal=withdrawal, actor=ops, reason="prop")
    if withdrawal.status == WithdrawalStatus.REQUESTED:  # four-eyes: a second approver
        withdrawal = services.withdrawal_approve(withdrawal=withdrawal, actor=ops2, reason="prop")
    return withdrawal


def apply(op, accounts, ops, ops2, entries_before) -> tuple[int, dict[str, Decimal]] | None:
    """Run one operation; returns (account index, expected change per bucket)."""
    kind, a, b = op
    if kind == "deposit":
        deposit(accounts[a], b, bank_transaction_id=bank_transaction_id())
        return a, {Bucket.SETTLED: b}
    if kind == "withdraw":
        services.withdrawal_request(account=accounts[a], amount=b, actor=accounts[a].owner)
        return a, {Bucket.SETTLED: -b, Bucket.RESERVED: b}
    if kind == "adjust":
        adjustment = services.adjustment_request(
            account=accounts[a], amount=b, actor=ops, reason="property test"
        )
        services.adjustment_approve(adjustment=adjustment, actor=ops2)
        return a, {Bucket.SETTLED: b}
    if kind == "resolve":
        open_ones = list(
            Withdrawal.objects.filter(
                account__in=accounts, status=WithdrawalStatus.REQUESTED
            ).order_by("pk")
        )
        if not open_ones:
            return None
        withdrawal = open_ones[a % len(open_ones)]
        index = [x.pk for x in accounts].index(withdrawal.account_id)
        x = withdrawal.amount
        if b == "cancel":
            services.withdrawal_cancel(withdrawal=withdrawal, actor=withdrawal.account.owner)
        elif b == "reject":
            services.withdrawal_reject(withdrawal=withdrawal, actor=ops, reason="prop")
        elif b == "fail":
            services.withdrawal_fail(
                withdrawal=approve(withdrawal, ops, ops2), actor=ops, reason="prop"
            )
        else:
            services.withdrawal_complete(withdrawal=approve(withdrawal, ops, ops2), actor=ops)
            return index, {Bucket.RESERVED: -x}
        return index, {Bucket.RESERVED: -x, Bucket.SETTLED: x}
    # Reverse one of this example's deposits or adjustments not reversed yet (withdrawal
    # entries belong to their withdrawal's state machine).
    candidates = list(
        JournalEntry.objects.filter(
            pk__gt=entries_before, kind__in=["deposit", "adjustment"], reversed_by__isnull=True
        ).order_by("pk")
    )
    if not candidates:
        return None
    entry = candidates[a % len(candidates)]
    owners = [x for x in accounts if effect(entry, x)]
    services.journal_reverse(entry=entry, actor=ops, reason="property test")
    if not owners:
        return None
    return accounts.index(owners[0]), {k: -v for k, v in effect(entry, owners[0]).items()}


@pytest.fixture
def staff(staff_factory):
    return staff_factory("broker_operations"), staff_factory("broker_operations")


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=20))
def test_random_funding_keeps_every_invariant(staff, operations):
    from django.conf import settings as django_settings

    django_settings.WITHDRAWAL_DEFAULT_LIMITS = {"*": ("1500", "2500")}
    django_settings.WITHDRAWAL_FOUR_EYES_THRESHOLDS = {"*": "1000"}
    ops, ops2 = staff
    accounts = [funded_account("0"), funded_account("500.00")]
    entries_before = JournalEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    for op in operations:
        before = [buckets(a) for a in accounts]
        try:
            outcome = apply(op, accounts, ops, ops2, entries_before or 0)
        except ApplicationError as exc:
            assert exc.code in {"insufficient_funds", "limit_exceeded", "invalid_state"}, exc
            assert [buckets(a) for a in accounts] == before  # a refusal moves nothing
            continue
        after = [buckets(a) for a in accounts]
        if outcome is not None:
            index, change = outcome
            expected = {b: before[index][b] + change.get(b, Decimal("0")) for b in Bucket.values}
            assert after[index] == expected, (op, before[index], after[index])
        for state in after:
            assert all(value >= 0 for value in state.values())

    report = selectors.ledger_integrity()
    assert report.ok, report.problems
    totals = defaultdict(Decimal)
    for currency, balance in LedgerAccount.objects.values_list("currency", "balance"):
        totals[currency] += balance
    assert all(total == 0 for total in totals.values()), totals  # double entry, firm-wide
    for account in accounts:  # reserved cash is exactly what open withdrawals hold
        open_holds = sum(
            Withdrawal.objects.filter(
                account=account, status=WithdrawalStatus.REQUESTED
            ).values_list("amount", flat=True),
            Decimal("0"),
        )
        assert buckets(account)[Bucket.RESERVED] == open_holds
