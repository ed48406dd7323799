"""House accounts for every currency the firm holds; the hash chain's head and the function
that appends to it (apps.ledger.chain); triggers that refuse UPDATE and DELETE of journal
entries and postings whatever the SQL (the books are append-only; corrections are reversing
entries); the postings' references to their entry and ledger account, checked once per
insert statement, and ledger accounts that can't be deleted or renumbered."""

from django.conf import settings
from django.db import migrations

HOUSE_ACCOUNTS = ["bank", "clearing", "fees", "custody", "suspense", "adjustments", "withholding"]
GENESIS_HASH = "0" * 64

APPEND_ONLY_SQL = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'The ledger is append-only: % on % is refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation',
              HINT = 'Corrections are reversing entries (journal_reverse) or adjustments.';
END
$$;
CREATE TRIGGER ledger_journalentry_append_only
    BEFORE UPDATE OR DELETE ON ledger_journalentry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_posting_append_only
    BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

CHAIN_SQL = """
CREATE FUNCTION ledger_chain_append(digests text[], late_accounts bigint[])
RETURNS TABLE(entry_position bigint, entry_id bigint, entry_sequence bigint,
              entry_prev_hash varchar, entry_hash varchar, entry_created_at timestamptz,
              late_ids bigint[], late_balances numeric[])
LANGUAGE plpgsql AS $$
DECLARE
    head_sequence bigint;
    head_hash varchar;
    digest text;
    micros text;
BEGIN
    -- The ledger accounts the caller did not lock itself (house accounts, and client accounts
    -- that are only credited), in the fixed order (client accounts, then house accounts, each
    -- by id), then the chain's head, are locked here, inside the statement that writes the
    -- entries, until commit: the busiest rows are held the shortest time, and entries join
    -- the chain in commit order. Their balances are read under the lock.
    SELECT coalesce(array_agg(l.id ORDER BY l.is_house, l.id), '{}'),
           coalesce(array_agg(l.balance ORDER BY l.is_house, l.id), '{}')
        INTO late_ids, late_balances
        FROM (SELECT a.id, a.balance, a.owner_id IS NULL AS is_house
              FROM ledger_ledgeraccount a WHERE a.id = ANY(late_accounts)
              ORDER BY (a.owner_id IS NULL), a.id FOR UPDATE) l;
    SELECT h.last_sequence, h.last_hash INTO head_sequence, head_hash
        FROM ledger_chainhead h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO ledger_chainhead (id, last_sequence, last_hash, updated_at)
            VALUES (1, 0, repeat('0', 64), now()) ON CONFLICT (id) DO NOTHING;
        SELECT h.last_sequence, h.last_hash INTO head_sequence, head_hash
            FROM ledger_chainhead h WHERE h.id = 1 FOR UPDATE;
    END IF;
    -- One clock, read under the locks: per ledger account, later postings get later times.
    entry_created_at := clock_timestamp();
    micros := ((extract(epoch FROM entry_created_at) * 1000000)::bigint)::text;
    entry_position := 0;
    FOREACH digest IN ARRAY digests LOOP
        entry_position := entry_position + 1;
        entry_id := nextval('ledger_journalentry_id_seq'::regclass);
        head_sequence := head_sequence + 1;
        entry_sequence := head_sequence;
        entry_prev_hash := head_hash;
        entry_hash := encode(
            sha256(convert_to(
                head_hash || ':' || head_sequence::text || ':' || micros || ':' || digest, 'UTF8'
            )),
            'hex'
        );
        head_hash := entry_hash;
        RETURN NEXT;
    END LOOP;
    UPDATE ledger_chainhead
        SET last_sequence = head_sequence, last_hash = head_hash, updated_at = entry_created_at
        WHERE id = 1;
END
$$;
"""

DROP_CHAIN_SQL = "DROP FUNCTION IF EXISTS ledger_chain_append(text[], bigint[]);"

REFERENCES_SQL = """
CREATE FUNCTION ledger_postings_reference_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT x.id INTO missing FROM (SELECT DISTINCT entry_id AS id FROM new_postings) x
        WHERE NOT EXISTS (SELECT 1 FROM ledger_journalentry e WHERE e.id = x.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'A posting names journal entry %, which does not exist.', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT x.id INTO missing FROM (SELECT DISTINCT ledger_account_id AS id FROM new_postings) x
        WHERE NOT EXISTS (SELECT 1 FROM ledger_ledgeraccount a WHERE a.id = x.id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'A posting names ledger account %, which does not exist.', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_posting_references
    AFTER INSERT ON ledger_posting REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_postings_reference_check();
CREATE TRIGGER ledger_ledgeraccount_kept
    BEFORE DELETE OR UPDATE OF id ON ledger_ledgeraccount
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
"""

DROP_REFERENCES_SQL = """
DROP TRIGGER IF EXISTS ledger_ledgeraccount_kept ON ledger_ledgeraccount;
DROP TRIGGER IF EXISTS ledger_posting_references ON ledger_posting;
DROP FUNCTION IF EXISTS ledger_postings_reference_check();
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
        migrations.RunSQL(CHAIN_SQL, DROP_CHAIN_SQL),
        migrations.RunSQL(APPEND_ONLY_SQL, DROP_APPEND_ONLY_SQL),
        migrations.RunSQL(REFERENCES_SQL, DROP_REFERENCES_SQL),
    ]
