"""House accounts for every currency the firm holds, the hash chain's head, and triggers that
refuse UPDATE and DELETE of journal entries and postings whatever the SQL (the books are
append-only; corrections are reversing entries)."""

from django.conf import settings
from django.db import migrations

HOUSE_ACCOUNTS = ["bank", "clearing", "fees", "custody", "suspense", "adjustments", "withholding"]
GENESIS_HASH = "0" * 64

APPEND_ONLY_SQL = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'The ledger is append-only: % on % is refused; post a reversing entry.',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER ledger_journalentry_append_only
    BEFORE UPDATE OR DELETE ON ledger_journalentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_append_only
    BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

DROP_APPEND_ONLY_SQL = """
DROP TRIGGER IF EXISTS ledger_posting_append_only ON ledger_posting;
DROP TRIGGER IF EXISTS ledger_journalentry_append_only ON ledger_journalentry;
DROP FUNCTION IF EXISTS ledger_refuse_change();
"""


def create_house_accounts(apps, schema_editor):
    LedgerAccount = apps.get_model("ledger", "LedgerAccount")
    ChainHead = apps.get_model("ledger", "ChainHead")
    for currency in settings.CURRENCIES:
        for house in HOUSE_ACCOUNTS:
            LedgerAccount.objects.get_or_create(
                owner=None, house=house, currency=currency, instrument=None, bucket="settled"
            )
    ChainHead.objects.get_or_create(pk=1, defaults={"last_sequence": 0, "last_hash": GENESIS_HASH})


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        migrations.RunPython(create_house_accounts, migrations.RunPython.noop),
        migrations.RunSQL(APPEND_ONLY_SQL, DROP_APPEND_ONLY_SQL),
    ]
