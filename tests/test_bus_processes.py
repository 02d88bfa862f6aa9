"""Reliability with real worker processes: SIGKILL mid-handler, SIGTERM, 4 workers × 1,000."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core.bus import Bus, run_until_idle
from core.bus.command import default_registry
from core.db import Database
from core.models import Message
from tests.bus_plugin import EFFECT_DDL, RecordEffect

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def start_worker(url: str, *extra: str, lease: int = 2, threads: int = 1) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXPENSIS_LEASE_SECONDS": str(lease)}
    return subprocess.Popen(
        [sys.executable, "-m", "expensis_tui", "--db", url, "worker", "--threads", str(threads),
         "--plugin", "tests.bus_plugin", *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def wait_for(predicate, timeout: float = 120.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def statuses(db: Database) -> dict[str, int]:
    with db.reader() as s:
        return {k: v for k, v in s.execute(select(Message.status, func.count()).group_by(Message.status))}


def effects(db: Database) -> list[str]:
    with db.reader() as s:
        return [r[0] for r in s.execute(text("SELECT effect_key FROM bus_effect ORDER BY effect_key"))]


@pytest.fixture
def effect_db(db: Database) -> Database:
    with db.transaction() as s:
        s.execute(text("DROP TABLE IF EXISTS bus_effect"))
        s.execute(text(EFFECT_DDL))
    return db


def test_sigkill_mid_handler_is_redelivered_and_its_effect_exists_once(effect_db: Database, tmp_path: Path) -> None:
    db = effect_db
    bus = Bus(db, default_registry)
    marker = tmp_path / "in-handler"
    bus.dispatch(RecordEffect("step-1", sleep_s=30, marker=str(marker)),
                 chain=[RecordEffect("step-2")])
    victim = start_worker(db.url)
    try:
        wait_for(marker.exists, what="the handler to start")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        victim.kill()
    assert effects(db) == []  # the killed handler's transaction never committed
    with db.reader() as s:
        running = s.execute(select(Message).where(Message.status == "running")).scalar_one()
    assert running.command_type == "RecordEffect" and running.attempts == 1

    # A new worker picks the message up once the 2 s lease has expired; with no sleep this time.
    with db.transaction() as s:
        s.execute(text("UPDATE message SET payload = :p WHERE id = :i"),
                  {"p": '{"key": "step-1", "sleep_s": 0, "marker": ""}', "i": running.id})
    rescuer = start_worker(db.url)
    try:
        wait_for(lambda: statuses(db).get("done") == 2, timeout=120, what="the chain to finish")
    finally:
        rescuer.send_signal(signal.SIGTERM)
        rescuer.wait(15)
    assert effects(db) == ["step-1", "step-2"]
    with db.reader() as s:
        first = s.get_one(Message, running.id)
    assert first.attempts == 2 and first.status == "done"


def test_sigterm_finishes_a_short_handler_and_releases_a_long_one(effect_db: Database, tmp_path: Path) -> None:
    db = effect_db
    bus = Bus(db, default_registry)
    marker = tmp_path / "long"
    long_id = bus.dispatch(RecordEffect("long", sleep_s=20, marker=str(marker))).message_id
    worker = start_worker(db.url, "--grace", "0.5", lease=60)
    wait_for(marker.exists, what="the long handler to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    assert b"released 1 unfinished message" in worker.stderr.read()  # type: ignore[union-attr]
    with db.reader() as s:
        row = s.get_one(Message, long_id)
    assert (row.status, row.attempts, row.lease_owner) == ("queued", 0, None)
    assert effects(db) == []

    short = tmp_path / "short"
    with db.transaction() as s:
        s.execute(text("UPDATE message SET payload = :p WHERE id = :i"),
                  {"p": f'{{"key": "long", "sleep_s": 1.0, "marker": "{short}"}}', "i": long_id})
    worker = start_worker(db.url, "--grace", "10", lease=60)
    wait_for(short.exists, what="the handler to start again")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    assert effects(db) == ["long"] and statuses(db) == {"done": 1}


@pytest.mark.mariadb
def test_four_worker_processes_drain_1000_messages_exactly_once(mariadb_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = Database(mariadb_server.new())
    with db.transaction() as s:
        s.execute(text(EFFECT_DDL))
    bus = Bus(db, default_registry)
    with db.transaction() as s:  # 1,000 keep four processes of two threads racing for claims
        for i in range(1000):
            bus.dispatch(RecordEffect(f"m{i:05d}"), session=s)
    workers = [start_worker(db.url, threads=2, lease=30) for _ in range(4)]
    try:
        wait_for(lambda: statuses(db).get("done", 0) == 1000, timeout=240, what="1,000 messages")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        logs = [w.communicate(timeout=30)[1].decode() for w in workers]
    assert statuses(db) == {"done": 1000}
    keys = effects(db)
    assert len(keys) == 1000 and len(set(keys)) == 1000
    with db.reader() as s:
        reruns = s.execute(select(Message.id, Message.attempts, Message.error)
                           .where(Message.attempts > 1)).all()
    assert reruns == [], (reruns, logs)  # nothing ran twice
    assert all(w.returncode == 0 for w in workers)
    assert not any("Deadlock" in log or "Traceback" in log for log in logs), logs
    db.dispose()


def test_run_until_idle_in_process_counts(effect_db: Database) -> None:
    bus = Bus(effect_db, default_registry)
    for i in range(20):
        bus.dispatch(RecordEffect(f"k{i}"))
    assert run_until_idle(bus, threads=2) == 20
    assert len(effects(effect_db)) == 20


def test_the_console_worker_releases_its_message_within_the_grace_the_console_gives(
        effect_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`WorkerProcess.stop(grace)` (the console quitting) reaches the child: it releases its running
    message within that grace and exits 0, instead of waiting its own 30 s default until the
    console's patience ends in a SIGKILL that leaves the message claimed until its lease expires."""
    from core.bus.process import WorkerProcess
    from core.config import load_settings

    class PluginWorker(WorkerProcess):
        def command(self) -> list[str]:
            return [*super().command(), "--plugin", "tests.bus_plugin"]

    db = effect_db
    long_id = Bus(db, default_registry).dispatch(
        RecordEffect("long", sleep_s=60, marker=str(tmp_path / "long"))).message_id
    settings = load_settings(data_dir=tmp_path / "data", config_file=tmp_path / "none.toml", db_url=db.url)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    worker = PluginWorker(settings, 1, log_file=tmp_path / "worker.log").start()
    try:
        wait_for((tmp_path / "long").exists, what="the long handler to start")
        stopped = worker.stop(grace=0.5)
    finally:
        worker.stop(grace=0)
    log = (tmp_path / "worker.log").read_text()
    assert stopped == 0, log  # not -9: the console's SIGKILL when its grace + 5 s ran out
    assert "released 1 unfinished message" in log
    with db.reader() as s:
        row = s.get_one(Message, long_id)
    assert (row.status, row.lease_owner) == ("queued", None)
    assert effects(db) == []


_POOL_START = """
import sys, threading
from datetime import timedelta
from core.bus.worker import WorkerPool
from core.models import _HOME

missing = []
threading.Thread.start = lambda thread: missing.append(sorted(set(_HOME.values()) - set(sys.modules)))

class Registry:
    def check(self): pass

class Bus:
    registry = Registry()
    lease = timedelta(seconds=30)

WorkerPool(Bus(), threads=2).start()
print(missing)
"""


def test_a_worker_pool_imports_every_model_module_before_its_threads_start() -> None:
    """Model modules imported lazily by two threads at once deadlock on SQLAlchemy's mapper
    configuration lock (it froze the console: tests/test_startup.py); the daemon and `expensis
    worker` run handlers on a pool's threads, so the pool loads them all first."""
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "-c", _POOL_START], cwd=Path(__file__).resolve().parent.parent,
                            capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == "[[], [], []]", result.stdout  # the heartbeat and two workers
