"""The sync pipeline against the sandbox over real HTTP: every platform, every fault."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.bus import run_until_idle
from core.bus.follow import progress_of
from core.db import Database
from core.models import BillingInsight, Cdr, Message, SyncProfile, SyncTask, Total
from core.workflows.sync import SyncBusy, start_manual_sync, sync_manager_tick
from providers.sandbox import SandboxServer
from tests.sync_support import SyncWorld, make_world

MONTH = "2026-09"
PLATFORMS = ["kpn_sp16", "kpn_een", "kpn_grip", "vodafone", "tmobile_calvi", "routit", "yielder"]


def profile_id(world: SyncWorld, platform: str) -> int:
    with world.db.reader() as s:
        return s.scalars(select(SyncProfile.id).where(SyncProfile.provider == platform)).one()


def sync(world: SyncWorld, platform: str, month: str = MONTH) -> SyncTask:
    start = start_manual_sync(world.bus, profile_id(world, platform), month, operator="test")
    run_until_idle(world.bus)
    with world.db.reader() as s:
        return s.get_one(SyncTask, start.task_id)


def cdr_count(world: SyncWorld) -> int:
    with world.db.reader() as s:
        return int(s.scalar(select(func.count()).select_from(Cdr)) or 0)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_platform_syncs_end_to_end(sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path,
                                         platform: str) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, [platform])
    task = sync(world, platform)
    assert (task.status, task.reason) == ("completed", None), task.error_message
    assert task.received_cdrs == cdr_count(world) > 0
    assert task.expected_cdrs in (None, task.received_cdrs)  # where the provider reports a count
    assert task.provider_invoice_total == task.provider_cost_total
    with world.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Total)) > 0
        assert not s.scalars(select(BillingInsight).where(BillingInsight.kind == "reconciliation")).all()
        steps = [m.command_type for m in s.scalars(select(Message).order_by(Message.id))]
    assert steps[0] == "SyncProfile" and steps[-1] == "CompleteSyncTask"
    assert steps.index("DispatchTotalsBackup") < steps.index("CompleteSyncTask")
    progress = progress_of(world.bus, [task.workflow_id])
    assert progress.done and (progress.note or "").startswith(f"{task.received_cdrs:,} ")


def test_sync_on_mariadb_and_resync_adds_nothing(db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(db, sandbox, tmp_path, ["vodafone"])
    first = sync(world, "vodafone")
    held = cdr_count(world)
    second = sync(world, "vodafone")
    assert first.status == second.status == "completed"
    assert cdr_count(world) == held and second.received_cdrs == held


def test_wrong_credentials_fail_at_once(sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, ["kpn_sp16"], faults={"kpn_sp16": ["wrong_credentials"]})
    task = sync(world, "kpn_sp16")
    assert (task.status, task.reason) == ("failed", "invalid_credentials")
    with world.db.reader() as s:
        failed = s.scalars(select(Message).where(Message.status == "failed")).one()
    assert failed.attempts == 1 and "InvalidCredentials" in (failed.error or "")
    assert "secret" not in (failed.error or "") + (task.error_message or "")


def test_invoice_not_yet_available_is_rescheduled(sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, ["kpn_een"], faults={"kpn_een": ["invoice_not_ready"]})
    before = datetime.now(UTC)
    task = sync(world, "kpn_een")
    assert (task.status, task.reason) == ("failed", "invoice_not_yet_available")
    with world.db.reader() as s:
        profile = s.scalars(select(SyncProfile)).one()
    assert profile.next_sync_date is not None and profile.next_sync_date >= before + timedelta(hours=5)
    assert cdr_count(world) > 0  # what was received is kept for the next attempt


def test_server_errors_retry_then_totals_anyway(sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, ["vodafone"], faults={"vodafone": {"server_error": True}})
    task = sync(world, "vodafone")
    assert (task.status, task.reason, task.totals_anyway) == ("failed", "unknown_error", True)
    assert task.retries == 3 and "totals calculated with the data already present" in (task.error_message or "")
    with world.db.reader() as s:
        statuses = {m.command_type: m.status for m in s.scalars(select(Message))}
    assert statuses["VodafoneSync"] == "done" and statuses["DispatchTotalsBackup"] == "done"


def test_slow_provider_times_out(sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, ["kpn_grip"], faults={"kpn_grip": {"slow": 1.5}},
                       timeout_s=0.3, max_attempts=2)
    task = sync(world, "kpn_grip")
    assert (task.status, task.reason, task.totals_anyway) == ("failed", "timeout", True)


def test_malformed_rows_are_quarantined_and_reconciliation_flags_it(sqlite_db: Database, sandbox: SandboxServer,
                                                                    tmp_path: Path) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, ["routit"], faults={"routit": {"malformed_rows": 5}})
    task = sync(world, "routit")
    assert task.status == "completed_with_warnings"  # the quarantined rows are a warning, not silence
    assert task.expected_cdrs is not None and cdr_count(world) < task.expected_cdrs
    with world.db.reader() as s:
        insight = s.scalars(select(BillingInsight).where(BillingInsight.kind == "reconciliation")).one()
    assert "provider reports" in insight.message


def test_dropped_stream_keeps_what_arrived_and_a_resync_adds_only_the_rest(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, ["tmobile_calvi"], subscriptions=6, cdrs=400,
                       faults={"tmobile_calvi": ["drop_mid_stream"]}, max_attempts=1)
    task = sync(world, "tmobile_calvi")
    assert (task.status, task.totals_anyway) == ("failed", True)
    partial = cdr_count(world)
    sandbox.clear_faults("tmobile_calvi", "TMOBILE_CALVI-REF")
    again = sync(world, "tmobile_calvi")
    assert again.status == "completed"
    assert cdr_count(world) == again.expected_cdrs
    with world.db.reader() as s:
        from core.models import ImportBatch

        last = s.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
    assert last is not None and last.imported == again.expected_cdrs - partial and last.duplicates == partial


def test_manager_creates_one_task_per_due_profile_and_skips_busy_ones(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, ["kpn_sp16", "vodafone"])
    now = datetime(2026, 10, 3, 8, 0, tzinfo=UTC)
    assert len(sync_manager_tick(world.bus, now)) == 2
    assert sync_manager_tick(world.bus, now) == []  # in flight, and not due
    with pytest.raises(SyncBusy):
        start_manual_sync(world.bus, profile_id(world, "kpn_sp16"), "2026-10", operator="test")
    run_until_idle(world.bus)
    with world.db.reader() as s:
        tasks = s.scalars(select(SyncTask)).all()
        profile = s.scalars(select(SyncProfile)).first()
    assert {t.status for t in tasks} == {"completed"} and {t.cycle_start_date.isoformat() for t in tasks} == {"2026-10-01"}
    assert profile is not None and profile.next_sync_date == now + timedelta(minutes=1440)
    assert sync_manager_tick(world.bus, now + timedelta(minutes=1441)) != []


def stored_at_checkpoints(world: SyncWorld) -> tuple[list[int], Callable[[Iterator[Any]], Iterator[Any]]]:
    """A pass-through of a record source, and the CDRs stored each time the importer, having
    handled a checkpoint, asks for what comes after it."""
    from providers import CHECKPOINT

    counts: list[int] = []

    def watched(items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            yield item
            if item is CHECKPOINT:  # the importer has handled it and asks for more
                counts.append(cdr_count(world))

    return counts, watched


def test_the_importer_commits_at_a_checkpoint_before_the_source_goes_on(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    from core.imports import import_cdrs
    from core.models import Customer
    from core.workflows.sync import upsert_subscriptions
    from providers import open_adapter

    world = make_world(sqlite_db, sandbox, tmp_path, ["yielder"], subscriptions=2, cdrs=15)
    committed_at_checkpoint, watched = stored_at_checkpoints(world)
    with open_adapter(sandbox.connection("yielder", "YIELDER-REF")) as adapter:
        with world.db.reader() as s:
            customer = s.scalars(select(Customer)).one()
        upsert_subscriptions(world.db, customer, adapter.fetch_subscriptions(MONTH))
        result = import_cdrs(world.db, watched(adapter.fetch_cdrs(MONTH, checkpoints=True)),  # type: ignore[arg-type]
                             provider="yielder", source="test", batch_size=1000, first_line=1)
    assert result.imported == 30 and committed_at_checkpoint == [30]  # all in, before the acks


def test_a_yielder_sync_retried_after_its_files_were_acknowledged_still_totals_them(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import update

    from core.models import Customer
    from providers import ProviderUnavailable
    from providers.adapter import DeclarativeAdapter

    world = make_world(sqlite_db, sandbox, tmp_path, ["yielder"], subscriptions=2, cdrs=15)
    original = DeclarativeAdapter.fetch_invoice_total
    calls: list[str] = []

    def flaky_invoice(self: DeclarativeAdapter, month: str) -> object:
        calls.append(month)
        if len(calls) == 1:  # after the files were downloaded and acknowledged
            raise ProviderUnavailable("yielder: 503 Service Unavailable on the invoice total")
        return original(self, month)

    monkeypatch.setattr(DeclarativeAdapter, "fetch_invoice_total", flaky_invoice)
    with world.db.transaction() as s:  # billing on the 15th: the month's CDRs fall in two cycles
        s.execute(update(Customer).values(billing_day=15))
    task = sync(world, "yielder")
    assert task.status == "completed" and len(calls) == 2
    assert sandbox.registry.customer("yielder", "YIELDER-REF").acknowledged  # the retry read an empty queue
    assert cdr_count(world) == 30
    with world.db.reader() as s:
        counted = s.scalar(select(func.sum(Total.count)).where(Total.call_type != "fee"))
        cycles = s.scalars(select(Total.cycle_start_date).distinct()).all()
    assert counted == 30 and len(cycles) == 2  # the first attempt's CDRs are in the totals all the same


class SteppingClock:
    """The bus clock, moving `step` each time it is read."""

    def __init__(self, step: timedelta) -> None:
        self.now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@pytest.mark.parametrize(("step", "progress_writes"), [(timedelta(0), 1), (timedelta(seconds=5), 3)])
def test_progress_is_written_at_most_every_two_seconds(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        step: timedelta, progress_writes: int) -> None:
    """Three batches (the import's first 5,000, then 10,000, then the last 3,000): each progress
    write is a transaction of its own, so a clock that stands still writes the count once, one
    that moves 5 s between reads writes every batch."""
    import core.workflows.sync as sync_workflow

    world = make_world(sqlite_db, sandbox, tmp_path, ["tmobile_calvi"], subscriptions=3, cdrs=6000)
    world.bus.clock = SteppingClock(step)
    writes: list[dict[str, object]] = []
    real = sync_workflow._set_task

    def recording(ctx: object, task_id: int, **values: object) -> None:
        writes.append(values)
        real(ctx, task_id, **values)  # type: ignore[arg-type]

    monkeypatch.setattr(sync_workflow, "_set_task", recording)
    task = sync(world, "tmobile_calvi")
    assert task.status == "completed" and task.received_cdrs == 18_000
    counts = [w["received_cdrs"] for w in writes if "received_cdrs" in w and "error_message" not in w]
    assert counts == [5_000, 15_000, 18_000][:progress_writes]


def test_a_count_held_back_is_written_when_the_stream_breaks(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, ["tmobile_calvi"], subscriptions=3, cdrs=4000,
                       max_attempts=1, faults={"tmobile_calvi": ["drop_mid_stream"]})
    world.bus.clock = SteppingClock(timedelta(0))
    task = sync(world, "tmobile_calvi")
    assert task.status == "failed"
    assert task.received_cdrs == cdr_count(world) == 6_000  # the half before the drop, not the first batch only


def write_lock_held_at_records(monkeypatch: pytest.MonkeyPatch, sqlite_db: Database) -> list[int]:
    """Make a sync renew its lease every 7 records and check, at each record its import asks
    for, that the write lock is free (as the renewal needs it to be); returns the numbers of
    the records asked for while it was held."""
    from core.workflows import sync as sync_workflow

    file = sqlite_db.url.split("///", 1)[1]
    held: list[int] = []
    beating = sync_workflow._beating

    def watched(records: Iterator[object], ctx: object, every: int = 7) -> Iterator[object]:
        probe = sqlite3.connect(file, timeout=0)
        try:
            for n, record in enumerate(beating(records, ctx, every), 1):  # type: ignore[arg-type]
                try:
                    probe.execute("BEGIN IMMEDIATE")
                    probe.execute("ROLLBACK")
                except sqlite3.OperationalError:
                    held.append(n)
                yield record
        finally:
            probe.close()

    monkeypatch.setattr(sync_workflow, "_beating", watched)  # provider_sync calls it with its default `every`
    return held


def test_a_long_sync_renews_its_lease_between_the_importer_s_writes(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sync renews its message's lease every so many records (core/workflows/sync.py,
    `_beating`) from inside the import's record source. The importer once kept its batch
    open over several chunks while it asked the source for more: on SQLite, one writer at a
    time, the renewal then waited on the importer's own open transaction for the whole
    busy timeout and the sync failed "database is locked" (seen on a 100,000-CDR month).
    Here with small chunks and a renewal every 7 records, and a record source that checks
    at each record that the write lock is free, as the renewal needs it to be."""
    monkeypatch.setattr("core.imports.CHUNK_ROWS", 10)
    held = write_lock_held_at_records(monkeypatch, sqlite_db)
    world = make_world(sqlite_db, sandbox, tmp_path, ["vodafone"], subscriptions=3, cdrs=40)
    task = sync(world, "vodafone")
    assert (task.status, task.reason) == ("completed", None), task.error_message
    assert task.received_cdrs == cdr_count(world) == 120
    assert held == []  # the source was never asked for a record while the importer held the write lock
