"""Sync pipeline: sync manager → SyncProfile (router) → provider sync → import queue →
DispatchTotals per touched cycle → CompleteSyncTask.

Statuses and reasons are the source system's: pending → processing → completed (or
completed_with_warnings when rows were quarantined), or failed with invalid_credentials, invoice_not_yet_available (rescheduled), timeout or
unknown_error. Transient provider failures are retried by the bus with back-off; after
the last attempt the totals are calculated anyway with what is present and the task
says so. Nothing received is lost: CDRs commit batch by batch and a re-sync adds only
what is missing (dedup on provider and provider_ref).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.bus import Bus, Command, Dispatched, HandlerContext
from core.bus.bus import describe, record_attempt
from core.bus.command import WorkflowReport
from core.bus.deps import JobRuntime
from core.bus.errors import LeaseLost
from core.cdr_checks import CdrLimits
from core.db import Database
from core.import_rows import PositionalCdrs
from core.imports import ImportResult, import_cdrs, touched_cycles
from core.insights import Insight, replace_insights
from core.models import Cdr, Customer, ImportBatch, Subscription, SyncProfile, SyncTask
from core.month import CustomerCycle, Month
from core.rating.cycles import cycle_for, cycle_for_label
from core.security import audit, roles
from core.security.secrets import SecretBox
from core.totals import lock_status
from core.workflows.totals import DispatchTotals
from providers.base import (
    InvoiceNotYetAvailable,
    ProfileConnection,
    ProviderError,
    ProviderSubscription,
)

log = logging.getLogger(__name__)

IN_FLIGHT = ("pending", "processing")
WITH_WARNINGS: Final = "completed_with_warnings"  # completed, but rows were quarantined
FINISHED = ("completed", WITH_WARNINGS, "failed")
INVOICE_RETRY = timedelta(hours=6)


class SyncBusy(Exception):
    """A sync of this profile is already pending or running."""


# -- commands ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncProfileCommand(Command):
    """The master router: one sync task, routed to its provider's sync command."""

    task_id: int

    @classmethod
    def type_name(cls) -> str:
        return "SyncProfile"

    def report(self, session: Session, workflow_id: str) -> WorkflowReport | None:
        """The task's word: a task that gave up is failed even when its chain went on."""
        task = session.get(SyncTask, self.task_id)
        if task is None:
            return None
        note = f"{task.received_cdrs or 0:,}" + (f" of {task.expected_cdrs:,}" if task.expected_cdrs else "") + " CDRs"
        if task.status != "failed":  # e.g. "1,152 imported, 48 quarantined" after the counts
            return WorkflowReport(note=f"{note}; {task.error_message}" if task.error_message else note)
        profile = session.get(SyncProfile, task.sync_profile_id)
        command = SYNC_COMMANDS.get(profile.provider) if profile else None
        return WorkflowReport(failed=True, failed_step=command.type_name() if command else self.type_name(),
                              error=f"{task.reason or 'failed'}: {task.error_message or ''}".rstrip(": "),
                              note=note)


@dataclass(frozen=True)
class ProviderSync(Command, abstract=True):
    """Base of the per-provider sync commands (one name per platform, one handler)."""

    task_id: int


def _sync_command(name: str) -> type[ProviderSync]:
    """A per-platform sync command: its own name on the bus, the shared fields and handler."""
    return dataclass(frozen=True)(type(name, (ProviderSync,), {"__module__": __name__, "__qualname__": name}))


@dataclass(frozen=True)
class CompleteSyncTask(Command):
    task_id: int


# Names follow the source system's vocabulary (KpnSp16Sync, VodafoneSync, ...).
SYNC_COMMANDS: dict[str, type[ProviderSync]] = {
    platform: _sync_command(name) for platform, name in (
        ("kpn_sp16", "KpnSp16Sync"), ("kpn_een", "KpnEenSync"), ("kpn_grip", "KpnGripSync"),
        ("vodafone", "VodafoneSync"), ("tmobile_calvi", "TMobileCalviSync"), ("routit", "RoutitSync"),
        ("yielder", "YielderSync"), ("csv_file", "CsvFileSync"))
}


# -- starting syncs ------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncStart:
    task_id: int
    workflow_id: str
    handle: Dispatched


def month_cycle_start(customer: Customer, month: str) -> date:
    return cycle_for_label(month, customer.billing_day).start


def task_month(task: SyncTask) -> str:
    return str(Month.of(task.cycle_start_date))


def create_task(bus: Bus, session: Session, profile: SyncProfile, month: str, trigger: str) -> SyncStart:
    customer = session.get_one(Customer, profile.customer_id)
    task = SyncTask(sync_profile_id=profile.id, customer_id=profile.customer_id,
                    cycle_start_date=month_cycle_start(customer, month), status="pending", trigger=trigger)
    session.add(task)
    session.flush()
    handle = bus.dispatch(SyncProfileCommand(task.id), session=session)
    task.workflow_id = handle.workflow_id
    return SyncStart(task.id, handle.workflow_id, handle)


def task_in_flight(session: Session, profile_id: int) -> int | None:
    return session.scalars(select(SyncTask.id).where(SyncTask.sync_profile_id == profile_id,
                                                     SyncTask.status.in_(IN_FLIGHT))).first()


def start_manual_sync(bus: Bus, profile_id: int, month: str, *, operator: str) -> SyncStart:
    """The operator's "sync now" for one profile and month; refused while one is in flight."""
    cycle_for_label(month, 1)  # validates YYYY-MM
    with bus.db.transaction() as session:
        profile = session.get(SyncProfile, profile_id)
        if profile is None:
            raise LookupError(f"no sync profile with id {profile_id}")
        roles.require(session, operator, roles.Action.SYNC_START, target=f"{profile.name} {month}")
        busy = task_in_flight(session, profile_id)
        if busy is not None:
            raise SyncBusy(f"a sync of {profile.name} is already pending or running (task {busy})")
        start = create_task(bus, session, profile, month, "manual")
        audit.record(session, operator=operator, action=roles.Action.SYNC_START, target=f"{profile.name} {month}",
                     detail=f"task {start.task_id}")
        return start


def current_month(now: datetime, zone: ZoneInfo) -> str:
    return str(Month.of(now.astimezone(zone)))


def sync_manager_tick(bus: Bus, now: datetime | None = None) -> list[int]:
    """Due, active profiles without a sync in flight get a task and a SyncProfile command.

    Moving next_sync_date is a conditional UPDATE checked by row count, so two managers
    ticking at once never create two tasks for one profile.
    """
    now = now or bus.clock()
    created: list[int] = []
    with bus.db.reader() as s:
        due = list(s.scalars(select(SyncProfile.id).where(
            SyncProfile.active.is_(True),
            (SyncProfile.next_sync_date.is_(None)) | (SyncProfile.next_sync_date <= now))))
    for profile_id in due:
        with bus.db.transaction() as session:
            profile = session.get_one(SyncProfile, profile_id)
            if task_in_flight(session, profile_id) is not None:
                continue
            moved = session.execute(
                update(SyncProfile).where(
                    SyncProfile.id == profile_id,
                    (SyncProfile.next_sync_date.is_(None)) | (SyncProfile.next_sync_date <= now))
                .values(next_sync_date=now + timedelta(minutes=profile.interval_minutes)))
            if not moved.rowcount:  # type: ignore[attr-defined]
                continue
            customer = session.get_one(Customer, profile.customer_id)
            start = create_task(bus, session, profile, current_month(now, ZoneInfo(customer.time_zone)),
                                 "schedule")
            created.append(start.task_id)
    return created


def sync_manager_job(runtime: JobRuntime, fire_time: datetime) -> str:
    """The scheduler's sync manager tick (every 5 minutes by default)."""
    created = sync_manager_tick(runtime.bus, fire_time)
    return f"sync manager: {len(created)} sync task(s) created"


# -- handlers ------------------------------------------------------------------------------

def sync_profile_router(cmd: SyncProfileCommand, ctx: HandlerContext) -> None:
    task = ctx.session.get_one(SyncTask, cmd.task_id)
    profile = ctx.session.get_one(SyncProfile, task.sync_profile_id)
    command = SYNC_COMMANDS.get(profile.provider)
    if command is None:
        _set_task(ctx, task.id, status="failed", reason="unknown_error",
                  error_message=f"no sync command for provider {profile.provider!r}")
        return
    ctx.route(command(cmd.task_id))


def _set_task(ctx: HandlerContext, task_id: int, **values: Any) -> None:
    """Task progress is visible at once (its own transaction), whatever the handler does next."""
    with ctx.db.transaction() as session:
        session.execute(update(SyncTask).where(SyncTask.id == task_id)
                        .values(updated_at=ctx.clock(), **values))


def connection_for(profile: SyncProfile, secrets: SecretBox, timeout_s: float = 30.0) -> ProfileConnection:
    credentials = secrets.decrypt(profile.credentials_encrypted) if profile.credentials_encrypted else {}
    return ProfileConnection(platform=profile.provider, base_url=profile.base_url,
                             credentials=credentials, customer_ref=profile.customer_ref, timeout_s=timeout_s)


def provider_sync(cmd: ProviderSync, ctx: HandlerContext) -> None:
    """Fetch subscriptions, CDRs and the invoice total; then totals for each touched cycle.

    Reads go through a reader session and imports commit batch by batch, so the
    handler's own transaction (and SQLite's write lock) is only opened at the end,
    to route on to the totals.
    """
    with ctx.db.reader() as session:
        task = session.get_one(SyncTask, cmd.task_id)
        profile = session.get_one(SyncProfile, task.sync_profile_id)
        customer = session.get_one(Customer, task.customer_id)
    month = task_month(task)
    _set_task(ctx, task.id, status="processing", retries=ctx.attempt - 1)
    progress = _Progress(ctx, task.id)
    try:
        deps = ctx.deps
        adapter = deps.open_adapter(connection_for(profile, deps.secrets, deps.settings.provider_timeout_s))
        try:
            new_subs = upsert_subscriptions(ctx.db, customer, adapter.fetch_subscriptions(month),
                                            provider=profile.provider)
            cdrs = adapter.fetch_cdrs(month, checkpoints=True)
            # a CSV body's lines stay open to the import's positional path (core/import_rows.py)
            records = cdrs.tapped(lambda lines: _beating(lines, ctx)) if isinstance(cdrs, PositionalCdrs) \
                else _beating(cdrs, ctx)
            result = import_cdrs(ctx.db, records, provider=profile.provider,
                                 source=f"{profile.provider}:{profile.customer_ref}:{month}",
                                 sync_task_id=task.id, first_line=1,
                                 progress=progress,
                                 limits=CdrLimits.from_settings(deps.settings, ctx.clock), clock=ctx.clock)
            invoice = adapter.fetch_invoice_total(month)
        finally:
            adapter.close()
    except ProviderError as exc:
        progress.flush()  # what arrived before the failure counts
        _provider_failed(ctx, task, profile, exc)
        return
    except LeaseLost:
        raise  # another worker has the sync now: its task is not ours to mark
    except Exception as exc:
        progress.flush()
        _set_task(ctx, task.id, status="failed", reason="unknown_error", error_message=describe(exc))
        raise
    differences = reconcile(ctx.db, task, customer, profile.provider, month, result,
                            invoice.amount if invoice else None, invoice.cdr_count if invoice else None)
    notes = [import_outcome(result), *differences]
    if new_subs:
        notes.append(f"{new_subs} new subscription(s) from the provider")
    _set_task(ctx, task.id, received_cdrs=result.rows_read, error_message="; ".join(notes))
    # Earlier attempts count too: a provider that forgets what it sent will not resend it.
    _route_totals(ctx, task, result.touched | touched_cycles(ctx.db, task.id))


def import_outcome(result: ImportResult) -> str:
    """What the sync's import did, in the words every report uses: "1,152 imported, 48 quarantined"."""
    text = f"{result.imported + result.duplicates + result.corrected:,} imported, {result.quarantined:,} quarantined"
    if result.corrected:
        text += f" ({result.corrected:,} corrected)"
    return text


def _beating(records: Iterator[Any], ctx: HandlerContext, every: int = 20_000) -> Iterator[Any]:
    """Pass records (or a CSV body's lines) through, renewing the lease now and then during a
    long download.

    Records are fetched page by page as they are consumed, so stopping here stops the
    download: once the lease is lost (the worker's heartbeat cancels the context), the next
    record raises LeaseLost instead of fetching the rest of the month for nothing.
    """
    cancelled = ctx.cancelled
    for n, record in enumerate(records, 1):
        if cancelled.is_set():
            ctx.check_cancelled()
        if n % every == 0:
            ctx.heartbeat()
        yield record


PROGRESS_EVERY = timedelta(seconds=2)


class _Progress:
    """The task's received count while the import runs, at most once per PROGRESS_EVERY.

    Each write is a transaction of its own and the import reports every batch (40 for
    a 200,000-CDR month): writing each one cost the sync about 6% of its time, for a
    count the console shows to the second at best. The last count is written when the
    import ends, whatever the interval.
    """

    def __init__(self, ctx: HandlerContext, task_id: int) -> None:
        self.ctx = ctx
        self.task_id = task_id
        self.written: datetime | None = None
        self.unwritten: int | None = None  # a count held back by the interval

    def __call__(self, result: ImportResult) -> None:
        now = self.ctx.clock()
        if self.written is not None and now - self.written < PROGRESS_EVERY:
            self.unwritten = result.rows_read
            return
        self.written, self.unwritten = now, None
        _set_task(self.ctx, self.task_id, received_cdrs=result.rows_read)

    def flush(self) -> None:
        """Write a count the interval held back (an import that stopped on an error)."""
        if self.unwritten is not None:
            _set_task(self.ctx, self.task_id, received_cdrs=self.unwritten)
            self.unwritten = None


def _route_totals(ctx: HandlerContext, task: SyncTask, touched: set[CustomerCycle]) -> None:
    cycles = sorted({t.cycle_start for t in touched if t.customer_id == task.customer_id}
                    | {task.cycle_start_date})
    first, *rest = [DispatchTotals(task.customer_id, c, "sync") for c in cycles]
    ctx.route(first, chain=[*rest, CompleteSyncTask(task.id)])


def _provider_failed(ctx: HandlerContext, task: SyncTask, profile: SyncProfile, exc: ProviderError) -> None:
    reason = exc.reason if exc.reason in ("invalid_credentials", "invoice_not_yet_available",
                                          "timeout") else "unknown_error"
    message = str(exc)
    if isinstance(exc, InvoiceNotYetAvailable):
        _set_task(ctx, task.id, status="failed", reason=reason, error_message=message)
        with ctx.db.transaction() as session:  # the sync manager tries again in a few hours
            session.execute(update(SyncProfile).where(SyncProfile.id == profile.id)
                            .values(next_sync_date=ctx.clock() + INVOICE_RETRY))
        return
    last_attempt = ctx.attempt >= ctx.message.max_attempts
    if exc.transient and not last_attempt:
        _set_task(ctx, task.id, status="processing", reason=reason, retries=ctx.attempt,
                  error_message=f"attempt {ctx.attempt} of {ctx.message.max_attempts}: {message}")
        raise exc  # the bus retries with back-off
    if exc.transient:  # out of attempts: calculate with what is present, and say so
        _set_task(ctx, task.id, status="failed", reason=reason, retries=ctx.attempt, totals_anyway=True,
                  error_message=f"gave up after {ctx.attempt} attempts: {message}; "
                                "totals calculated with the data already present")
        # the message completes `done` (the chain goes on): keep this last attempt's error with it
        record_attempt(ctx.session, ctx.message.id, ctx.attempt, ctx.clock(), "gave_up", message)
        _route_totals(ctx, task, touched_cycles(ctx.db, task.id))
        return
    _set_task(ctx, task.id, status="failed", reason=reason, error_message=message)
    raise exc  # permanent: the message fails at once, visible to the operator



def complete_sync_task(cmd: CompleteSyncTask, ctx: HandlerContext) -> None:
    task = ctx.session.get_one(SyncTask, cmd.task_id)
    if task.status == "processing":
        quarantined = ctx.session.scalars(select(ImportBatch.quarantined).where(
            ImportBatch.sync_task_id == task.id).order_by(ImportBatch.id.desc()).limit(1)).first()
        task.status = WITH_WARNINGS if quarantined else "completed"
        task.reason = None
    task.updated_at = status_at = ctx.clock()
    status = lock_status(ctx.session, task.customer_id, task.cycle_start_date)
    status.last_sync_at = status_at


# -- subscriptions and reconciliation ------------------------------------------------------

def upsert_subscriptions(db: Database, customer: Customer, subs: Iterator[ProviderSubscription],
                         provider: str | None = None) -> int:
    """Device details and dates from the provider; unknown numbers are added without a plan,
    on the platform they were listed by."""
    listed = list(subs)  # a customer's subscriptions: thousands at most, unlike its CDRs
    created = 0
    with db.transaction() as session:
        known: dict[str, Subscription] = {}
        numbers = [item.number for item in listed]
        for i in range(0, len(numbers), 500):
            known.update((s.number, s) for s in session.scalars(
                select(Subscription).where(Subscription.number.in_(numbers[i:i + 500]))))
        for item in listed:
            sub = known.get(item.number)
            if sub is None:
                sub = Subscription(customer_id=customer.id, number=item.number, start_date=item.start_date,
                                   provider=provider)
                session.add(sub)
                known[item.number] = sub
                created += 1
            elif sub.customer_id != customer.id:
                log.warning("provider lists %s for %s, but it belongs to another customer; left alone",
                            item.number, customer.code)
                continue
            for field in ("sim", "imei", "device_model", "portation_date", "end_date"):
                value = getattr(item, field)
                if value is not None and getattr(sub, field) != value:
                    setattr(sub, field, value)
            if sub.start_date is None and item.start_date is not None:
                sub.start_date = item.start_date
    return created


def reconcile(db: Database, task: SyncTask, customer: Customer, provider: str, month: str,
              result: ImportResult | None, invoice_amount: Decimal | None, expected: int | None) -> list[str]:
    """Expected vs received CDRs, provider invoice vs our provider costs: a mismatch is an insight,
    and the differences are returned for the task to show."""
    zone = ZoneInfo(customer.time_zone)
    first = cycle_for_label(month, 1)
    start, end = first.start_utc(zone), first.end_utc(zone)
    with db.transaction() as session:
        count, cost = session.execute(select(func.count(), func.sum(Cdr.provider_cost)).where(
            Cdr.customer_id == customer.id, Cdr.provider == provider,
            Cdr.call_date >= start, Cdr.call_date < end)).one()
        ours = Decimal(cost or 0).quantize(Decimal("0.0001"))
        session.execute(update(SyncTask).where(SyncTask.id == task.id).values(
            expected_cdrs=expected, provider_invoice_total=invoice_amount, provider_cost_total=ours))
        problems = []
        if expected is not None and expected != count:
            problems.append(f"provider reports {expected:,} CDRs, we hold {count:,}")
        if invoice_amount is not None and abs(invoice_amount - ours) > Decimal("0.01"):
            problems.append(f"provider invoice € {invoice_amount:.2f}, our provider costs € {ours:.2f}")
        cycle = cycle_for(start, customer.billing_day, zone).start
        found = [Insight("reconciliation", "warn", f"{provider} {month}: " + "; ".join(problems))] if problems else []
        replace_insights(session, customer.id, cycle, found, kinds=("reconciliation",))
    return problems
