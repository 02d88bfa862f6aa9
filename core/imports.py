"""The import queue: CDRs from a file or a provider download into the CDR table.

Streaming end to end: records arrive from an iterator (a CSV parser or a provider
adapter), are checked against their ranges (core/cdr_checks.py), linked to their
subscription and billing cycle, and written in batches (core/cdr_store.py): a known
(provider, provider_ref) is a duplicate, or a correction when its content differs.
Each batch commits with the batch's counters, so a killed import keeps what landed
and a re-run adds only what is missing. Bad rows go to quarantine with line and reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from core.bus.errors import LeaseLost
from core.cdr_checks import CdrLimits, normalise_provider
from core.cdr_store import CdrWriter, Source, raw_cdr
from core.clock import Clock, system_clock
from core.db import Database
from core.import_rows import PositionalCdrs, fast_csv_import
from core.models import Customer, ImportBatch, QuarantinedRow, Subscription
from core.models.sync import ImportStatus
from core.month import CustomerCycle
from core.rating.cycles import cycle_for
from providers.base import BadRow, Checkpoint, ProviderCdr, ProviderError

log = logging.getLogger(__name__)

# Rows decoded ahead of their INSERT. A batch (the commit) may hold several such chunks: fewer
# commits write each index page fewer times, while memory stays bounded by the chunk. On SQLite a
# page a batch rewrites again overwrites its own frame in the WAL: at a million CSV rows, commits
# of 120,000 rows (two chunks of the fast path) took 0.7 s less CPU to write and checkpoint than
# commits of 60,000, and 1.2 s less wall time.
CHUNK_ROWS = 20_000
# (The CSV fast path holds larger chunks: core/import_rows.py, FAST_CHUNK_ROWS.)
BATCH_ROWS = 120_000  # rows per commit, at most (import_cdrs' batch_size)
# The first batch is small and each next one twice as large, up to batch_size: the first rows
# land (and progress shows) soon, a long import still commits seldom.
FIRST_BATCH = 5_000

@dataclass
class ImportResult:
    batch_id: int
    rows_read: int = 0
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    corrected: int = 0  # known provider_ref, different content: the new version replaced the old
    provider_cost: Decimal = Decimal("0")
    error: str | None = None
    touched: set[CustomerCycle] = field(default_factory=set)

    @property
    def nothing_read(self) -> bool:
        return self.imported + self.duplicates + self.corrected == 0 and (self.error is not None or self.rows_read == 0
                                                          or self.quarantined > 0)

    def summary(self) -> str:
        text = (f"imported {self.imported}, duplicates {self.duplicates}, "
                f"quarantined {self.quarantined}, corrected {self.corrected} (batch {self.batch_id})")
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
    batch_size: int = BATCH_ROWS,
    progress: Callable[[ImportResult], None] | None = None,
    index: SubscriptionIndex | None = None,
    first_line: int = 2,
    limits: CdrLimits | None = None,
    clock: Clock = system_clock,
) -> ImportResult:
    """Stream records into the CDR table; never raises for bad rows, only counts them.

    `first_line` is the line number of the first record when the source does not say
    (a CDR carries its own line; 2 for a CSV file with a header). Anything wrong with one
    row, expected or not, quarantines that row with the reason; `limits` are the ranges
    (CdrLimits() by default). `provider` must be a known provider name (UnknownProvider).

    A ProviderError from the source (a dropped stream, a missing column) stops the
    import: what was committed stays, the batch is marked failed, and the error is
    re-raised for the caller to classify. Any other error ends the batch `failed` too.
    """
    provider = normalise_provider(provider)
    limits = limits or CdrLimits()
    result = ImportResult(start_batch(db, provider, source, sync_task_id))
    run = ImportRun(db, result, provider, limits, index or SubscriptionIndex(db), CdrWriter(db, clock),
                    batch_size, progress, first_line)
    status: ImportStatus = "failed"
    try:
        # CSV lines go through the positional path (core/import_rows.py) when their format has one
        if not (isinstance(records, PositionalCdrs) and fast_csv_import(run, records)):
            take = run.take
            for record in records:
                take(record)
        run.flush()
        status = "completed" if not result.nothing_read else "failed"
    except (ProviderError, LeaseLost) as exc:  # keep what arrived; dedup makes a later import safe
        run.flush()
        result.error = str(exc)
        raise
    except BaseException as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        run.writer.close()
        result.touched = run.touched
        result.provider_cost = run.cost + Decimal(run.cost_units).scaleb(-4) if run.cost_units else run.cost
        _finish(db, result, status, clock)
    return result


class ImportRun:
    """One import's pending batch and counters: records are taken one at a time (`take`),
    or appended as finished rows by the CSV fast path, and written by `flush`."""

    def __init__(self, db: Database, result: ImportResult, provider: str, limits: CdrLimits,
                 index: SubscriptionIndex, writer: CdrWriter, batch_size: int,
                 progress: Callable[[ImportResult], None] | None, first_line: int) -> None:
        self.result = result
        self.provider = provider
        self.limits = limits
        self.window = limits.window()
        self.index = index
        self.writer = writer
        self.batch_size = batch_size  # rows per commit, at most
        self.commit_every = min(batch_size, FIRST_BATCH)  # rows in the open batch
        self.chunk_rows = CHUNK_ROWS  # rows held in memory before they are written, at most
        # Whether a batch stays open (uncommitted) over several chunks while more records are read.
        # Only the CSV fast path, reading a local file, sets it: any other source may wait on a
        # provider's server, and SQLite's one write lock must not wait with it (a sync renews its
        # lease from inside its record source: it waited on this very batch and failed).
        self.batch_spans_chunks = False
        self.chunk = min(self.commit_every, self.chunk_rows)
        self.uncommitted = 0  # rows written into the open batch
        self.progress = progress
        self.counters = {"rows_read": 0, "imported": 0, "duplicates": 0, "quarantined": 0, "corrected": 0}
        self.rows: list[tuple[Any, ...]] = []
        # the line and record of each row; the fast path leaves its lines undecoded until a
        # batch needs them (a duplicate or a refused row), see `resolve`
        self.sources: list[tuple[int, Any]] = []
        self.resolve: Callable[[list[tuple[int, Any]]], list[Source]] | None = None
        self.bad: list[tuple[Any, ...]] = []
        self.touched: set[CustomerCycle] = set()
        self.cost = Decimal("0")
        self.cost_units = 0  # ten-thousandths, from the fast path
        self.line_no = first_line - 1

    def flush(self) -> None:
        """Write what is pending and commit the batch with its counters."""
        self._write(commit=True)

    def write_chunk(self) -> None:
        """Write what is pending: committed at once, or, where a batch spans chunks, into the open
        batch, committed once it holds commit_every rows."""
        self._write(commit=not self.batch_spans_chunks
                    or self.uncommitted + len(self.rows) + len(self.bad) >= self.commit_every)

    def _write(self, commit: bool) -> None:
        result, counters = self.result, self.counters
        pending = len(self.rows) + len(self.bad)
        self.writer.flush(self.rows, self.sources, self.bad, result.batch_id, self.provider, counters,
                          self.touched, self.resolve, commit=commit)
        self.rows.clear()
        self.sources.clear()
        self.bad.clear()
        if not commit:
            self.uncommitted += pending
            return
        self.uncommitted = 0
        self.commit_every = min(self.commit_every * 2, self.batch_size)
        self.chunk = min(self.commit_every, self.chunk_rows)
        result.rows_read, result.imported = counters["rows_read"], counters["imported"]
        result.duplicates, result.quarantined = counters["duplicates"], counters["quarantined"]
        result.corrected = counters["corrected"]
        if self.progress is not None:
            self.progress(result)

    def quarantine(self, record: BadRow) -> None:
        self.counters["quarantined"] += 1
        self.bad.append(self.writer.quarantine_row(self.result.batch_id, self.provider, record))

    def take(self, record: ProviderCdr | BadRow | Checkpoint) -> None:
        """One record: checked, linked and added to the batch, or quarantined with its reason."""
        if isinstance(record, Checkpoint):
            self.flush()  # the source forgets what it sent once we ask for more: commit it first
            return
        self.counters["rows_read"] += 1
        self.line_no += 1
        if isinstance(record, BadRow):
            self.line_no = record.line
            self.quarantine(record)
        else:
            self.line_no = line_no = record.line or self.line_no
            try:
                reason = self.limits.check(record, self.window)
                linked = self.index.link(record) if reason is None else reason
                if isinstance(linked, str):
                    self.quarantine(BadRow(line_no, linked, raw_cdr(record)))
                else:
                    sub_line, cycle = linked
                    self.rows.append(self.writer.row(record, sub_line.customer_id, sub_line.subscription_id, cycle,
                                                     self.provider, self.result.batch_id))
                    self.sources.append((line_no, record))
                    if (sub_line.customer_id, cycle) not in self.touched:  # a NamedTuple: equal to the plain tuple
                        self.touched.add(CustomerCycle(sub_line.customer_id, cycle))
                    self.cost += record.provider_cost
            except Exception as exc:  # noqa: BLE001 - one row's value never fails the batch
                self.quarantine(BadRow(line_no, f"unreadable row: {type(exc).__name__}: {exc}", raw_cdr(record)))
        if len(self.rows) + len(self.bad) >= self.chunk:
            self.write_chunk()


def _finish(db: Database, result: ImportResult, status: ImportStatus, clock: Clock) -> None:
    """Close the batch; if even that fails (the disk is full), say so in the log, raise nothing
    over the error that got us here."""
    try:
        with db.transaction() as s:
            s.execute(update(ImportBatch).where(ImportBatch.id == result.batch_id).values(
                status=status, finished_at=clock(), error_message=result.error))
    except Exception:
        log.exception("import batch %s could not be marked %s", result.batch_id, status)
        if status == "completed":
            raise


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
