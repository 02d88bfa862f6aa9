"""The dialect-specific fast paths: raw DB-API cursors, money as integer ten-thousandths.

The hot paths (rating a customer-cycle, importing CDRs) move tens of thousands of rows.
Going through the ORM's per-column result processing costs several times the query, so
they read and write plain tuples on the driver connection here, and nowhere else:

- a call date as naive UTC text "YYYY-MM-DD HH:MM:SS.ffffff", as SQLite stores it and as
  MariaDB formats it in the query (fixed width, so text order is time order);
- money as an ``int`` of ten-thousandths on both (SQLite stores it so; MariaDB's
  DECIMAL(18,4) is scaled by the server in the query, or by ``to_column`` on the way in).

Domain modules (`core.totals`, `core.imports`, `core.cdr_store`) call these functions and
never build SQL for one dialect themselves. This module imports no domain module, so
`core.cdr_store` (which marks cycles for recalculation through `core.totals`) can use it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import repeat
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from core.models.base import sqlite_datetime, sqlite_money

# cdr_id, subscription_id, call_type, rated amount (ten-thousandths), bundle used, zone (None at home),
# and the CDR's usage: duration_s, volume_kb, provider cost (ten-thousandths)
Rating = tuple[int, int, str, int, int, str | None, int, int, int]
# id, subscription_id, call_date (as stored), call_type, destination, duration_s, volume_kb,
# provider_cost (ten-thousandths), and where it roamed: None at home, else the visited country
# ("" when the provider did not say). One column for both: a column fewer of 11 read per CDR (a
# 20,000-CDR cycle's read 69 -> 60 ms of CPU at load 1.9). The provider_ref only orders calls of
# the same moment, so it is read apart for those (`provider_refs`): 5 ms less of a 55 ms read.
RawCdr = tuple[Any, ...]
# cdr_id, rated amount (ten-thousandths), bundle used, zone: what a rating's comparison needs
StoredRating = tuple[int, int, int, str | None]

_CDR_COLUMNS = ("id, subscription_id, {when}, call_type, destination, duration_s, volume_kb, {cost}, "
                "CASE WHEN roaming THEN COALESCE(visited_country, '') END")
_MARIADB_WHEN = "DATE_FORMAT(call_date, '%%Y-%%m-%%d %%H:%%i:%%s.%%f')"  # SQLite's stored text
_CYCLE = "WHERE customer_id = {mark} AND cycle_start_date = {mark}"
_CDR_ID = itemgetter(0)


def is_sqlite(session: Session | Connection) -> bool:
    return session.get_bind().dialect.name == "sqlite" if isinstance(session, Session) \
        else session.dialect.name == "sqlite"


def _cursor(session: Session) -> Any:
    return session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


def _fetch(session: Session, sql: str, customer_id: int, cycle_start: date) -> list[tuple[Any, ...]]:
    """The rows of `sql` ({mark}, {when} and {cost} filled in for the dialect) for the customer-cycle."""
    sqlite = is_sqlite(session)
    mark = "?" if sqlite else "%s"
    cursor = _cursor(session)
    try:
        cursor.execute(sql.format(mark=mark, when="call_date" if sqlite else _MARIADB_WHEN,
                                  cost="provider_cost" if sqlite else "CAST(provider_cost * 10000 AS SIGNED)"),
                       (customer_id, cycle_start.isoformat() if sqlite else cycle_start))
        return list(cursor.fetchall())
    finally:
        cursor.close()


def cycle_cdrs(session: Session, customer_id: int, cycle_start: date) -> dict[int, list[RawCdr]]:
    """The customer-cycle's CDRs per subscription in id order, as stored (see the module docstring).

    One range of an index on both dialects: SQLite's `ix_cdr_cycle_rows` holds every column read
    here (migration 0018), MariaDB's table is clustered by customer-cycle (migration 0017)."""
    if not is_sqlite(session):
        packed = _packed(session, _PACKED_CDR, 8, "cdr", customer_id, cycle_start, _cdr_rows)
        if packed is not None:
            return packed
    by_sub: dict[int, list[RawCdr]] = defaultdict(list)
    for row in _fetch(session, f"SELECT {_CDR_COLUMNS} FROM cdr {_CYCLE}", customer_id, cycle_start):
        by_sub[row[1]].append(row)
    return by_sub


def provider_refs(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The provider_ref of each of these CDRs, by id: primary-key look-ups (the ids of a cycle just
    read; also naming its customer-cycle made SQLite scan the cycle's index range, 3 ms for 4 ids)."""
    refs: dict[int, str] = {}
    listed = sorted(set(ids))
    mark = "?" if is_sqlite(session) else "%s"
    cursor = _cursor(session)
    try:
        for i in range(0, len(listed), 500):
            chunk = listed[i:i + 500]
            cursor.execute(f"SELECT id, provider_ref FROM cdr WHERE id IN ({', '.join([mark] * len(chunk))})", chunk)
            refs.update(cursor.fetchall())
    finally:
        cursor.close()
    return refs


def decoded_call_date(session: Session) -> Any:
    """The function turning a stored call date (text, on both dialects) into an aware UTC ``datetime``."""
    parse = datetime.fromisoformat
    return lambda text: parse(text).replace(tzinfo=UTC)


def stored_day(stored: str | datetime) -> date:
    """The UTC date of a call date as read here (text; a naive UTC ``datetime`` also does)."""
    return date.fromisoformat(stored[:10]) if isinstance(stored, str) else stored.date()


def stored_ratings(session: Session, customer_id: int, cycle_start: date) -> list[StoredRating]:
    """The customer-cycle's ratings as (cdr_id, rated amount in ten-thousandths, bundle used, zone),
    in cdr_id order."""
    sqlite = is_sqlite(session)
    if not sqlite:  # one text, not one per subscription: no GROUP BY (a temporary table) on the server
        packed = _packed(session, _PACKED_RATING, 4, "cdr_rating", customer_id, cycle_start, _ratings,
                         per_subscription=False)
        if packed is not None:
            ratings: list[StoredRating] = packed.get(0, [])
            ratings.sort(key=_CDR_ID)  # InnoDB reads them in key order: the sort checks that in one pass
            return ratings
    amount = "rated_amount" if sqlite else "CAST(rated_amount * 10000 AS SIGNED)"
    # both drivers return ints here: no per-row conversion; the key's order needs no sort on SQLite
    return _fetch(session, f"SELECT cdr_id, {amount}, bundle_used, zone FROM cdr_rating {_CYCLE} ORDER BY cdr_id",
                  customer_id, cycle_start)


def rating_count(session: Session, customer_id: int, cycle_start: date) -> int:
    """How many ratings the customer-cycle has stored (one range of `cdr_rating`'s primary key)."""
    ((count,),) = _fetch(session, f"SELECT count(*) FROM cdr_rating {_CYCLE}", customer_id, cycle_start)
    return int(count)


# MariaDB: pymysql decodes every field in Python: 20,000 CDRs of 11 columns took 0.2-0.4 s to
# decode against the server's 3 ms. So the server packs each subscription's rows into one text,
# every field followed by the ASCII unit separator, that str.split takes apart in C; each
# column is then a slice of that list (fields[k::width]) and its integers are parsed by
# map(int, ...), so no Python code runs per row. A text that does not split into COUNT(*) rows
# of the expected width (a separator inside a value, or GROUP_CONCAT cut at max_allowed_packet)
# is read again the plain way.
_UNIT = "\x1f"
_PACKED_CDR = (f"id, {_MARIADB_WHEN}, call_type, destination, "
               "duration_s, volume_kb, CAST(provider_cost * 10000 AS SIGNED), "
               "IF(roaming, CONCAT('R', IFNULL(visited_country, '')), '')")  # CONCAT_WS would drop a NULL
_PACKED_RATING = "cdr_id, CAST(rated_amount * 10000 AS SIGNED), bundle_used, IFNULL(zone, '')"


def _or_none(texts: list[str], count: int) -> Any:
    """A column read with IFNULL(x, ''): '' back to None (usually all of them: no Python loop then)."""
    return [text or None for text in texts] if any(texts) else repeat(None, count)


def _visited(texts: list[str], count: int) -> Any:
    """The roaming column as packed ('' at home, 'R' + the country when roaming) as read plainly."""
    return [text[1:] if text else None for text in texts] if any(texts) else repeat(None, count)


def _cdr_rows(sub_id: int, count: int, f: list[str]) -> list[RawCdr]:
    return list(zip(map(int, f[0::8]), repeat(sub_id, count), f[1::8], f[2::8], f[3::8],
                    map(int, f[4::8]), map(int, f[5::8]), map(int, f[6::8]), _visited(f[7::8], count),
                    strict=True))


def _ratings(_sub_id: int, count: int, f: list[str]) -> list[StoredRating]:
    return list(zip(map(int, f[0::4]), map(int, f[1::4]), map(int, f[2::4]), _or_none(f[3::4], count), strict=True))


def _packed(session: Session, columns: str, width: int, table: str, customer_id: int, cycle_start: date,
            decode: Callable[[int, int, list[str]], Any], *, per_subscription: bool = True) -> dict[int, Any] | None:
    """The cycle's rows of `table` per subscription (or all under the key 0), packed by the server
    and unpacked by `decode(subscription, count, fields)`; None when a text does not split into
    its `count` rows of `width` fields (the caller reads the plain way)."""
    key, group = ("subscription_id", " GROUP BY subscription_id") if per_subscription else ("0", "")
    cursor = _cursor(session)
    try:
        cursor.execute(
            "SET STATEMENT group_concat_max_len = 4294967295 FOR "
            f"SELECT {key}, COUNT(*), GROUP_CONCAT(CONCAT_WS('{_UNIT}', {columns}) SEPARATOR '{_UNIT}') "
            f"FROM {table} WHERE customer_id = %s AND cycle_start_date = %s{group}", (customer_id, cycle_start))
        groups = cursor.fetchall()
    finally:
        cursor.close()
    by_sub: dict[int, Any] = {}
    for sub_id, count, text in groups:
        if not count:  # an aggregate without GROUP BY gives one row over no rows
            continue
        fields = (text.decode() if isinstance(text, bytes) else text or "").split(_UNIT)
        if len(fields) != width * count:
            return None
        by_sub[sub_id] = decode(sub_id, count, fields)
    return by_sub


def store_ratings(session: Session, customer_id: int, cycle_start: date, changes: Sequence[Rating],
                  replace: Sequence[int]) -> None:
    """Delete the ratings being replaced, insert the new ones: contiguous rows of one customer-cycle
    (MariaDB updates a replaced rating that has a new one in place: the same rows, in less time).

    They go in in key order (customer, cycle, cdr_id): the primary key's B-tree is appended to
    rather than split at random places, and the foreign-key look-ups of `cdr` walk its pages in
    order (about half the time of the rating order on 20,000 rows).
    """
    if not changes:
        return
    changes = sorted(changes, key=_CDR_ID)
    replace = sorted(replace)
    sqlite = is_sqlite(session)
    replacing = set(replace)
    if not sqlite:  # MariaDB updates a replaced rating in place; it deletes only those without a new one
        replace = sorted(replacing.difference(map(_CDR_ID, changes)))
    mark = "?" if sqlite else "%s"
    cycle: Any = cycle_start.isoformat() if sqlite else cycle_start
    cursor = _cursor(session)
    try:
        for i in range(0, len(replace), 500):
            ids = replace[i:i + 500]
            cursor.execute(f"DELETE FROM cdr_rating WHERE customer_id = {mark} AND cycle_start_date = {mark} "
                           f"AND cdr_id IN ({', '.join([mark] * len(ids))})", (customer_id, cycle, *ids))
        if sqlite:  # the customer-cycle written into the statement: each row binds its own 9 values as they are
            cursor.executemany(f"{_INSERT_RATING} ({int(customer_id)}, '{cycle_start.isoformat()}', "
                               f"{', '.join([mark] * 9)})", changes)
        else:
            _insert_ratings_mariadb(cursor, customer_id, cycle, [c for c in changes if c[0] not in replacing])
            _insert_ratings_mariadb(cursor, customer_id, cycle, [c for c in changes if c[0] in replacing],
                                    replacing=True)
    finally:
        cursor.close()


_INSERT_RATING = ("INSERT INTO cdr_rating (customer_id, cycle_start_date, cdr_id, subscription_id, call_type, "
                  "rated_amount, bundle_used, zone, duration_s, volume_kb, provider_cost) VALUES")
# A replaced rating is updated in place: DELETE by IN-lists then INSERT took 0.77 s for 20,000
# ratings, this 0.46 s. Only ratings the caller replaces: a new one that meets a stored row
# still fails on the primary key, as the plain INSERT does.
_REPLACING = (" ON DUPLICATE KEY UPDATE subscription_id = VALUE(subscription_id), call_type = VALUE(call_type), "
              "rated_amount = VALUE(rated_amount), bundle_used = VALUE(bundle_used), zone = VALUE(zone), "
              "duration_s = VALUE(duration_s), volume_kb = VALUE(volume_kb), provider_cost = VALUE(provider_cost)")
_STATEMENT_CHARS = 1_000_000  # one INSERT's text, as pymysql's executemany splits (max_allowed_packet: 16 MB)


def _money_literal(units: int) -> str:
    """Ten-thousandths as the exact DECIMAL literal: -12345 -> -1.2345 (an int only: ``:d`` refuses the rest)."""
    whole, fraction = divmod(abs(units), 10_000)
    return f"{'-' if units < 0 else ''}{whole:d}.{fraction:04d}"


def _insert_ratings_mariadb(cursor: Any, customer_id: int, cycle_start: date, changes: Sequence[Rating], *,
                            replacing: bool = False) -> None:
    """The ratings as multi-row INSERTs whose text is built here: pymysql's executemany escapes
    each of the 220,000 values of 20,000 ratings by a Python call (0.3-0.4 s). Integers are
    formatted with ``:d`` (anything else raises), money exactly from its ten-thousandths, and
    the few distinct texts (call types, zones) are escaped by the driver once each."""
    quoted: dict[str | None, str] = {None: "NULL"}

    def quote(text: str | None) -> str:
        literal = quoted.get(text)
        if literal is None:
            literal = quoted[text] = cursor.mogrify("%s", (text,))
        return literal

    head = cursor.mogrify("(%s,%s,", (customer_id, cycle_start))
    money = _money_literal
    tail = _REPLACING if replacing else ""
    values: list[str] = []
    size = 0
    for cid, sub, kind, amount, bundle, zone, d, v, pc in changes:
        row = f"{head}{cid:d},{sub:d},{quote(kind)},{money(amount)},{bundle:d},{quote(zone)},{d:d},{v:d},{money(pc)})"
        values.append(row)
        size += len(row) + 1
        if size >= _STATEMENT_CHARS:
            cursor.execute(f"{_INSERT_RATING} {','.join(values)}{tail}")
            values.clear()
            size = 0
    if values:
        cursor.execute(f"{_INSERT_RATING} {','.join(values)}{tail}")


def ten_thousandths(amount: Decimal) -> int:
    """A 4-decimal amount as an integer of ten-thousandths (rounded half-up beyond 4 decimals)."""
    return sqlite_money(amount)


# -- CDR import: rows as the columns take them --------------------------------------------------

def column_values(mysql: bool) -> tuple[Any, Any]:
    """(call date, cost) encoders for one dialect: naive UTC datetime and Decimal on MariaDB,
    text and ten-thousandths on SQLite. The cost has passed `core.cdr_checks` (at most 4
    decimals), so scaling it is exact."""
    if mysql:
        return (lambda when: when.astimezone(UTC).replace(tzinfo=None)), (lambda cost: cost)
    return _sqlite_call_date, _units


def _sqlite_call_date(when: datetime) -> str:
    if when.tzinfo is UTC:  # the common case: "YYYY-MM-DD HH:MM:SS.ffffff+00:00" without its offset
        return when.isoformat(" ", "microseconds")[:26]
    return sqlite_datetime(when)


def _units(cost: Decimal) -> int:
    return int(cost.scaleb(4))


# 16 MB of page cache for the import's connection (SQLite's default: 2 MB). The import writes each
# batch in call-date order (core/cdr_store.py), so what must stay cached is the indexes' inner
# pages and the few leaves being filled, a few MB at a million CDRs; the CSV path spends the
# memory on holding its whole batch instead (core/import_rows.py, FAST_CHUNK_ROWS).
BULK_CACHE_KIB = 16_384
# Pages (256 MB of WAL) between checkpoints while importing (default 1,000). Each batch rewrites most
# of the call-date indexes' leaves, so a checkpoint copies them again: at 64 MB, commits and the last
# checkpoint took 3.3-3.8 s at a million rows, at 256 MB 2.6-2.8 s. `release_bulk` empties the WAL.
BULK_AUTOCHECKPOINT = 65_536


def bulk_connection(engine: Engine) -> Connection:
    """A connection held for one bulk import: on SQLite with a larger page cache (the indexes'
    inner pages stay in memory between batches) and fewer WAL checkpoints; `release_bulk` undoes both."""
    conn = engine.connect()
    if conn.dialect.name == "sqlite":
        driver = conn.connection.driver_connection
        driver.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")  # type: ignore[union-attr]
        driver.execute(f"PRAGMA wal_autocheckpoint={BULK_AUTOCHECKPOINT}")  # type: ignore[union-attr]
    return conn


# How long the import's last checkpoint waits for readers on an older snapshot (a console page,
# the daemon) before it gives up on emptying the WAL; writers wait for it meanwhile.
FINAL_CHECKPOINT_WAIT_MS = 200


def release_bulk(conn: Connection) -> None:
    """Checkpoint what the import wrote and empty the WAL file, give the page cache back, return
    the connection to the pool.

    The WAL file keeps the size of the import's largest stretch between checkpoints (up to
    BULK_AUTOCHECKPOINT pages and a batch): emptied here, it does not stay on disk. When a reader
    still holds an older snapshot, the WAL is checkpointed up to it instead (a later checkpoint
    does the rest), so the import never waits long on a reader."""
    try:
        if conn.dialect.name == "sqlite" and not conn.invalidated:
            if conn.in_transaction():
                conn.rollback()
            driver = conn.connection.driver_connection
            driver.execute("PRAGMA wal_autocheckpoint=1000")  # type: ignore[union-attr]
            driver.execute("PRAGMA cache_size=-2000")  # type: ignore[union-attr]
            (timeout,) = driver.execute("PRAGMA busy_timeout").fetchone()  # type: ignore[union-attr]
            driver.execute(f"PRAGMA busy_timeout={FINAL_CHECKPOINT_WAIT_MS}")  # type: ignore[union-attr]
            try:  # busy: a reader's snapshot kept part of the WAL, checkpointed up to it
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()  # type: ignore[union-attr]
            finally:
                driver.execute(f"PRAGMA busy_timeout={int(timeout)}")  # type: ignore[union-attr]
    finally:
        conn.close()


def execute_many(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """One executemany on the driver connection of `conn` (inside its transaction)."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()


def placeholders(mysql: bool, count: int) -> str:
    return ", ".join(["%s" if mysql else "?"] * count)
