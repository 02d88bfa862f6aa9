"""Leases follow their holders: a worker that lost its message's lease stops downloading."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from core.bus import Bus, WorkerPool, default_registry
from core.bus.deps import HandlerDeps
from core.db import Database
from core.models import Cdr, ImportBatch, Message, SyncProfile, SyncTask, utcnow
from core.workflows.sync import start_manual_sync
from providers.sandbox import SandboxServer
from tests.sync_support import make_world

MONTH = "2026-09"
SUBSCRIPTIONS, CDRS_EACH, PAGE = 20, 200, 50  # 4,000 CDRs in 80 pages


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def cdr_count(db: Database) -> int:
    with db.reader() as s:
        return int(s.scalar(select(func.count()).select_from(Cdr)) or 0)


def batches(db: Database) -> int:
    with db.reader() as s:
        return int(s.scalar(select(func.count()).select_from(ImportBatch)) or 0)


def test_a_worker_whose_lease_was_taken_stops_downloading_at_its_next_heartbeat(
        db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world = make_world(db, sandbox, tmp_path, ["kpn_sp16"])
    customer = sandbox.configure_customer("kpn_sp16", "KPN_SP16-REF", subscriptions=SUBSCRIPTIONS,
                               cdrs_per_subscription=CDRS_EACH, page_size=PAGE, faults={"slow": 0.05})
    # a short message lease: the heartbeat renews it every 0.3 s
    bus = Bus(db, default_registry, max_attempts=1, backoff_base=0.0, lease_seconds=0.9,
              deps=HandlerDeps(world.settings))
    with db.reader() as s:
        profile = s.scalars(select(SyncProfile.id)).one()
    start = start_manual_sync(bus, profile, MONTH, operator="test")
    pool = WorkerPool(bus, 1, poll_interval=0.05, label="victim").start()
    try:
        wait_for(lambda: batches(db) > 0, "the CDR download to start")
        with db.transaction() as s:  # another worker takes the message (as after a pause past the lease)
            sync_id = s.scalars(select(Message.id).where(Message.command_type == "KpnSp16Sync")).one()
            taken = s.execute(update(Message).where(Message.id == sync_id, Message.status == "running")
                              .values(lease_owner="thief:1:w", available_at=utcnow() + timedelta(hours=1)))
            assert taken.rowcount == 1  # type: ignore[attr-defined]
        wait_for(lambda: not pool.heartbeat.in_flight(), "the handler to stop", timeout=30)
        stopped_at = cdr_count(db)
    finally:
        pool.stop(0)
    month_total = customer.settings.month_cdr_count()
    assert month_total > 3000 and stopped_at < month_total // 2  # it did not download the rest of the month
    with db.reader() as s:
        message = s.get_one(Message, sync_id)
        task = s.get_one(SyncTask, start.task_id)
        batch = s.scalars(select(ImportBatch).where(ImportBatch.sync_task_id == task.id)).one()
    assert (message.status, message.lease_owner) == ("running", "thief:1:w")  # the thief's now, untouched
    assert task.status == "processing"  # not marked failed by the worker that lost it
    assert batch.status == "failed" and "lease lost" in (batch.error_message or "")


def test_an_unknown_import_batch_exits_4_with_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from expensis_tui.cli import main

    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "cdr", "quarantine", "9999"])
    assert result.exit_code == 4
    assert result.output.strip().splitlines() == ["error: no import batch 9999"]
