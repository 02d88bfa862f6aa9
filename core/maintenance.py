"""Housekeeping jobs the scheduler runs, and the operations overview `expensis status` shows.

Every job has the scheduler's signature `(runtime, fire_time) -> str` and is a
catch-up scan: it acts on whatever is due at `fire_time`, so a tick that was
lost (leader crashed mid-job) is made good by the next one.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, or_, select, update

from core.bus.bus import DISCARDED, DONE, FAILED, QUEUED, RUNNING, affected
from core.bus.deps import JobRuntime
from core.db import Database
from core.models import CustomerStatus, ImportBatch, Message, SchedulerTick, SyncProfile, SyncTask
from core.workflows.totals import (
    BillingInsightTotals,
    CalculateTotals,
    CalculateTotalsRateplan,
    DispatchTotals,
    SaveStatus,
    dispatch_totals,
)

log = logging.getLogger(__name__)

EXPORT_RETENTION_DAYS = 90
LOG_RETENTION_DAYS = 90
MESSAGE_RETENTION_DAYS = 30  # done and discarded messages; failed ones stay until handled
TICK_RETENTION_DAYS = 30
PURGE_BATCH = 1000  # rows per delete transaction, so a purge never holds long locks
STALE_IMPORT_AFTER = timedelta(hours=2)
STALE_IMPORT_ERROR = "abandoned: no progress for 2 h"

MESSAGES = cast(Table, Message.__table__)
TICKS = cast(Table, SchedulerTick.__table__)
ROTATED_LOG = re.compile(r"\.log\.\d")  # expensis.log.1 (size rotation) or .log.2026-05-01

# The steps of a totals workflow before SaveStatus clears `recalc_requested`.
TOTALS_STEPS = tuple(c.type_name() for c in (DispatchTotals, CalculateTotalsRateplan,
                                             CalculateTotals, BillingInsightTotals, SaveStatus))


# -- due totals ------------------------------------------------------------------------------

def _totals_targets(db: Database, statuses: tuple[str, ...]) -> set[tuple[int, str]]:
    """(customer_id, cycle ISO date) of totals steps with one of `statuses`."""
    with db.reader() as session:
        payloads = session.execute(
            select(MESSAGES.c.payload).where(MESSAGES.c.command_type.in_(TOTALS_STEPS),
                                             MESSAGES.c.status.in_(statuses))).scalars().all()
    targets: set[tuple[int, str]] = set()
    for payload in payloads:
        try:
            data = json.loads(payload)
            targets.add((int(data["customer_id"]), str(data["cycle_start_date"])))
        except (ValueError, KeyError, TypeError):
            continue
    return targets


def due_totals_job(runtime: JobRuntime, fire_time: datetime) -> str:
    """Dispatch totals for customer-cycles whose recalculation was requested but has none in flight.

    A recalculation requested while no worker ran (or whose message was lost with
    a database restore) is not forgotten. A customer-cycle whose totals step failed
    is left for the operator to retry or discard, not re-dispatched every hour.
    """
    db = runtime.db
    with db.reader() as session:
        requested = session.execute(
            select(CustomerStatus.customer_id, CustomerStatus.cycle_start_date)
            .where(CustomerStatus.recalc_requested.is_(True))
            .order_by(CustomerStatus.customer_id, CustomerStatus.cycle_start_date)).all()
    if not requested:
        return "no recalculation requested"
    in_flight = _totals_targets(db, (QUEUED, RUNNING))
    failed = _totals_targets(db, (FAILED,))
    dispatched = busy = waiting = 0
    for customer_id, cycle_start in requested:
        key = (int(customer_id), cycle_start.isoformat())
        if key in in_flight:
            busy += 1
        elif key in failed:
            waiting += 1
        else:
            dispatch_totals(runtime.bus, int(customer_id), cycle_start, trigger="schedule")
            dispatched += 1
    return (f"dispatched {dispatched} recalculation(s); {busy} already in flight; "
            f"{waiting} waiting on a failed message")


# -- stale imports ---------------------------------------------------------------------------

def reap_stale_imports(db: Database, now: datetime) -> int:
    """Mark import batches without progress for STALE_IMPORT_AFTER as failed.

    Progress is the last committed batch (`updated_at`), so a long import that keeps
    committing is left alone. CDRs a reaped batch already committed stay (inserts
    dedup on provider_ref), so a re-sync adds only what is missing.
    """
    last_progress = func.coalesce(ImportBatch.updated_at, ImportBatch.created_at)
    with db.transaction() as session:
        result = session.execute(
            update(ImportBatch)
            .where(ImportBatch.status == "running", last_progress < now - STALE_IMPORT_AFTER)
            .values(status="failed", error_message=STALE_IMPORT_ERROR, finished_at=now)
            .execution_options(synchronize_session=False))
    return affected(result)


def reap_stale_imports_job(runtime: JobRuntime, fire_time: datetime) -> str:
    reaped = reap_stale_imports(runtime.db, fire_time)
    return f"reaped {reaped} stale import batch(es)" if reaped else "no stale imports"


# -- purge -----------------------------------------------------------------------------------

def _delete_old_files(directory: Path, before: datetime, *, only: re.Pattern[str] | None = None) -> int:
    if not directory.is_dir():
        return 0
    cutoff = before.timestamp()
    removed = 0
    for path in directory.rglob("*"):
        if only is not None and not only.search(path.name):
            continue
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError as exc:  # in use or already gone: the next purge tries again
            log.warning("could not purge %s: %s", path, exc)
    return removed


def purge_messages(db: Database, before: datetime) -> int:
    """Delete done/discarded messages finished before `before`, PURGE_BATCH rows at a time."""
    finished_before = or_(MESSAGES.c.finished_at < before,
                          and_(MESSAGES.c.finished_at.is_(None), MESSAGES.c.created_at < before))
    old = (select(MESSAGES.c.id).where(MESSAGES.c.status.in_((DONE, DISCARDED)), finished_before)
           .order_by(MESSAGES.c.id).limit(PURGE_BATCH))
    removed = 0
    while True:
        with db.transaction() as session:
            ids = list(session.execute(old).scalars())
            if ids:
                # A later chain step (perhaps failed, and kept) must not point at a deleted row.
                session.execute(update(MESSAGES).where(MESSAGES.c.parent_id.in_(ids))
                                .values(parent_id=None))
                session.execute(delete(MESSAGES).where(MESSAGES.c.id.in_(ids)))
        removed += len(ids)
        if len(ids) < PURGE_BATCH:
            return removed


def purge_ticks(db: Database, before: datetime) -> int:
    old = select(TICKS.c.id).where(TICKS.c.fire_time < before).order_by(TICKS.c.id).limit(PURGE_BATCH)
    removed = 0
    while True:
        with db.transaction() as session:
            ids = list(session.execute(old).scalars())
            if ids:
                session.execute(delete(TICKS).where(TICKS.c.id.in_(ids)))
        removed += len(ids)
        if len(ids) < PURGE_BATCH:
            return removed


def purge_job(runtime: JobRuntime, fire_time: datetime) -> str:
    """Delete exports and rotated logs older than 90 days, finished messages and ticks older
    than 30 days. Invoices are never purged (they are kept for the tax retention period)."""
    settings = runtime.settings
    exports = _delete_old_files(settings.exports_dir, fire_time - timedelta(days=EXPORT_RETENTION_DAYS))
    logs = _delete_old_files(settings.logs, fire_time - timedelta(days=LOG_RETENTION_DAYS),
                             only=ROTATED_LOG)
    messages = purge_messages(runtime.db, fire_time - timedelta(days=MESSAGE_RETENTION_DAYS))
    ticks = purge_ticks(runtime.db, fire_time - timedelta(days=TICK_RETENTION_DAYS))
    return (f"removed {exports} export file(s), {logs} log file(s), {messages} message(s), "
            f"{ticks} tick(s)")


# -- operations overview ---------------------------------------------------------------------

@dataclass(frozen=True)
class ProfileSync:
    """A sync profile and its latest sync task (None fields: never synced)."""

    profile_id: int
    profile: str
    provider: str
    active: bool
    status: str | None
    reason: str | None
    cycle_start_date: date | None
    updated_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def last_sync_per_profile(db: Database) -> list[ProfileSync]:
    latest = (select(SyncTask.sync_profile_id, func.max(SyncTask.id).label("task_id"))
              .group_by(SyncTask.sync_profile_id).subquery())
    query = (select(SyncProfile.id, SyncProfile.name, SyncProfile.provider, SyncProfile.active,
                    SyncTask.status, SyncTask.reason, SyncTask.cycle_start_date, SyncTask.updated_at)
             .outerjoin(latest, latest.c.sync_profile_id == SyncProfile.id)
             .outerjoin(SyncTask, SyncTask.id == latest.c.task_id)
             .order_by(SyncProfile.name))
    with db.reader() as session:
        rows = session.execute(query).all()
    return [ProfileSync(int(r[0]), r[1], r[2], bool(r[3]), r[4], r[5], r[6], r[7]) for r in rows]

