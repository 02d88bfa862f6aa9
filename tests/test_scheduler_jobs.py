"""Scheduled jobs: one tick per fire time even with two leaders, schedules across DST, housekeeping."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, insert, select

from core.bus import run_until_idle
from core.config import load_settings
from core.db import Database
from core.maintenance import (
    PURGE_BATCH,
    STALE_IMPORT_ERROR,
    due_totals_job,
    last_sync_per_profile,
    purge_job,
    reap_stale_imports_job,
)
from core.models import (
    CustomerStatus,
    ImportBatch,
    Message,
    SchedulerTick,
    SyncProfile,
    SyncTask,
)
from core.runtime import Runtime
from core.totals import mark_recalc_requested
from scheduler.jobs import (
    DAY,
    JobSpec,
    WallClockCron,
    every,
    job_specs,
    last_fire_time,
    probe_job,
    run_spec,
)
from scheduler.lease import LeaderLease
from scheduler.service import SchedulerService, next_runs, record_tick
from tests.factories import make_setup
from tests.test_scheduler_lease import FrozenClock

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 5, 9, 10, 2, 13, tzinfo=UTC)


@pytest.fixture
def rt(db: Database, tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime(load_settings(data_dir=tmp_path / "data", db_url=db.url, environ={}))
    yield runtime
    runtime.close()


def fire_times(trigger: object, start: datetime, end: datetime) -> list[datetime]:
    """Walk a trigger the way APScheduler does: next after the previous fire time."""
    times: list[datetime] = []
    previous = None
    now = start
    while True:
        nxt = trigger.get_next_fire_time(previous, now)  # type: ignore[attr-defined]
        if nxt is None or nxt >= end:
            return times
        assert previous is None or nxt.astimezone(UTC) > previous.astimezone(UTC), "not increasing"
        times.append(nxt)
        previous, now = nxt, nxt + timedelta(seconds=1)
        assert len(times) < 10_000


def tick_rows(db: Database) -> list[tuple[str, datetime, str, int]]:
    with db.reader() as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(SchedulerTick.job, SchedulerTick.fire_time, SchedulerTick.holder, SchedulerTick.epoch)
            .order_by(SchedulerTick.fire_time))]


# -- ticks -----------------------------------------------------------------------------------

QUIET = [JobSpec("noop", every(AMS, days=3650), probe_job, "never fires in a test")]


def test_two_schedulers_with_a_frozen_clock_enqueue_one_tick(rt: Runtime) -> None:
    clock = FrozenClock(NOW)
    a = SchedulerService(rt, clock=clock, holder="host-a:1", ttl_s=30, specs=QUIET)
    b = SchedulerService(rt, clock=clock, holder="host-b:2", ttl_s=30, specs=QUIET)
    try:
        assert a.step() and not b.step()
        first = NOW.replace(second=0)
        assert a.fire("noop", first).outcome == "done"
        assert b.fire("noop", first).outcome == "fenced"  # b does not lead

        # a stalls past its lease; b takes over; a has not noticed yet and both fire the next tick.
        clock.advance(31)
        assert b.step() and b.lease.epoch == 2
        assert a.is_leader
        second = first + timedelta(minutes=5)
        assert a.fire("noop", second).outcome == "fenced"
        assert b.fire("noop", second).outcome == "done"
        assert b.fire("noop", second).outcome == "duplicate"
        assert not a.step() and not a.is_leader  # its renew fails: fenced off, schedule stopped

        assert tick_rows(rt.db) == [("noop", first, "host-a:1", 1), ("noop", second, "host-b:2", 2)]
        status = a.status()
        assert not status.is_leader and status.leader_holder == "host-b:2"
        assert status.attached_to == "host-b" and "attached to daemon on host-b" in status.describe()
    finally:
        a.stop()
        b.stop()
    assert b.status().leader_live is False  # stop() released the lease


def test_racing_inserts_of_one_fire_time_record_one_tick(rt: Runtime) -> None:
    lease = LeaderLease(rt.db, holder="host-a:1", ttl_s=30)
    assert lease.try_acquire()
    fire = NOW.replace(second=0)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def record() -> None:
        barrier.wait()
        outcomes.append(record_tick(rt.db, lease, "sync_manager", fire))

    threads = [threading.Thread(target=record) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["duplicate"] * 3 + ["recorded"]
    assert len(tick_rows(rt.db)) == 1


def test_leader_runs_apscheduler_and_listeners_see_each_run(rt: Runtime) -> None:
    specs = [JobSpec("probe", every(AMS, seconds=1), probe_job, "probe", 5)]
    service = SchedulerService(rt, holder="host-a:1", ttl_s=3, specs=specs)
    runs = []
    seen = threading.Event()

    def listener(run: object) -> None:
        runs.append(run)
        seen.set()

    service.add_listener(listener)
    service.start()
    try:
        assert seen.wait(10), "the probe job never ran"
        status = service.status()
        assert status.is_leader and status.jobs[0][0] == "probe" and status.jobs[0][1] is not None
    finally:
        service.stop()
    run = runs[0]
    assert run.outcome == "done" and run.summary == "alive"
    assert (run.job, run.fire_time.microsecond) == ("probe", 0)  # the scheduled time, not "now"
    assert [r[0] for r in tick_rows(rt.db)][:1] == ["probe"]


DAILY = [JobSpec("daily", WallClockCron(AMS, hour=3, minute=30), probe_job,
                 "a daily job", misfire_grace_s=3600, catch_up_s=DAY)]


def test_a_new_leader_catches_up_a_daily_run_missed_while_nobody_led(rt: Runtime) -> None:
    clock = FrozenClock(NOW)  # 12:02 CEST: today's 03:30 passed while no daemon ran
    today, yesterday = datetime(2026, 5, 9, 3, 30, tzinfo=AMS), datetime(2026, 5, 8, 3, 30, tzinfo=AMS)
    a = SchedulerService(rt, clock=clock, holder="host-a:1", ttl_s=30, specs=DAILY)
    try:
        assert a.step()
        assert a.caught_up.wait(10)  # the promotion's own catch-up ran on the frozen clock
        assert a.catch_up(NOW) == []  # never ran here: a fresh install does not catch up
        assert a.fire("daily", yesterday).outcome == "done"  # the old leader's last run
        (run,) = a.catch_up(NOW)
        assert (run.job, run.fire_time, run.outcome) == ("daily", today, "done")
        assert a.catch_up(NOW) == []  # once only
        (late,) = a.catch_up(NOW + timedelta(days=3))  # down three days: the latest run only
        assert late.fire_time == datetime(2026, 5, 12, 3, 30, tzinfo=AMS)
    finally:
        a.stop()
    assert [t[1] for t in tick_rows(rt.db)] == [yesterday, today, late.fire_time]


def test_promotion_runs_the_catch_up_in_the_scheduler(rt: Runtime) -> None:
    now = datetime.now(UTC)
    specs = [JobSpec("daily", WallClockCron(AMS, hour=now.astimezone(AMS).hour, minute=0),
                     probe_job, "a daily job", catch_up_s=DAY)]
    service = SchedulerService(rt, holder="host-a:1", ttl_s=3, specs=specs)
    missed = next(t for t in reversed(fire_times(specs[0].trigger, now - timedelta(days=2), now)))
    lease = LeaderLease(rt.db, holder="old-host:9", ttl_s=30)
    assert lease.try_acquire()
    assert record_tick(rt.db, lease, "daily", missed - timedelta(days=1)) == "recorded"
    lease.release()
    runs: list[object] = []
    seen = threading.Event()
    service.add_listener(lambda run: (runs.append(run), seen.set()))
    service.start()
    try:
        assert seen.wait(10), "the missed run was not caught up"
    finally:
        service.stop()
    assert [(r.job, r.fire_time, r.outcome) for r in runs] == [("daily", missed, "done")]  # type: ignore[attr-defined]


def test_only_daily_and_monthly_jobs_catch_up(tmp_path: Path) -> None:
    specs = {s.name: s for s in job_specs(load_settings(data_dir=tmp_path, environ={}))}
    assert {n for n, s in specs.items() if s.catch_up_s} == {"purge", "balance_update", "invoice_run"}
    assert last_fire_time(specs["sync_manager"], NOW) is None
    assert last_fire_time(specs["purge"], NOW) == datetime(2026, 5, 9, 3, 30, tzinfo=AMS)


# -- schedules -------------------------------------------------------------------------------

def test_next_runs_come_from_the_trigger_definitions(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, environ={})
    runs = dict(next_runs(settings, NOW))
    assert runs == {
        "sync_manager": datetime(2026, 5, 9, 10, 5, tzinfo=UTC),
        "due_totals": datetime(2026, 5, 9, 11, 0, tzinfo=UTC),
        "stale_import_reaper": datetime(2026, 5, 9, 10, 15, tzinfo=UTC),
        "purge": datetime(2026, 5, 10, 3, 30, tzinfo=AMS),
        "invoice_run": datetime(2026, 5, 15, 6, 0, tzinfo=AMS),  # the 15th (invoice_day), 06:00 local
        "balance_update": datetime(2026, 5, 10, 5, 0, tzinfo=AMS),  # daily 05:00 local: tomorrow
        "failure_digest": datetime(2026, 5, 9, 11, 0, tzinfo=UTC),  # hourly, on the hour
        "dunning": datetime(2026, 5, 10, 9, 0, tzinfo=AMS),  # daily 09:00 local: tomorrow
    }
    assert all(t is not None and t.tzinfo is not None and t.utcoffset() == timedelta(hours=2)
               for t in runs.values())  # shown in the configured zone (CEST)
    seven = load_settings(data_dir=tmp_path, environ={}, overrides={"sync_interval_minutes": 7})
    # 10:02 UTC is 13,860,602 minutes after the anchor, a multiple of 7: the next is 10:09.
    assert dict(next_runs(seven, NOW))["sync_manager"] == datetime(2026, 5, 9, 10, 9, tzinfo=UTC)


@pytest.mark.parametrize(("start", "before", "after"), [
    (datetime(2026, 3, 27, 12, tzinfo=AMS), 1, 2),  # 29 March: CET (+1) to CEST (+2)
    (datetime(2026, 10, 23, 12, tzinfo=AMS), 2, 1),  # 25 October: CEST to CET
], ids=["spring", "autumn"])
def test_daily_0330_purge_fires_once_per_local_day_across_the_dst_change(
        tmp_path: Path, start: datetime, before: int, after: int) -> None:
    purge = next(s for s in job_specs(load_settings(data_dir=tmp_path, environ={})) if s.name == "purge")
    times = fire_times(purge.trigger, start, start + timedelta(days=4))
    local = [t.astimezone(AMS) for t in times]
    assert [t.date() for t in local] == [start.date() + timedelta(days=d) for d in range(1, 5)]
    assert {(t.hour, t.minute) for t in local} == {(3, 30)}
    assert [t.utcoffset() for t in local] == [timedelta(hours=h) for h in (before, after, after, after)]


def test_a_0230_job_fires_once_on_the_autumn_change_and_once_on_the_spring_change() -> None:
    trigger = WallClockCron(AMS, hour=2, minute=30)
    autumn = fire_times(trigger, datetime(2026, 10, 24, 12, tzinfo=AMS), datetime(2026, 10, 27, tzinfo=AMS))
    assert [t.astimezone(UTC) for t in autumn] == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST, the first 02:30
                      datetime(2026, 10, 26, 1, 30, tzinfo=UTC)]  # 02:30 CET
    spring = fire_times(trigger, datetime(2026, 3, 28, 12, tzinfo=AMS), datetime(2026, 3, 31, tzinfo=AMS))
    # 02:30 does not exist on 29 March: it runs at the same offset after the jump, 03:30 CEST.
    assert [t.astimezone(AMS).isoformat() for t in spring] == [
        "2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"]


def test_observed_apscheduler_3_crontrigger_fires_0230_twice_on_the_autumn_change() -> None:
    """Why WallClockCron exists. APScheduler 3.11's CronTrigger yields 02:30 CEST and 02:30 CET
    on 25 October, and then keeps returning 02:30 CET (agronholm/apscheduler#1021): a scheduler
    with that job would run it twice and then spin. If this starts failing after an upgrade,
    the upstream behaviour changed: re-check WallClockCron's reason to exist."""
    trigger = CronTrigger(hour=2, minute=30, timezone=AMS)
    first = trigger.get_next_fire_time(None, datetime(2026, 10, 24, 12, tzinfo=AMS))
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
    assert first.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert second.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    third = trigger.get_next_fire_time(second, second + timedelta(seconds=1))
    assert third.astimezone(UTC) == second.astimezone(UTC)  # stuck


def test_interval_jobs_keep_real_time_spacing_across_the_autumn_change(tmp_path: Path) -> None:
    sync = job_specs(load_settings(data_dir=tmp_path, environ={}))[0]
    start = datetime(2026, 10, 25, 0, 0, tzinfo=AMS)  # 5 real hours to 04:00 CET
    times = fire_times(sync.trigger, start, datetime(2026, 10, 25, 4, 0, tzinfo=AMS))
    gaps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in zip(times, times[1:], strict=False)}
    assert gaps == {timedelta(minutes=5)} and len(times) == 5 * 12


def test_every_job_names_its_function_by_reference(tmp_path: Path) -> None:
    specs = job_specs(load_settings(data_dir=tmp_path, environ={}), probe_every_s=1)
    assert len({s.name for s in specs}) == len(specs)
    assert all(callable(s.function) and not isinstance(s.function, str) for s in specs)
    assert {s.name: s.function.__name__ for s in specs}["invoice_run"] == "invoice_run_job"
    probe = next(s for s in specs if s.name == "probe")
    assert run_spec(probe, None, NOW) == "alive"  # type: ignore[arg-type]  # the probe needs no runtime


# -- housekeeping ----------------------------------------------------------------------------

def test_stale_import_batches_are_reaped_and_fresh_ones_left_alone(rt: Runtime) -> None:
    with rt.db.transaction() as s:
        for source, status, age in [("stuck", "running", 3), ("busy", "running", 1),
                                    ("old-done", "completed", 5)]:
            s.add(ImportBatch(provider="kpn_sp16", source=source, status=status, imported=10,
                              created_at=NOW - timedelta(hours=age)))
        # started 5 h ago but committed a batch 10 minutes ago: a long import, still progressing
        s.add(ImportBatch(provider="kpn_sp16", source="long", status="running", imported=10,
                          created_at=NOW - timedelta(hours=5), updated_at=NOW - timedelta(minutes=10)))
    assert reap_stale_imports_job(rt, NOW) == "reaped 1 stale import batch(es)"
    assert reap_stale_imports_job(rt, NOW) == "no stale imports"
    with rt.db.reader() as s:
        rows = {b.source: (b.status, b.error_message, b.imported) for b in s.scalars(select(ImportBatch))}
    assert rows == {"stuck": ("failed", STALE_IMPORT_ERROR, 10), "busy": ("running", None, 10),
                    "old-done": ("completed", None, 10), "long": ("running", None, 10)}


def _message(status: str, age_days: float, parent_id: int | None = None, **extra: object) -> dict:  # type: ignore[type-arg]
    at = NOW - timedelta(days=age_days)
    return dict(command_id=os.urandom(8).hex(), command_type="X", payload="{}", chain="[]",
                workflow_id="w", parent_id=parent_id, status=status, attempts=1, max_attempts=5,
                available_at=at, created_at=at,
                finished_at=at if status in ("done", "discarded", "failed") else None, **extra)


def test_purge_deletes_old_finished_messages_ticks_exports_and_rotated_logs(rt: Runtime) -> None:
    with rt.db.transaction() as s:
        parent = s.execute(insert(Message).values(_message("done", 40))).inserted_primary_key[0]
        child = s.execute(insert(Message).values(_message("failed", 40, parent))).inserted_primary_key[0]
        s.execute(insert(Message), [_message("done", 31), _message("discarded", 45),
                                    _message("done", 2), _message("queued", 60)])
        s.execute(insert(SchedulerTick), [
            {"job": "sync_manager", "fire_time": NOW - timedelta(days=d), "holder": "h", "epoch": 1}
            for d in (40, 31, 1)])
    old = (NOW - timedelta(days=91)).timestamp()
    files = {}
    for name, folder, age in [("old.xlsx", rt.settings.exports_dir / "2026", old),
                              ("new.csv", rt.settings.exports_dir, NOW.timestamp()),
                              ("expensis-daemon.log.3", rt.settings.logs, old),
                              ("expensis-daemon.log", rt.settings.logs, old),
                              ("expensis-daemon.log.1", rt.settings.logs, NOW.timestamp())]:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text("x")
        os.utime(path, (age, age))
        files[name] = path

    summary = purge_job(rt, NOW)
    assert summary == "removed 1 export file(s), 1 log file(s), 3 message(s), 2 tick(s)"
    with rt.db.reader() as s:
        left = sorted((m.status, round((NOW - m.created_at).days)) for m in s.scalars(select(Message)))
        orphan = s.get(Message, child)
        ticks = s.execute(select(func.count()).select_from(SchedulerTick)).scalar_one()
    assert left == [("done", 2), ("failed", 40), ("queued", 60)]  # failed kept for the operator
    assert orphan is not None and orphan.parent_id is None
    assert ticks == 1
    assert {n for n, p in files.items() if p.exists()} == {
        "new.csv", "expensis-daemon.log", "expensis-daemon.log.1"}
    assert purge_job(rt, NOW) == "removed 0 export file(s), 0 log file(s), 0 message(s), 0 tick(s)"
    assert PURGE_BATCH >= 100


def test_purge_deletes_in_batches(sqlite_db: Database, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import core.maintenance

    monkeypatch.setattr(core.maintenance, "PURGE_BATCH", 3)
    rt = Runtime(load_settings(data_dir=tmp_path / "data", db_url=sqlite_db.url, environ={}))
    with rt.db.transaction() as s:
        s.execute(insert(Message), [_message("done", 40) for _ in range(7)])
    assert core.maintenance.purge_messages(rt.db, NOW - timedelta(days=30)) == 7
    rt.close()


def dispatch_totals_messages(db: Database) -> list[dict]:  # type: ignore[type-arg]
    with db.reader() as s:
        return [json.loads(p) for p in s.scalars(
            select(Message.payload).where(Message.command_type == "DispatchTotals"))]


def test_due_totals_dispatches_once_and_not_again_while_one_is_in_flight(rt: Runtime) -> None:
    ids = make_setup(rt.db)
    cycle = date(2026, 10, 1)
    assert due_totals_job(rt, NOW) == "no recalculation requested"
    with rt.db.transaction() as s:
        mark_recalc_requested(s, ids["customer"], cycle)  # requested while no worker ran

    assert due_totals_job(rt, NOW).startswith("dispatched 1 recalculation(s); 0 already in flight")
    assert due_totals_job(rt, NOW).startswith("dispatched 0 recalculation(s); 1 already in flight")
    assert dispatch_totals_messages(rt.db) == [
        {"customer_id": ids["customer"], "cycle_start_date": "2026-10-01", "trigger": "schedule",
         "operator": ""}]

    run_until_idle(rt.bus)  # the chain ends with SaveStatus, which clears the request
    with rt.db.reader() as s:
        status = s.scalars(select(CustomerStatus)).one()
    assert not status.recalc_requested
    assert due_totals_job(rt, NOW) == "no recalculation requested"
    assert len(dispatch_totals_messages(rt.db)) == 1


def test_due_totals_leaves_a_failed_recalculation_to_the_operator(rt: Runtime) -> None:
    ids = make_setup(rt.db)
    cycle = date(2026, 10, 1)
    with rt.db.transaction() as s:
        mark_recalc_requested(s, ids["customer"], cycle)
        payload = json.dumps({"customer_id": ids["customer"], "cycle_start_date": "2026-10-01"})
        s.execute(insert(Message).values({**_message("failed", 0), "command_type": "CalculateTotals",
                                          "payload": payload}))
    assert due_totals_job(rt, NOW).endswith("1 waiting on a failed message")
    assert dispatch_totals_messages(rt.db) == []


def test_last_sync_per_profile_shows_the_latest_task_and_never_synced_profiles(rt: Runtime) -> None:
    ids = make_setup(rt.db)
    with rt.db.transaction() as s:
        synced = SyncProfile(name="acme kpn", customer_id=ids["customer"], provider="kpn_sp16",
                             base_url="http://127.0.0.1", customer_ref="A1")
        idle = SyncProfile(name="acme vodafone", customer_id=ids["customer"], provider="vodafone",
                           base_url="http://127.0.0.1", customer_ref="A2")
        s.add_all([synced, idle])
        s.flush()
        for status, reason in [("completed", None), ("failed", "invoice_not_yet_available")]:
            s.add(SyncTask(sync_profile_id=synced.id, customer_id=ids["customer"],
                           cycle_start_date=date(2026, 10, 1), status=status, reason=reason))
            s.flush()
    rows = last_sync_per_profile(rt.db)
    assert [(r.profile, r.status, r.reason) for r in rows] == [
        ("acme kpn", "failed", "invoice_not_yet_available"), ("acme vodafone", None, None)]


def test_a_stop_racing_the_scheduler_loop_leaves_no_traceback() -> None:
    """APScheduler 3's shutdown empties the job store while its loop may still remove the
    catch-up date job it just ran: that lookup must not kill the loop with a traceback,
    and an unknown job asked for while running is still an error."""
    from apscheduler.jobstores.base import JobLookupError

    from scheduler.service import _Scheduler

    scheduler = _Scheduler()
    scheduler.start(paused=True)
    with pytest.raises(JobLookupError):
        scheduler.remove_job("catch-up")
    scheduler.add_job(lambda: None, trigger="date", id="catch-up")
    scheduler.shutdown(wait=False)  # the job store is empty now
    scheduler.remove_job("catch-up")  # what the loop does next: no error once stopped
