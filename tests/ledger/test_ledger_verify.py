"""ledger_verify: clean books pass; a tampered amount, balance or link is found and named."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from apps.core.errors import ApplicationError
from apps.ledger import selectors, services
from apps.ledger.choices import ReconciliationTrigger
from apps.ledger.models import JournalEntry, LedgerAccount, Posting, ReconciliationRun
from apps.ledger.tasks import ledger_verify as ledger_verify_task
from scripts.embedded_db import database_url
from tests.factories.accounts import StaffFactory
from tests.factories.ledger import funded_account

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def tamper(sql: str, params: list) -> None:
    """Change the books as someone bypassing the application would: the append-only triggers
    are skipped the way a database superuser could (session_replication_role)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)


@pytest.fixture
def books():
    for amount in ("100.00", "250.00", "75.50"):
        funded_account(amount)
    return list(JournalEntry.objects.order_by("sequence"))


def checks(report) -> set[str]:
    return {problem["check"] for problem in report.problems}


def test_clean_books_pass(books):
    report = selectors.ledger_integrity()
    assert report.ok, report.problems
    assert report.entries == 3 and report.postings == 6


def test_a_tampered_amount_is_found(books):
    posting = Posting.objects.filter(entry=books[1], amount__gt=0).get()
    tamper("UPDATE ledger_posting SET amount = 2500 WHERE id = %s", [posting.pk])
    report = selectors.ledger_integrity()
    assert not report.ok
    assert {"entry_hash", "unbalanced_entry", "cached_balance", "running_balance"} <= checks(report)
    hashed = [p for p in report.problems if p["check"] == "entry_hash"]
    assert hashed == [{"check": "entry_hash", "entry": books[1].pk, "sequence": books[1].sequence}]


def test_a_consistent_forgery_still_breaks_the_hash(books):
    # Both sides, running and cached balances changed together: only the hash can tell.
    entry = books[-1]  # the last entry: no later running balance to give it away
    for posting in Posting.objects.filter(entry=entry):
        tamper(
            "UPDATE ledger_posting SET amount = amount * 2, balance_after = balance_after + amount"
            " WHERE id = %s",
            [posting.pk],
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE ledger_ledgeraccount SET balance = balance + %s WHERE id = %s",
                [posting.amount, posting.ledger_account_id],
            )
    report = selectors.ledger_integrity()
    assert checks(report) == {"entry_hash"}


def test_a_broken_chain_is_found(books):
    tamper("UPDATE ledger_journalentry SET prev_hash = %s WHERE id = %s", ["f" * 64, books[2].pk])
    report = selectors.ledger_integrity()
    assert {"chain_link", "entry_hash"} <= checks(report)


def test_a_removed_entry_breaks_the_chain(books):
    tamper("DELETE FROM ledger_posting WHERE entry_id = %s", [books[1].pk])
    tamper("DELETE FROM ledger_journalentry WHERE id = %s", [books[1].pk])
    assert {"chain_gap", "chain_link", "cached_balance"} <= checks(selectors.ledger_integrity())


def test_a_posting_whose_entry_was_removed_is_found(books):
    tamper("DELETE FROM ledger_journalentry WHERE id = %s", [books[0].pk])
    report = selectors.ledger_integrity()
    assert {"orphan_posting", "chain_link", "chain_gap"} <= checks(report)


def test_a_tampered_cached_balance_is_found(books):
    account = LedgerAccount.objects.filter(owner__isnull=False).first()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_ledgeraccount SET balance = balance + 1 WHERE id = %s", [account.pk]
        )
    report = selectors.ledger_integrity()
    assert checks(report) == {"cached_balance"}
    assert report.problems[0]["ledger_account"] == account.pk


def test_the_command_prints_and_exits_non_zero_on_a_break(books):
    out = StringIO()
    call_command("ledger_verify", stdout=out)
    assert "OK" in out.getvalue()
    posting = Posting.objects.filter(entry=books[0]).first()
    tamper("UPDATE ledger_posting SET amount = amount + 1 WHERE id = %s", [posting.pk])
    out = StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("ledger_verify", stdout=out)
    assert "problem" in str(failed.value)
    assert "entry_hash" in out.getvalue()
    runs = list(ReconciliationRun.objects.order_by("started_at"))
    assert [r.ok for r in runs] == [True, False]
    assert runs[-1].trigger == ReconciliationTrigger.COMMAND


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_command_exit_status_as_operations_run_it():
    funded_account("10.00")
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": database_url(
            name=db["NAME"], host=db["HOST"], port=db["PORT"], user=db["USER"],
            password=db["PASSWORD"],
        ),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }  # fmt: skip
    command = [sys.executable, "manage.py", "ledger_verify"]
    clean = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert "OK" in clean.stdout
    tamper("UPDATE ledger_posting SET amount = amount + 1 WHERE amount > 0", [])
    broken = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert "entry_hash" in broken.stdout


def test_the_daily_job_records_the_result_for_staff(books, admin_browser):
    assert ledger_verify_task.apply().get() is True
    run = ReconciliationRun.objects.get()
    assert run.trigger == ReconciliationTrigger.SCHEDULE and run.ok
    assert run.entries_checked == 3
    staff = StaffFactory(role="compliance")
    browser = admin_browser(staff)
    listing = browser.get("/admin/ledger/reconciliationrun/")
    assert listing.status_code == 200 and b"Run the check now" in listing.content
    ran = browser.post("/admin/ledger/reconciliationrun/run/", {"reason": "Month-end review"})
    assert ran.status_code == 302
    latest = ReconciliationRun.objects.order_by("-started_at").first()
    assert latest.trigger == ReconciliationTrigger.STAFF
    assert latest.requested_by == staff and latest.reason == "Month-end review"
    detail = browser.get(f"/admin/ledger/reconciliationrun/{latest.pk}/change/")
    assert detail.status_code == 200


def test_support_cannot_run_the_check(books):
    staff = StaffFactory(role="support")
    with pytest.raises(ApplicationError) as refused:
        services.ledger_verify(trigger=ReconciliationTrigger.STAFF, actor=staff, reason="look")
    assert refused.value.code == "permission_denied"
    assert not ReconciliationRun.objects.exists()
