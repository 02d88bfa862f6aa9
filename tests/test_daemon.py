"""`expensis daemon` as real processes: election, takeover after SIGKILL, fencing, clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.db import Database
from core.models import SchedulerLease, SchedulerTick
from scheduler.daemon import LOG_FILE

ROOT = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()
pytestmark = pytest.mark.slow


class Daemons:
    """Starts daemon processes and makes sure none outlives the test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, url: str, *, ttl: float = 2, probe: float = 1) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        data = self.tmp_path / f"daemon-{n}"
        data.mkdir()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "expensis_tui", "--db", url, "--data-dir", str(data), "daemon",
             "--threads", "1", "--grace", "2", "--lease-ttl", str(ttl), "--probe-every", str(probe)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=(data / "stderr.log").open("wb"))
        self.procs.append(proc)
        return proc

    def stderr(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.tmp_path / f"daemon-{self.procs.index(proc)}" / "stderr.log").read_text()

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    started = Daemons(tmp_path)
    yield started
    started.kill_all()


def holder(proc: subprocess.Popen[bytes]) -> str:
    return f"{HOST}:{proc.pid}"


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def lease(db: Database) -> SchedulerLease | None:
    with db.reader() as s:
        return s.get(SchedulerLease, "scheduler")


def live_holder(db: Database) -> str | None:
    row = lease(db)
    return row.holder if row is not None and row.expires_at > datetime.now(UTC) else None


def ticks(db: Database, **where: object) -> list[tuple[datetime, str, int]]:
    query = select(SchedulerTick.fire_time, SchedulerTick.holder, SchedulerTick.epoch).filter_by(**where)
    with db.reader() as s:
        return [tuple(r) for r in s.execute(query.order_by(SchedulerTick.fire_time))]  # type: ignore[misc]


def duplicate_ticks(db: Database) -> list[tuple[str, datetime]]:
    with db.reader() as s:
        return [tuple(r) for r in s.execute(  # type: ignore[misc]
            select(SchedulerTick.job, SchedulerTick.fire_time).group_by(
                SchedulerTick.job, SchedulerTick.fire_time).having(func.count() > 1))]


def cli_status(url: str, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        [sys.executable, "-m", "expensis_tui", "--db", url, "--data-dir", str(tmp_path / "cli"),
         "status", "--json"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=60, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def mariadb_url(mariadb_server) -> str:  # type: ignore[no-untyped-def]
    return mariadb_server.new()  # type: ignore[no-any-return]


@pytest.mark.mariadb
def test_two_daemons_one_leader_takeover_after_sigkill_and_no_tick_twice(
        mariadb_url: str, daemons: Daemons, tmp_path: Path) -> None:
    db = Database(mariadb_url)
    try:
        first, second = daemons.start(mariadb_url), daemons.start(mariadb_url)
        wait_for(lambda: live_holder(db) in (holder(first), holder(second)), what="an elected leader")
        leader, standby = (first, second) if live_holder(db) == holder(first) else (second, first)
        wait_for(lambda: len(ticks(db, job="probe")) >= 2, what="the leader's probe ticks")
        status = cli_status(mariadb_url, tmp_path)
        assert status["scheduler"]["leader"] == holder(leader) and status["scheduler"]["leader_live"]
        assert status["scheduler"]["attached_to"] == HOST
        assert {h for _, h, _ in ticks(db)} == {holder(leader)}  # the standby never ticked

        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        # TTL 2 s, acquire every 0.67 s: the takeover comes within seconds; how soon after the
        # expiry is test_scheduler_lease's job (frozen clock), not a wall-clock bound here.
        wait_for(lambda: live_holder(db) == holder(standby), timeout=60, what="the standby to take over")
        wait_for(lambda: len(ticks(db, holder=holder(standby))) >= 2, what="the new leader's ticks")

        old = ticks(db, holder=holder(leader))
        new = ticks(db, holder=holder(standby))
        assert max(e for *_, e in old) < min(e for *_, e in new)  # a new term, a higher epoch
        assert max(t for t, *_ in old) < min(t for t, *_ in new)
        assert duplicate_ticks(db) == []

        standby.send_signal(signal.SIGTERM)
        assert standby.wait(20) == 0, daemons.stderr(standby)
        assert live_holder(db) is None
    finally:
        db.dispose()


@pytest.mark.mariadb
def test_a_paused_leader_that_wakes_up_is_fenced_and_ticks_nothing(
        mariadb_url: str, daemons: Daemons) -> None:
    db = Database(mariadb_url)
    try:
        leader = daemons.start(mariadb_url)
        wait_for(lambda: live_holder(db) == holder(leader), what="the first daemon to lead")
        standby = daemons.start(mariadb_url)
        wait_for(lambda: ticks(db, holder=holder(leader)), what="the leader's first tick")

        leader.send_signal(signal.SIGSTOP)  # a stall longer than the lease: GC, swap, a VM pause
        wait_for(lambda: live_holder(db) == holder(standby), timeout=60, what="the standby to take over")
        takeover_epoch = lease(db).epoch  # type: ignore[union-attr]
        leader.send_signal(signal.SIGCONT)
        time.sleep(3)  # the woken leader's APScheduler catches up on missed fire times

        assert live_holder(db) == holder(standby)
        assert all(e < takeover_epoch for *_, e in ticks(db, holder=holder(leader)))
        assert duplicate_ticks(db) == []
        assert "taken over by another process" in daemons.stderr(leader) or \
            "no longer leads" in daemons.stderr(leader)

        for proc in (leader, standby):
            proc.send_signal(signal.SIGTERM)
        assert [leader.wait(20), standby.wait(20)] == [0, 0]
    finally:
        db.dispose()


def test_sigterm_exits_0_and_releases_the_lease(sqlite_db: Database, daemons: Daemons,
                                                tmp_path: Path) -> None:
    daemon = daemons.start(sqlite_db.url, ttl=30, probe=1)
    wait_for(lambda: live_holder(sqlite_db) == holder(daemon), what="the daemon to lead")
    wait_for(lambda: ticks(sqlite_db, job="probe"), what="a probe tick")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(20) == 0, daemons.stderr(daemon)
    row = lease(sqlite_db)
    assert row is not None and row.holder == holder(daemon)
    assert row.expires_at < datetime.now(UTC)  # released, not left to lapse after 30 s
    log_file = tmp_path / "daemon-0" / "logs" / LOG_FILE
    assert "daemon stopped" in log_file.read_text()
    assert "elected scheduler leader" in daemons.stderr(daemon)


def test_after_a_clean_sigterm_of_the_leader_the_standby_leads_within_2_s(
        sqlite_db: Database, daemons: Daemons) -> None:
    # a long TTL: waiting for it to lapse (or for a standby's renew round, TTL/3) would take 20 s
    leader = daemons.start(sqlite_db.url, ttl=60, probe=1)
    wait_for(lambda: live_holder(sqlite_db) == holder(leader), what="the first daemon to lead")
    standby = daemons.start(sqlite_db.url, ttl=60, probe=1)
    wait_for(lambda: "worker thread" in daemons.stderr(standby), what="the standby to run")
    assert live_holder(sqlite_db) == holder(leader)
    leader.send_signal(signal.SIGTERM)
    wait_for(lambda: live_holder(sqlite_db) == holder(standby), timeout=2.0,
             what="the standby to lead within 2 s of the leader's SIGTERM")
    assert leader.wait(20) == 0, daemons.stderr(leader)
    standby.send_signal(signal.SIGTERM)
    assert standby.wait(20) == 0, daemons.stderr(standby)
