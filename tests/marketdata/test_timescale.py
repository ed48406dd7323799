"""The TimescaleDB path, as far as a PostgreSQL server without the extension can check it:
detection, every statement the setup issues (collected by django-timescaledb's schema editor,
not executed), and the continuous aggregates' SELECT and the TimescaleDB read path executed
against TimescaleDB's time_bucket/first/last emulated in a scratch schema, compared with the
roll-up of the plain path on the same ticks.

What this server cannot run (hypertable creation, compression, retention and refresh
policies, real continuous aggregates) is listed in docs/architecture.md."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.marketdata import services, storage
from tests.factories.marketdata import T0, trade

from .test_candles import KNOWN

pytestmark = pytest.mark.django_db

INTERVALS = ["1m", "5m", "15m", "1h", "1d"]


def test_this_server_has_no_timescaledb():
    state = storage.timescale_state()
    assert not state.installed and not state.available and not state.aggregates_present
    assert storage.storage_mode() == storage.POSTGRESQL


@pytest.mark.parametrize(
    ("setting", "installed", "aggregates", "mode"),
    [
        ("auto", None, False, storage.POSTGRESQL),
        ("auto", "2.17.2", False, storage.POSTGRESQL),  # extension, setup not run yet
        ("auto", "2.17.2", True, storage.TIMESCALEDB),
        ("require", "2.17.2", True, storage.TIMESCALEDB),
        ("off", "2.17.2", True, storage.POSTGRESQL),
    ],
)
def test_the_mode_follows_the_setting_and_what_the_database_has(
    setting, installed, aggregates, mode
):
    state = storage.TimescaleState(
        installed_version=installed, available_version=installed, aggregates_present=aggregates
    )
    assert storage.decide_mode(setting=setting, state=state) == mode


def test_require_refuses_a_database_without_the_extension(settings):
    settings.MARKETDATA_TIMESCALE = "require"
    with pytest.raises(RuntimeError, match="no TimescaleDB"):
        storage.timescale_enable()
    settings.MARKETDATA_TIMESCALE = "auto"
    assert not storage.timescale_enable().installed


def test_the_setup_statements(settings):
    settings.MARKETDATA_COMPRESS_AFTER_DAYS = 3
    settings.MARKETDATA_TICK_RETENTION_DAYS = 400
    settings.MARKETDATA_QUOTE_RETENTION_DAYS = 20
    settings.MARKETDATA_MINUTE_CANDLE_RETENTION_DAYS = 60
    sql = [" ".join(s.split()) for s in storage.timescale_setup(dry_run=True)]

    for table in ("marketdata_tradetick", "marketdata_quotetick"):
        create = sql.index(
            f"SELECT create_hypertable('{table}', 'time', chunk_time_interval => "
            "interval '1 day', migrate_data => true)"
        )
        # django-timescaledb checks first, then drops the surrogate key the hypertable can't keep.
        assert f"hypertable_name = '{table}'" in sql[create - 2]
        assert sql[create - 1] == f'ALTER TABLE "{table}" DROP CONSTRAINT "{table}_pkey"'
    assert (
        "ALTER TABLE marketdata_tradetick SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'instrument_id', "
        "timescaledb.compress_orderby = 'time DESC, trade_id')"
    ) in sql
    for table, kept in (("marketdata_tradetick", 400), ("marketdata_quotetick", 20)):
        assert (
            f"SELECT add_compression_policy('{table}', INTERVAL '3 days', if_not_exists => true)"
        ) in sql
        assert (
            f"SELECT add_retention_policy('{table}', INTERVAL '{kept} days', if_not_exists => true)"
        ) in sql
    for interval in INTERVALS:
        view = f"marketdata_candle_{interval}"
        create = next(
            s for s in sql if s.startswith(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} ")
        )
        assert "WITH (timescaledb.continuous, timescaledb.materialized_only = false)" in create
        assert create.endswith("WITH NO DATA")
        assert storage.cagg_select(interval) in create
        assert any(s.startswith(f"SELECT add_continuous_aggregate_policy('{view}'") for s in sql)
        retention = (
            f"SELECT add_retention_policy('{view}', INTERVAL '60 days', if_not_exists => true)"
        )
        assert (retention in sql) == (interval in ("1m", "5m"))


def test_the_setup_is_idempotent_about_hypertables():
    sql = storage.timescale_setup(
        dry_run=True, existing_hypertables={"marketdata_tradetick", "marketdata_quotetick"}
    )
    assert not [s for s in sql if "create_hypertable" in s or "DROP CONSTRAINT" in s]
    assert all(
        "IF NOT EXISTS" in s or "if_not_exists => true" in s or "ALTER TABLE" in s for s in sql
    )


EMULATION = """
CREATE SCHEMA tsdb_emulation;
CREATE FUNCTION tsdb_emulation.time_bucket(width interval, ts timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT date_bin(width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$;
CREATE TYPE tsdb_emulation.pair AS (value numeric, at timestamptz);
CREATE FUNCTION tsdb_emulation.first_step(state tsdb_emulation.pair, value numeric, at timestamptz)
    RETURNS tsdb_emulation.pair LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN state IS NULL OR at < (state).at
                THEN ROW(value, at)::tsdb_emulation.pair ELSE state END $$;
CREATE FUNCTION tsdb_emulation.last_step(state tsdb_emulation.pair, value numeric, at timestamptz)
    RETURNS tsdb_emulation.pair LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN state IS NULL OR at >= (state).at
                THEN ROW(value, at)::tsdb_emulation.pair ELSE state END $$;
CREATE FUNCTION tsdb_emulation.pair_value(state tsdb_emulation.pair) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS $$ SELECT (state).value $$;
CREATE AGGREGATE tsdb_emulation.first(numeric, timestamptz) (
    SFUNC = tsdb_emulation.first_step, STYPE = tsdb_emulation.pair,
    FINALFUNC = tsdb_emulation.pair_value);
CREATE AGGREGATE tsdb_emulation.last(numeric, timestamptz) (
    SFUNC = tsdb_emulation.last_step, STYPE = tsdb_emulation.pair,
    FINALFUNC = tsdb_emulation.pair_value);
"""


@pytest.fixture
def aggregates_as_views(instrument):
    """The continuous aggregates' SELECTs as plain views over TimescaleDB's functions,
    emulated (inside this test's transaction, rolled back after it)."""
    services.market_data_apply(
        instrument=instrument, trades=[trade(p, q, seconds=s) for p, q, s in KNOWN], book=None
    )
    with connection.cursor() as cursor:
        cursor.execute(EMULATION)
        cursor.execute("SET LOCAL search_path TO public, tsdb_emulation")
        for interval in INTERVALS:
            cursor.execute(
                f"CREATE VIEW {storage.cagg_name(interval)} AS {storage.cagg_select(interval)}"
            )
        cursor.execute("SET LOCAL search_path TO public")
    return instrument


@pytest.mark.parametrize("interval", INTERVALS)
def test_both_paths_give_the_same_candles_from_the_same_ticks(aggregates_as_views, interval):
    window = {"start": T0 - timedelta(days=1), "end": T0 + timedelta(days=1)}
    plain = storage.candles_fetch(
        instrument_id=aggregates_as_views.pk, interval=interval, mode=storage.POSTGRESQL, **window
    )
    timescale = storage.candles_fetch(
        instrument_id=aggregates_as_views.pk, interval=interval, mode=storage.TIMESCALEDB, **window
    )
    assert plain
    assert timescale == plain


def test_the_previous_close_reads_the_daily_aggregate_on_both_paths(aggregates_as_views):
    next_day = T0.replace(hour=0, minute=0) + timedelta(days=1)
    for mode in (storage.POSTGRESQL, storage.TIMESCALEDB):
        close = storage.daily_close_before(
            instrument_id=aggregates_as_views.pk, day_start=next_day, mode=mode
        )
        assert str(close) == "10.50000000"


def test_views_alone_do_not_switch_the_path(aggregates_as_views):
    state = storage.timescale_state()
    assert state.aggregates_present and not state.installed
    assert storage.storage_mode() == storage.POSTGRESQL


def test_the_storage_command(db):
    out = io.StringIO()
    call_command("marketdata_storage", stdout=out)
    assert "storage: postgresql" in out.getvalue()
    assert "timescaledb installed: no" in out.getvalue()
    out = io.StringIO()
    call_command("marketdata_storage", "--sql", stdout=out)
    assert "create_hypertable('marketdata_tradetick'" in out.getvalue()
    with pytest.raises(CommandError, match="no TimescaleDB"):
        call_command("marketdata_storage", "--setup", stdout=io.StringIO())
    with pytest.raises(CommandError, match="Not on TimescaleDB"):
        call_command("marketdata_storage", "--refresh", stdout=io.StringIO())
