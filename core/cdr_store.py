"""Writing one batch of CDRs: new rows, duplicates, corrections, and rows the driver refuses.

Each batch looks up which (provider, provider_ref) are already stored, inside the
batch's write transaction. A known ref with the same content is a duplicate; with
different content (duration, volume, cost, date, numbers, type, roaming) it is a
correction: the `cdr` row takes the new version (the rating input), the replaced one
is archived in `cdr_correction`, its rating is dropped, and both the old and the new
customer-cycle are marked for recalculation. New rows go in with one plain INSERT per
batch (strict mode on MariaDB: a value the column cannot hold is an error, not a clip).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, RootTransaction, delete, insert, select, update
from sqlalchemy.orm import Session

from core.clock import Clock, system_clock
from core.db import Database
from core.models import Cdr, CdrCorrection, CdrRating, CustomerStatus, ImportBatch
from core.month import CustomerCycle
from core.raw_store import bulk_connection, column_values, execute_many, placeholders, release_bulk
from core.totals import mark_recalc_requested
from providers.base import BadRow, ProviderCdr

CDR_COLUMNS = ("provider", "provider_ref", "customer_id", "subscription_id", "import_batch_id",
               "number", "call_date", "cycle_start_date", "call_type", "destination", "duration_s",
               "volume_kb", "provider_cost", "roaming", "visited_country")
CONTENT = ("number", "call_date", "call_type", "destination", "duration_s", "volume_kb", "provider_cost", "roaming",
           "visited_country")
Content = tuple[str, datetime, str, str, int, int, Decimal, bool, str | None]
_CALL_DATE = itemgetter(CDR_COLUMNS.index("call_date"))  # as stored: fixed-width text on SQLite
_MAX_ROWID = 2**63 - 1  # SQLite's largest rowid: past it new rows take random free ids
Source = tuple[int, ProviderCdr]  # the line a row was read on, and the record


def content_of(cdr: ProviderCdr) -> Content:
    return (cdr.number, cdr.call_date, cdr.call_type, cdr.destination or "", cdr.duration_s, cdr.volume_kb,
            cdr.provider_cost, bool(cdr.roaming), cdr.visited_country or None)


@dataclass(frozen=True)
class Stored:
    """The stored version of a CDR, as far as a correction needs it."""

    id: int
    customer_id: int
    subscription_id: int
    cycle_start: date
    batch_id: int | None
    content: Content


@dataclass
class Outcome:
    inserted: int = 0
    duplicates: int = 0
    corrected: int = 0
    refused: int = 0


class CdrWriter:
    """Dialect-specific bulk statements on the raw driver connection (the hot path)."""

    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        self.mysql = db.is_mysql
        self.insert_sql = f"INSERT INTO cdr ({', '.join(CDR_COLUMNS)}) VALUES ({placeholders(self.mysql, 15)})"
        qcols = "import_batch_id, provider, line, reason, raw, created_at"
        self.quarantine_sql = f"INSERT INTO quarantined_row ({qcols}) VALUES ({placeholders(self.mysql, 6)})"
        self._when, self._cost = column_values(self.mysql)
        self._conn: Connection | None = None  # the import's own write connection (bulk_connection)
        self._batch: RootTransaction | None = None  # the batch being written, until it commits
        dbapi = db.engine.dialect.dbapi
        assert dbapi is not None
        self.duplicate_error: type[BaseException] = dbapi.IntegrityError  # a ref stored since the lookup
        # a value the driver or the database refuses for this row only (not a full disk)
        self.row_errors: tuple[type[BaseException], ...] = (
            dbapi.DataError, OverflowError, ValueError, TypeError)

    def row(self, cdr: ProviderCdr, customer_id: int, subscription_id: int, cycle: date, provider: str,
            batch_id: int) -> tuple[Any, ...]:
        return (provider, cdr.provider_ref, customer_id, subscription_id, batch_id,
                cdr.number, self._when(cdr.call_date), cycle.isoformat(), cdr.call_type, cdr.destination or "",
                cdr.duration_s, cdr.volume_kb, self._cost(cdr.provider_cost), 1 if cdr.roaming else 0,
                cdr.visited_country or None)

    def quarantine_row(self, batch_id: int, provider: str, bad: BadRow) -> tuple[Any, ...]:
        return (batch_id, provider, bad.line, bad.reason[:255], bad.raw[:4000], self._when(self.clock()))

    def flush(self, rows: list[tuple[Any, ...]], sources: list[Any], bad: list[tuple[Any, ...]],
              batch_id: int, provider: str, counters: dict[str, int], touched: set[CustomerCycle],
              resolve: Callable[[list[Any]], list[Source]] | None = None, *, commit: bool = True) -> None:
        """Rows of one batch into its transaction (begun by the first call); with `commit`, the
        batch's counters and the cycles touched so far too, and the commit. A failure rolls the
        whole batch back.

        `sources` are the rows' (line, ProviderCdr); with `resolve`, whatever it turns into
        those, called only when the rows are not all new (a duplicate, a correction, a refusal)."""
        if self._conn is None:
            self._conn = bulk_connection(self.db.engine)
            if not self.mysql:  # SQLite checks three parents per row; `_check_parents` does it per batch
                self._conn.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        conn = self._conn
        if self._batch is None:
            self._batch = conn.begin()
        batch = self._batch
        try:
            outcome = Outcome()
            if rows:
                self._write(conn, rows, sources, bad, batch_id, provider, outcome, touched, resolve)
                if not self.mysql:
                    self._check_parents(conn, rows)
            if bad:
                execute_many(conn, self.quarantine_sql, bad)
            counters["imported"] += outcome.inserted
            counters["duplicates"] += outcome.duplicates
            counters["corrected"] += outcome.corrected
            counters["quarantined"] += outcome.refused
            if commit:
                conn.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(
                    updated_at=self.clock(), rows_read=counters["rows_read"], imported=counters["imported"],
                    duplicates=counters["duplicates"], quarantined=counters["quarantined"],
                    corrected=counters["corrected"],
                    touched_cycles=json.dumps(sorted([c, d.isoformat()] for c, d in touched))))
                self._batch = None
                batch.commit()
        except BaseException:
            self._batch = None
            if batch.is_active:
                batch.rollback()
            raise

    def close(self) -> None:
        """Release the write connection (checkpointed); the writer can start a new one."""
        self._batch = None  # an uncommitted batch is rolled back with the connection
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                if not self.mysql and not conn.invalidated:
                    if conn.in_transaction():
                        conn.rollback()
                    conn.connection.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
            finally:
                release_bulk(conn)

    def _check_parents(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """The foreign keys of a batch's rows, checked once per parent instead of once per row
        (SQLite, where the import's connection does not check them row by row). Inside the
        batch's write transaction, so no parent can go away before the commit."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            for table, column in (("customer", 2), ("subscription", 3), ("import_batch", 4)):
                wanted = sorted({row[column] for row in rows} - {None})
                for i in range(0, len(wanted), 500):
                    ids = wanted[i:i + 500]
                    cursor.execute(f"SELECT id FROM {table} WHERE id IN ({', '.join('?' * len(ids))})", ids)
                    missing = set(ids) - {found for found, in cursor.fetchall()}
                    if missing:
                        raise MissingParent(f"{table} {min(missing)} no longer exists: import again")
        finally:
            cursor.close()


    def _write(self, conn: Connection, rows: list[tuple[Any, ...]], sources: list[Any],
               bad: list[tuple[Any, ...]], batch_id: int, provider: str, outcome: Outcome,
               touched: set[CustomerCycle], resolve: Callable[[list[Any]], list[Source]] | None) -> None:
        if self._insert_all(conn, rows):  # the common case: every ref is new, nothing to look up
            outcome.inserted += len(rows)
            return
        if resolve is not None:
            sources = resolve(sources)
        known = self._known(conn, provider, {cdr.provider_ref for _, cdr in sources})
        fresh: list[tuple[Any, ...]] = []
        fresh_sources: list[Source] = []
        pending: dict[str, Content] = {}  # refs in `fresh`, not inserted yet
        recalc: set[CustomerCycle] = set()
        for values, (line, cdr) in zip(rows, sources, strict=True):
            ref, content = cdr.provider_ref, content_of(cdr)
            if ref in pending:
                if pending[ref] == content:
                    outcome.duplicates += 1
                    continue
                # the same ref twice in one batch, different: store the first, correct it with the second
                self._insert(conn, fresh, fresh_sources, bad, batch_id, provider, outcome)
                fresh, fresh_sources, pending = [], [], {}
                known.update(self._known(conn, provider, {ref}))
            stored = known.get(ref)
            if stored is None:
                fresh.append(values)
                fresh_sources.append((line, cdr))
                pending[ref] = content
            elif stored.content == content:
                outcome.duplicates += 1
            else:
                known[ref] = self._correct(conn, stored, values, cdr, batch_id)
                outcome.corrected += 1
                recalc |= {CustomerCycle(stored.customer_id, stored.cycle_start),
                           CustomerCycle(values[2], date.fromisoformat(values[7]))}
        self._insert(conn, fresh, fresh_sources, bad, batch_id, provider, outcome)
        if recalc:
            touched |= recalc
            with Session(bind=conn) as session:
                for customer_id, cycle_start in sorted(recalc):
                    mark_recalc_requested(session, customer_id, cycle_start)
                session.flush()

    def _known(self, conn: Connection, provider: str, refs: set[str]) -> dict[str, Stored]:
        found: dict[str, Stored] = {}
        listed = sorted(refs)
        for i in range(0, len(listed), 500):
            query = select(Cdr.provider_ref, Cdr.id, Cdr.customer_id, Cdr.subscription_id, Cdr.cycle_start_date,
                           Cdr.import_batch_id, *(getattr(Cdr, name) for name in CONTENT)).where(
                Cdr.provider == provider, Cdr.provider_ref.in_(listed[i:i + 500]))
            for ref, cdr_id, customer_id, sub_id, cycle, batch, *content in conn.execute(query):
                if ref in refs:  # byte-exact, whatever the collation said
                    found[ref] = Stored(cdr_id, customer_id, sub_id, cycle, batch, tuple(content))
        return found

    def _correct(self, conn: Connection, stored: Stored, values: tuple[Any, ...], cdr: ProviderCdr,
                 batch_id: int) -> Stored:
        """Archive the stored version, replace it with `cdr`; its rating is stale now."""
        conn.execute(insert(CdrCorrection).values(
            cdr_id=stored.id, import_batch_id=batch_id, replaced_batch_id=stored.batch_id,
            customer_id=stored.customer_id, subscription_id=stored.subscription_id,
            cycle_start_date=stored.cycle_start, corrected_at=self.clock(), **dict(zip(CONTENT, stored.content,
                                                                                  strict=True))))
        # the rating first: it refers to the CDR's customer-cycle, which the update may change
        conn.execute(delete(CdrRating).where(CdrRating.customer_id == stored.customer_id,
                                             CdrRating.cycle_start_date == stored.cycle_start,
                                             CdrRating.cdr_id == stored.id))
        conn.execute(update(CustomerStatus).where(  # its cycle's stored ratings are no longer the digest's
            CustomerStatus.customer_id == stored.customer_id, CustomerStatus.cycle_start_date == stored.cycle_start)
            .values(ratings_digest=None))
        customer_id, subscription_id, cycle = values[2], values[3], date.fromisoformat(values[7])
        conn.execute(update(Cdr).where(Cdr.id == stored.id).values(
            customer_id=customer_id, subscription_id=subscription_id, cycle_start_date=cycle,
            import_batch_id=batch_id, **dict(zip(CONTENT, content_of(cdr), strict=True))))
        return Stored(stored.id, customer_id, subscription_id, cycle, batch_id, content_of(cdr))

    def _insert_all(self, conn: Connection, rows: list[tuple[Any, ...]]) -> bool:
        """All rows in one statement, or none of them (False) when the database refuses one.

        On SQLite in call-date order (a stable sort: equal dates keep their order): two of the
        indexes lead with the call date (ix_cdr_call_date, and ix_cdr_customer_call_date per
        customer), so a batch then walks their pages in order, touching each once, where rows
        in file order land on random pages and, once the indexes outgrow the page cache, read
        and write a page per row. Only the ids follow (nothing orders by them; rating orders by
        date and ref). Refused, the caller goes on in the given order.

        A refused statement's rows are undone by a savepoint on MariaDB. On SQLite a savepoint
        copies every page the batch changes into a statement journal (a temporary file, about
        15% of a million-row import), so there the rows it left are deleted instead: those
        with an id above the largest before it (we hold the write lock; new rows take the next
        ids unless the largest id is SQLite's maximum, where a savepoint is used)."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        last: int | None = None  # SQLite: the largest id before the statement
        if not self.mysql:  # on MariaDB call_date is text or a datetime: not one sortable type
            rows = sorted(rows, key=_CALL_DATE)
            cursor.execute("SELECT max(id) FROM cdr")
            last = cursor.fetchone()[0] or 0
            if last >= _MAX_ROWID:
                last = None
        if last is None:
            cursor.execute("SAVEPOINT cdr_rows")
        try:
            cursor.executemany(self.insert_sql, rows)
            refused = False
        except (self.duplicate_error, *self.row_errors):
            if last is None:
                cursor.execute("ROLLBACK TO SAVEPOINT cdr_rows")
            else:
                cursor.execute("DELETE FROM cdr WHERE id > ?", (last,))
            refused = True
        except BaseException:
            cursor.close()  # anything else (a full disk) fails the transaction as it is
            raise
        if last is None:
            cursor.execute("RELEASE SAVEPOINT cdr_rows")
        cursor.close()
        return not refused

    def _insert(self, conn: Connection, rows: list[tuple[Any, ...]], sources: list[Source],
                bad: list[tuple[Any, ...]], batch_id: int, provider: str, outcome: Outcome) -> None:
        """New rows in one statement; if the driver refuses one, row by row so only it is refused."""
        if not rows:
            return
        if self._insert_all(conn, rows):
            outcome.inserted += len(rows)
            return
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for values, (line, cdr) in zip(rows, sources, strict=True):
            try:
                cursor.execute(self.insert_sql, values)
                outcome.inserted += 1
            except self.duplicate_error:
                outcome.duplicates += 1  # stored by a concurrent import since the lookup
            except self.row_errors as exc:
                outcome.refused += 1
                bad.append(self.quarantine_row(batch_id, provider, BadRow(line, f"refused: {exc}", raw_cdr(cdr))))
        cursor.close()


def raw_cdr(cdr: ProviderCdr) -> str:
    """A CDR as text for the quarantine."""
    try:
        return ",".join(str(v) for v in (cdr.provider_ref, cdr.number, cdr.call_date.isoformat(),
                                         cdr.call_type, cdr.destination, cdr.duration_s, cdr.volume_kb,
                                         cdr.provider_cost))
    except Exception:  # noqa: BLE001 - the quarantine still gets something to show
        return repr(cdr)[:4000]


class MissingParent(RuntimeError):
    """A subscription (or customer) was deleted while its CDRs were being imported."""
