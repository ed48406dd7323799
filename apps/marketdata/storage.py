"""Time-series storage on two paths behind one interface.

* **TimescaleDB** (the extension is installed in the database, as in docker compose):
  ``marketdata_tradetick`` and ``marketdata_quotetick`` become hypertables (created with
  django-timescaledb's schema editor), compressed after ``MARKETDATA_COMPRESS_AFTER_DAYS``
  and dropped after their retention; candles are continuous aggregates, one view per interval
  (``marketdata_candle_1m`` ...), refreshed by policies and read in real time.
* **Plain PostgreSQL**: the same tables, and candles in the ``marketdata_candle`` roll-up
  table, rebuilt with ``date_bin`` for the buckets each batch touches; retention is the
  ``ticks_purge`` task.

:func:`storage_mode` says which path the database is on (decided once per process and
database); :func:`timescale_setup` moves the tables onto TimescaleDB, issued by the
migration and by ``manage.py marketdata_storage --setup`` only when the extension exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from apps.marketdata.choices import CandleInterval
from apps.marketdata.feed import TradePrint

logger = logging.getLogger("bourse.marketdata.storage")

TIMESCALEDB = "timescaledb"
POSTGRESQL = "postgresql"

TICK_TABLE = "marketdata_tradetick"
QUOTE_TABLE = "marketdata_quotetick"
CANDLE_TABLE = "marketdata_candle"
# time_bucket's default origin for sub-month widths; date_bin uses the same one, so both paths
# cut identical buckets (every interval here divides a day, so days start at 00:00 UTC).
ORIGIN = "2000-01-03 00:00:00+00"

INTERVALS: dict[str, timedelta] = {
    CandleInterval.ONE_MINUTE: timedelta(minutes=1),
    CandleInterval.FIVE_MINUTES: timedelta(minutes=5),
    CandleInterval.FIFTEEN_MINUTES: timedelta(minutes=15),
    CandleInterval.ONE_HOUR: timedelta(hours=1),
    CandleInterval.ONE_DAY: timedelta(days=1),
}
SQL_INTERVAL = {
    CandleInterval.ONE_MINUTE: "1 minute",
    CandleInterval.FIVE_MINUTES: "5 minutes",
    CandleInterval.FIFTEEN_MINUTES: "15 minutes",
    CandleInterval.ONE_HOUR: "1 hour",
    CandleInterval.ONE_DAY: "1 day",
}
# Each roll-up level is built from the level before it (1m from the ticks).
ROLLUP_CHAIN = [
    (CandleInterval.FIVE_MINUTES, CandleInterval.ONE_MINUTE),
    (CandleInterval.FIFTEEN_MINUTES, CandleInterval.FIVE_MINUTES),
    (CandleInterval.ONE_HOUR, CandleInterval.FIFTEEN_MINUTES),
    (CandleInterval.ONE_DAY, CandleInterval.ONE_HOUR),
]
# Continuous aggregate refresh windows: (start_offset, end_offset, schedule_interval).
CAGG_POLICY = {
    CandleInterval.ONE_MINUTE: ("2 hours", "1 minute", "1 minute"),
    CandleInterval.FIVE_MINUTES: ("6 hours", "5 minutes", "5 minutes"),
    CandleInterval.FIFTEEN_MINUTES: ("1 day", "15 minutes", "15 minutes"),
    CandleInterval.ONE_HOUR: ("3 days", "1 hour", "1 hour"),
    CandleInterval.ONE_DAY: ("7 days", "1 day", "1 hour"),
}
MINUTE_INTERVALS = (CandleInterval.ONE_MINUTE, CandleInterval.FIVE_MINUTES)


def cagg_name(interval: str) -> str:
    """The continuous aggregate (view) holding ``interval`` candles on TimescaleDB."""
    return f"marketdata_candle_{CandleInterval(interval).value}"


def bucket_start(instant: datetime, interval: str) -> datetime:
    """The start of the bucket holding ``instant`` (what date_bin and time_bucket compute)."""
    width = INTERVALS[interval]
    origin = datetime.fromisoformat(ORIGIN)
    return instant - ((instant - origin) % width)


# --- Detection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimescaleState:
    installed_version: str | None
    available_version: str | None
    aggregates_present: bool

    @property
    def installed(self) -> bool:
        return self.installed_version is not None

    @property
    def available(self) -> bool:
        return self.available_version is not None


def timescale_state(connection: BaseDatabaseWrapper | None = None) -> TimescaleState:
    """What the database offers: the extension installed here, available to install, and
    whether our continuous aggregates exist."""
    connection = connection or connections["default"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
        installed = cursor.fetchone()
        cursor.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
        )
        available = cursor.fetchone()
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [cagg_name(CandleInterval.ONE_DAY)])
        (aggregates,) = cursor.fetchone()
    return TimescaleState(
        installed_version=installed[0] if installed else None,
        available_version=available[0] if available else None,
        aggregates_present=bool(aggregates),
    )


def decide_mode(*, setting: str, state: TimescaleState) -> str:
    """The storage path for a database in ``state`` under ``MARKETDATA_TIMESCALE``.

    ``off``: plain PostgreSQL whatever the database offers. ``auto`` and ``require``:
    TimescaleDB once the extension is installed and our aggregates exist (the setup ran).
    """
    if setting == "off":
        return POSTGRESQL
    return TIMESCALEDB if state.installed and state.aggregates_present else POSTGRESQL


_modes: dict[tuple[str, str], str] = {}


def storage_mode(using: str = "default") -> str:
    """``"timescaledb"`` or ``"postgresql"`` for the database ``using`` points at.

    Decided once per process and database name; :func:`reset_storage_mode` forgets it (after
    ``marketdata_storage --setup``, and in tests).
    """
    connection = connections[using]
    cache_key = (using, str(connection.settings_dict.get("NAME")))
    mode = _modes.get(cache_key)
    if mode is None:
        state = timescale_state(connection)
        mode = decide_mode(setting=settings.MARKETDATA_TIMESCALE, state=state)
        _modes[cache_key] = mode
    return mode


def reset_storage_mode() -> None:
    _modes.clear()


# --- The TimescaleDB path -------------------------------------------------------------------


def _hypertable_statements() -> list[str]:
    compress_after = settings.MARKETDATA_COMPRESS_AFTER_DAYS
    ticks_kept = settings.MARKETDATA_TICK_RETENTION_DAYS
    quotes_kept = settings.MARKETDATA_QUOTE_RETENTION_DAYS
    return [
        # Unique indexes must be covered by segmentby/orderby for compression to keep them.
        f"ALTER TABLE {TICK_TABLE} SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'instrument_id', "
        "timescaledb.compress_orderby = 'time DESC, trade_id')",
        f"SELECT add_compression_policy('{TICK_TABLE}', INTERVAL '{compress_after} days', "
        "if_not_exists => true)",
        f"SELECT add_retention_policy('{TICK_TABLE}', INTERVAL '{ticks_kept} days', "
        "if_not_exists => true)",
        f"ALTER TABLE {QUOTE_TABLE} SET (timescaledb.compress, "
        "timescaledb.compress_segmentby = 'instrument_id', "
        "timescaledb.compress_orderby = 'time DESC')",
        f"SELECT add_compression_policy('{QUOTE_TABLE}', INTERVAL '{compress_after} days', "
        "if_not_exists => true)",
        f"SELECT add_retention_policy('{QUOTE_TABLE}', INTERVAL '{quotes_kept} days', "
        "if_not_exists => true)",
    ]


def cagg_select(interval: str) -> str:
    """The SELECT of the continuous aggregate for ``interval`` (OHLCV from the ticks)."""
    return (
        "SELECT instrument_id, "  # noqa: S608 - constants only
        f"time_bucket(INTERVAL '{SQL_INTERVAL[interval]}', time) AS bucket, "
        'first(price, time) AS "open", max(price) AS high, min(price) AS low, '
        'last(price, time) AS "close", sum(quantity) AS volume, count(*) AS trade_count '
        f"FROM {TICK_TABLE} GROUP BY instrument_id, bucket"
    )


def _aggregate_statements(interval: str) -> list[str]:
    name = cagg_name(interval)
    start, end, every = CAGG_POLICY[interval]
    statements = [
        # Real-time: buckets past the last refresh are computed from the ticks on read.
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {name} "
        "WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS "
        f"{cagg_select(interval)} WITH NO DATA",
        f"CREATE INDEX IF NOT EXISTS {name}_instrument_bucket ON {name} (instrument_id, bucket)",
        f"SELECT add_continuous_aggregate_policy('{name}', start_offset => INTERVAL '{start}', "
        f"end_offset => INTERVAL '{end}', schedule_interval => INTERVAL '{every}', "
        "if_not_exists => true)",
    ]
    if interval in MINUTE_INTERVALS:
        kept = settings.MARKETDATA_MINUTE_CANDLE_RETENTION_DAYS
        statements.append(
            f"SELECT add_retention_policy('{name}', INTERVAL '{kept} days', if_not_exists => true)"
        )
    return statements


def _is_hypertable(connection: BaseDatabaseWrapper, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = %s",
            [table],
        )
        return cursor.fetchone() is not None


def _recording_editor(connection: BaseDatabaseWrapper, *, dry_run: bool) -> Any:
    """django-timescaledb's schema editor, recording each statement (and, unless
    ``dry_run``, executing it)."""
    from timescale.db.backends.postgresql.schema import TimescaleSchemaEditor

    class RecordingEditor(TimescaleSchemaEditor):
        def __init__(self) -> None:
            super().__init__(connection, collect_sql=False, atomic=False)
            self.statements: list[str] = []

        def execute(self, sql: Any, params: Any = ()) -> None:
            text = str(sql) % tuple(map(self.quote_value, params)) if params else str(sql)
            self.statements.append(text)
            if not dry_run:
                super().execute(sql, params)

    return RecordingEditor()


def timescale_setup(
    connection: BaseDatabaseWrapper | None = None,
    *,
    dry_run: bool = False,
    existing_hypertables: Iterable[str] | None = None,
    models: Sequence[Any] | None = None,
) -> list[str]:
    """Move market data onto TimescaleDB: hypertables (keeping their rows), compression,
    retention, continuous aggregates and their refresh policies. Idempotent.

    Returns the statements issued. With ``dry_run`` nothing is executed, and
    ``existing_hypertables`` (default: none) stands in for the catalogue lookup. ``models``
    are the tick models (a migration passes its historical ones).
    """
    if models is None:
        from apps.marketdata.models import QuoteTick, TradeTick

        models = (TradeTick, QuoteTick)
    connection = connection or connections["default"]
    editor = _recording_editor(connection, dry_run=dry_run)
    for model in models:
        table = model._meta.db_table
        if dry_run:
            exists = table in set(existing_hypertables or ())
        else:
            exists = _is_hypertable(connection, table)
        if not exists:
            # django-timescaledb: assert it is not a hypertable yet, drop the surrogate primary
            # key (unique indexes must include the partition column), create_hypertable with
            # the rows already there.
            editor._create_hypertable(model, model._meta.get_field("time"), should_migrate=True)
    for sql in _hypertable_statements():
        editor.execute(sql)
    for interval in INTERVALS:
        for sql in _aggregate_statements(interval):
            editor.execute(sql)
    return editor.statements


def timescale_enable(connection: BaseDatabaseWrapper | None = None) -> TimescaleState:
    """Make sure the extension is installed when the server offers it (``auto``/``require``).

    ``require`` refuses to continue on a database without TimescaleDB.
    """
    connection = connection or connections["default"]
    state = timescale_state(connection)
    mode = settings.MARKETDATA_TIMESCALE
    if mode != "off" and not state.installed and state.available:
        try:
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        except DatabaseError:
            logger.warning("TimescaleDB is available but could not be installed", exc_info=True)
        state = timescale_state(connection)
    if mode == "require" and not state.installed:
        raise RuntimeError(
            "MARKETDATA_TIMESCALE=require, but this database has no TimescaleDB extension."
        )
    return state


def timescale_refresh(
    connection: BaseDatabaseWrapper | None = None, *, since: datetime | None = None
) -> list[str]:
    """Materialise the continuous aggregates (a backfill after moving existing ticks).

    ``refresh_continuous_aggregate`` cannot run inside a transaction: call in autocommit.
    """
    connection = connection or connections["default"]
    statements = []
    window_start = "NULL" if since is None else f"'{since.isoformat()}'::timestamptz"
    for interval in INTERVALS:
        sql = f"CALL refresh_continuous_aggregate('{cagg_name(interval)}', {window_start}, NULL)"
        with connection.cursor() as cursor:
            cursor.execute(sql)
        statements.append(sql)
    return statements


# --- Writes shared by both paths ------------------------------------------------------------


def ticks_recorded(*, instrument_id: int, prints: Sequence[TradePrint]) -> set[str]:
    """Trade ids of ``prints`` already stored (a replayed batch)."""
    if not prints:
        return set()
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "SELECT trade_id FROM marketdata_tradetick WHERE instrument_id = %s "
            "AND trade_id = ANY(%s) AND time BETWEEN %s AND %s",
            [
                instrument_id,
                [p.trade_id for p in prints],
                min(p.executed_at for p in prints),
                max(p.executed_at for p in prints),
            ],
        )
        return {row[0] for row in cursor.fetchall()}


def ticks_insert(*, instrument_id: int, prints: Sequence[tuple[TradePrint, int]]) -> set[str]:
    """Insert (print, seq) pairs in one statement; returns the trade ids actually inserted
    (a print already stored is left as it is)."""
    if not prints:
        return set()
    sql = """
        INSERT INTO marketdata_tradetick (time, instrument_id, trade_id, price, quantity,
                                  aggressor_side, seq)
        SELECT t.time, %s, t.trade_id, t.price, t.quantity, t.side, t.seq
        FROM unnest(%s::timestamptz[], %s::text[], %s::numeric[], %s::numeric[], %s::text[],
                    %s::bigint[]) AS t(time, trade_id, price, quantity, side, seq)
        ORDER BY t.seq
        ON CONFLICT (instrument_id, trade_id, time) DO NOTHING
        RETURNING trade_id
    """
    params = [
        instrument_id,
        [p.executed_at for p, _ in prints],
        [p.trade_id for p, _ in prints],
        [p.price for p, _ in prints],
        [p.quantity for p, _ in prints],
        [p.aggressor_side for p, _ in prints],
        [seq for _, seq in prints],
    ]
    with connections["default"].cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def quote_tick_insert(
    *,
    instrument_id: int,
    time: datetime,
    bid: tuple[Decimal, Decimal] | None,
    ask: tuple[Decimal, Decimal] | None,
) -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO marketdata_quotetick (time, instrument_id, bid, bid_size, ask, ask_size) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                time,
                instrument_id,
                bid[0] if bid else None,
                bid[1] if bid else None,
                ask[0] if ask else None,
                ask[1] if ask else None,
            ],
        )


def ticks_purge(
    *, before_ticks: datetime, before_quotes: datetime, before_minutes: datetime
) -> int:
    """Plain-path retention: delete ticks, quote ticks and minute candles past their age."""
    deleted = 0
    with connections["default"].cursor() as cursor:
        cursor.execute("DELETE FROM marketdata_tradetick WHERE time < %s", [before_ticks])
        deleted += cursor.rowcount
        cursor.execute("DELETE FROM marketdata_quotetick WHERE time < %s", [before_quotes])
        deleted += cursor.rowcount
        cursor.execute(
            "DELETE FROM marketdata_candle WHERE interval = ANY(%s) AND bucket < %s",
            [[str(i) for i in MINUTE_INTERVALS], before_minutes],
        )
        deleted += cursor.rowcount
    return deleted


# --- The plain path: the roll-up ------------------------------------------------------------

_UPSERT = """
    INSERT INTO marketdata_candle (instrument_id, interval, bucket, open, high, low, close,
                                volume, trade_count, updated_at)
    {select}
    ON CONFLICT (instrument_id, interval, bucket) DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
        close = EXCLUDED.close, volume = EXCLUDED.volume,
        trade_count = EXCLUDED.trade_count, updated_at = EXCLUDED.updated_at
"""

_FROM_TICKS = """
    SELECT instrument_id, %s, date_bin(%s::interval, time, %s::timestamptz) AS b,
           (array_agg(price ORDER BY time, id))[1], max(price), min(price),
           (array_agg(price ORDER BY time DESC, id DESC))[1], sum(quantity), count(*), now()
    FROM marketdata_tradetick
    WHERE instrument_id = %s AND time >= %s AND time < %s
    GROUP BY instrument_id, b
"""

_FROM_CANDLES = """
    SELECT instrument_id, %s, date_bin(%s::interval, bucket, %s::timestamptz) AS b,
           (array_agg(open ORDER BY bucket))[1], max(high), min(low),
           (array_agg(close ORDER BY bucket DESC))[1], sum(volume), sum(trade_count), now()
    FROM marketdata_candle
    WHERE instrument_id = %s AND interval = %s AND bucket >= %s AND bucket < %s
    GROUP BY instrument_id, b
"""


def candles_rollup(*, instrument_id: int, start: datetime, end: datetime) -> None:
    """Recompute every candle whose bucket holds an instant in [start, end] from the ticks.

    Exact whatever order prints arrive in, and idempotent: each bucket is rebuilt from what
    is stored, never incremented.
    """
    with connections["default"].cursor() as cursor:
        lo = bucket_start(start, CandleInterval.ONE_MINUTE)
        hi = bucket_start(end, CandleInterval.ONE_MINUTE) + INTERVALS[CandleInterval.ONE_MINUTE]
        cursor.execute(
            _UPSERT.format(select=_FROM_TICKS),
            [CandleInterval.ONE_MINUTE, SQL_INTERVAL["1m"], ORIGIN, instrument_id, lo, hi],
        )
        for interval, source in ROLLUP_CHAIN:
            lo = bucket_start(start, interval)
            hi = bucket_start(end, interval) + INTERVALS[interval]
            cursor.execute(
                _UPSERT.format(select=_FROM_CANDLES),
                [interval, SQL_INTERVAL[interval], ORIGIN, instrument_id, source, lo, hi],
            )


# --- Reads ----------------------------------------------------------------------------------


def candles_fetch(
    *, instrument_id: int, interval: str, start: datetime, end: datetime, mode: str
) -> list[dict[str, Any]]:
    """Candles with bucket start in [start, end), oldest first, from the path's storage."""
    if mode == TIMESCALEDB:
        # The view name is one of CandleInterval's, never the caller's text.
        sql = (
            'SELECT bucket, "open", high, low, "close", volume, trade_count '  # noqa: S608
            f"FROM {cagg_name(interval)} "
            "WHERE instrument_id = %s AND bucket >= %s AND bucket < %s ORDER BY bucket"
        )
        params: list[Any] = [instrument_id, start, end]
    else:
        sql = (
            "SELECT bucket, open, high, low, close, volume, trade_count "
            "FROM marketdata_candle WHERE instrument_id = %s AND interval = %s "
            "AND bucket >= %s AND bucket < %s ORDER BY bucket"
        )
        params = [instrument_id, CandleInterval(interval).value, start, end]
    with connections["default"].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        {
            "time": bucket,
            "open": Decimal(o),
            "high": Decimal(h),
            "low": Decimal(low),
            "close": Decimal(c),
            "volume": Decimal(v),
            "trades": int(n),
        }
        for bucket, o, h, low, c, v, n in rows
    ]


def daily_close_before(*, instrument_id: int, day_start: datetime, mode: str) -> Decimal | None:
    """The close of the last daily candle before ``day_start``, if any."""
    if mode == TIMESCALEDB:
        sql = (
            'SELECT "close" FROM marketdata_candle_1d '
            "WHERE instrument_id = %s AND bucket < %s ORDER BY bucket DESC LIMIT 1"
        )
        params: list[Any] = [instrument_id, day_start]
    else:
        sql = (
            "SELECT close FROM marketdata_candle WHERE instrument_id = %s AND interval = '1d' "
            "AND bucket < %s ORDER BY bucket DESC LIMIT 1"
        )
        params = [instrument_id, day_start]
    with connections["default"].cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return Decimal(row[0]) if row else None
