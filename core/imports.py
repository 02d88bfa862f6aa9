"""The import queue: CDRs from a file or a provider download into the CDR table.

Streaming end to end: records arrive from an iterator (a CSV parser or a provider
adapter), are linked to their subscription and billing cycle, and are bulk
inserted in batches with the driver's executemany; duplicates on
(provider, provider_ref) are skipped by the database, not by a lookup. Each batch
commits with the batch's counters, so a killed import keeps what landed and a
re-run adds only what is missing. Bad rows go to quarantine with line and reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC as utc
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from core.clock import Clock, system_clock
from core.db import Database
from core.models import Customer, ImportBatch, QuarantinedRow, Subscription
from core.models.base import sqlite_datetime, sqlite_money
from core.models.sync import ImportStatus
from core.month import CustomerCycle
from core.rating.cycles import cycle_for
from providers.base import BadRow, Checkpoint, ProviderCdr, ProviderError

log = logging.getLogger(__name__)

CALL_TYPES = frozenset({"voice", "sms", "data"})
CDR_COLUMNS = ("provider", "provider_ref", "customer_id", "subscription_id", "import_batch_id",
               "number", "call_date", "cycle_start_date", "call_type", "destination", "duration_s",
               "volume_kb", "provider_cost", "roaming")


@dataclass
class ImportResult:
    batch_id: int
    rows_read: int = 0
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    provider_cost: Decimal = Decimal("0")
    error: str | None = None
    touched: set[CustomerCycle] = field(default_factory=set)

    @property
    def nothing_read(self) -> bool:
        return self.imported + self.duplicates == 0 and (self.error is not None or self.rows_read == 0
                                                          or self.quarantined > 0)

    def summary(self) -> str:
        text = (f"imported {self.imported}, duplicates {self.duplicates}, "
                f"quarantined {self.quarantined} (batch {self.batch_id})")
        return f"{text}; stopped: {self.error}" if self.error else text


@dataclass(frozen=True)
class _Line:
    subscription_id: int
    customer_id: int
    billing_day: int
    zone: ZoneInfo
    start: date | None
    end: date | None


class SubscriptionIndex:
    """Number → subscription and its customer's cycle rules, loaded once per import."""

    def __init__(self, db: Database) -> None:
        self.by_number: dict[str, _Line] = {}
        self._cycles: dict[tuple[int, ZoneInfo, date], date] = {}
        zones: dict[str, ZoneInfo] = {}
        with db.reader() as s:
            rows = s.execute(
                select(Subscription.number, Subscription.id, Subscription.customer_id,
                       Customer.billing_day, Customer.time_zone, Subscription.start_date,
                       Subscription.end_date)
                .join(Customer, Customer.id == Subscription.customer_id)
            ).all()
        for number, sub_id, customer_id, billing_day, tz, start, end in rows:
            zone = zones.setdefault(tz, ZoneInfo(tz))
            self.by_number[number] = _Line(sub_id, customer_id, billing_day, zone, start, end)

    def link(self, cdr: ProviderCdr) -> tuple[_Line, date] | str:
        """The subscription and cycle start for a CDR, or the reason it cannot be linked."""
        line = self.by_number.get(cdr.number)
        if line is None:
            return f"unknown number {cdr.number}"
        local_day = cdr.call_date.astimezone(line.zone).date()
        if (line.start and local_day < line.start) or (line.end and local_day > line.end):
            return f"number {cdr.number} has no active subscription on {local_day.isoformat()}"
        key = (line.billing_day, line.zone, local_day)
        cycle = self._cycles.get(key)
        if cycle is None:  # one computation per customer rule and local day, not per CDR
            cycle = self._cycles[key] = cycle_for(cdr.call_date, line.billing_day, line.zone).start
        return line, cycle


def _validate(cdr: ProviderCdr) -> str | None:
    if cdr.call_type not in CALL_TYPES:
        return f"unknown call type {cdr.call_type!r}"
    if cdr.duration_s < 0:
        return f"negative duration {cdr.duration_s}"
    if cdr.volume_kb < 0:
        return f"negative volume {cdr.volume_kb}"
    if cdr.call_date.tzinfo is None:
        return "call date has no time zone"
    if not cdr.provider_ref:
        return "empty provider_ref"
    for name, value, limit in (("provider_ref", cdr.provider_ref, 80), ("number", cdr.number, 20),
                               ("destination", cdr.destination or "", 32)):
        if len(value) > limit:
            return f"{name} longer than {limit} characters"
    return None


class _Writer:
    """Dialect-specific bulk statements on the raw driver connection (the hot path)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.clock = clock
        self.db = db
        self.mysql = db.is_mysql
        mark = "%s" if self.mysql else "?"
        cols = ", ".join(CDR_COLUMNS)
        marks = ", ".join([mark] * len(CDR_COLUMNS))
        if self.mysql:
            # INSERT IGNORE: the driver reports matched rows (CLIENT.FOUND_ROWS), so an
            # ON DUPLICATE KEY no-op would count duplicates as inserted. IGNORE would also
            # truncate over-long text silently; _validate refuses such rows first.
            self.insert_sql = f"INSERT IGNORE INTO cdr ({cols}) VALUES ({marks})"
        else:
            self.insert_sql = f"INSERT OR IGNORE INTO cdr ({cols}) VALUES ({marks})"
        qcols = "import_batch_id, provider, line, reason, raw, created_at"
        self.quarantine_sql = f"INSERT INTO quarantined_row ({qcols}) VALUES ({', '.join([mark] * 6)})"

    def row(self, cdr: ProviderCdr, line: _Line, cycle: date, provider: str, batch_id: int) -> tuple[Any, ...]:
        if self.mysql:
            when: Any = cdr.call_date.astimezone(utc).replace(tzinfo=None)
            cost: Any = cdr.provider_cost
        else:
            when, cost = sqlite_datetime(cdr.call_date), sqlite_money(cdr.provider_cost)
        return (provider, cdr.provider_ref, line.customer_id, line.subscription_id, batch_id,
                cdr.number, when, cycle.isoformat(), cdr.call_type, cdr.destination or "",
                cdr.duration_s, cdr.volume_kb, cost, 1 if cdr.roaming else 0)

    def quarantine_row(self, batch_id: int, provider: str, bad: BadRow) -> tuple[Any, ...]:
        now = self.clock()
        created: Any = now.replace(tzinfo=None) if self.mysql else sqlite_datetime(now)
        return (batch_id, provider, bad.line, bad.reason[:255], bad.raw[:4000], created)

    def flush(self, rows: list[tuple[Any, ...]], bad: list[tuple[Any, ...]], batch_id: int,
              counters: dict[str, int], touched: set[CustomerCycle]) -> int:
        """Insert one batch, its counters and the cycles touched so far in one transaction;
        returns rows inserted."""
        with self.db.engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            inserted = 0
            if rows:
                cursor.executemany(self.insert_sql, rows)
                inserted = max(cursor.rowcount, 0)
            if bad:
                cursor.executemany(self.quarantine_sql, bad)
            cursor.close()
            counters["imported"] += inserted
            counters["duplicates"] += len(rows) - inserted
            conn.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(
                updated_at=self.clock(), rows_read=counters["rows_read"], imported=counters["imported"],
                duplicates=counters["duplicates"], quarantined=counters["quarantined"],
                touched_cycles=json.dumps(sorted([c, d.isoformat()] for c, d in touched))))
        return inserted





def start_batch(db: Database, provider: str, source: str, sync_task_id: int | None = None) -> int:
    with db.transaction() as s:
        batch = ImportBatch(provider=provider, source=source[:500], status="running",
                            sync_task_id=sync_task_id)
        s.add(batch)
        s.flush()
        return batch.id


def import_cdrs(
    db: Database,
    records: Iterable[ProviderCdr | BadRow | Checkpoint],
    *,
    provider: str,
    source: str,
    sync_task_id: int | None = None,
    batch_size: int = 5000,
    progress: Callable[[ImportResult], None] | None = None,
    index: SubscriptionIndex | None = None,
    first_line: int = 2,
    clock: Clock = system_clock,
) -> ImportResult:
    """Stream records into the CDR table; never raises for bad rows, only counts them.

    `first_line` is the line number of the first record (2 for a CSV file with a header),
    so quarantined rows point at the file line; the parser's own bad rows re-anchor it.

    A ProviderError from the source (a dropped stream, a missing column) stops the
    import: what was committed stays, the batch is marked failed, and the error is
    re-raised for the caller to classify.
    """
    index = index or SubscriptionIndex(db)
    writer = _Writer(db, clock)
    result = ImportResult(start_batch(db, provider, source, sync_task_id))
    counters = {"rows_read": 0, "imported": 0, "duplicates": 0, "quarantined": 0}
    rows: list[tuple[Any, ...]] = []
    bad: list[tuple[Any, ...]] = []
    touched: set[CustomerCycle] = set()
    cost = Decimal("0")
    line_no = first_line - 1

    def flush() -> None:
        writer.flush(rows, bad, result.batch_id, counters, touched)
        rows.clear()
        bad.clear()
        result.rows_read, result.imported = counters["rows_read"], counters["imported"]
        result.duplicates, result.quarantined = counters["duplicates"], counters["quarantined"]
        if progress is not None:
            progress(result)

    try:
        for record in records:
            if isinstance(record, Checkpoint):
                flush()  # the source forgets what it sent once we ask for more: commit it first
                continue
            counters["rows_read"] += 1
            line_no += 1
            if isinstance(record, BadRow):
                line_no = record.line
                counters["quarantined"] += 1
                bad.append(writer.quarantine_row(result.batch_id, provider, record))
            else:
                reason = _validate(record)
                linked = index.link(record) if reason is None else reason
                if isinstance(linked, str):
                    counters["quarantined"] += 1
                    bad.append(writer.quarantine_row(
                        result.batch_id, provider, BadRow(line_no, linked, _raw(record))))
                else:
                    sub_line, cycle = linked
                    rows.append(writer.row(record, sub_line, cycle, provider, result.batch_id))
                    touched.add(CustomerCycle(sub_line.customer_id, cycle))
                    cost += record.provider_cost
            if len(rows) + len(bad) >= batch_size:
                flush()
        flush()
    except ProviderError as exc:
        flush()
        result.error = str(exc)
        _finish(db, result, "failed", clock)
        result.touched, result.provider_cost = touched, cost
        raise
    result.touched, result.provider_cost = touched, cost
    _finish(db, result, "completed" if not result.nothing_read else "failed", clock)
    return result


def _finish(db: Database, result: ImportResult, status: ImportStatus, clock: Clock) -> None:
    with db.transaction() as s:
        s.execute(update(ImportBatch).where(ImportBatch.id == result.batch_id).values(
            status=status, finished_at=clock(), error_message=result.error))


def _raw(cdr: ProviderCdr) -> str:
    return ",".join(str(v) for v in (cdr.provider_ref, cdr.number, cdr.call_date.isoformat(),
                                     cdr.call_type, cdr.destination, cdr.duration_s, cdr.volume_kb,
                                     cdr.provider_cost))


def touched_cycles(db: Database, sync_task_id: int) -> set[CustomerCycle]:
    """Customer-cycles that every import of a sync task committed CDRs into, over all its attempts."""
    with db.reader() as s:
        stored = s.scalars(select(ImportBatch.touched_cycles).where(
            ImportBatch.sync_task_id == sync_task_id, ImportBatch.touched_cycles.is_not(None))).all()
    return {CustomerCycle(int(c), date.fromisoformat(d)) for text in stored for c, d in json.loads(text or "[]")}


def quarantined_rows(db: Database, batch_id: int, limit: int = 100) -> list[QuarantinedRow]:
    with db.reader() as s:
        return list(s.scalars(select(QuarantinedRow).where(QuarantinedRow.import_batch_id == batch_id)
                              .order_by(QuarantinedRow.line).limit(limit)))
