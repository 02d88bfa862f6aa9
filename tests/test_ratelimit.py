"""The shared, database-backed rate limiter: fixed windows, numbered slots, one UNIQUE key."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from core.db import Database
from core.models import RateLimitHit
from core.security.ratelimit import RateLimiter, database_clock, purge, window_start

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)  # on a minute: windows start at :00


class Frozen:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def hits_per_window(db: Database, key: str) -> dict[datetime, int]:
    with db.reader() as s:
        rows = s.execute(select(RateLimitHit.window_start, func.count()).where(
            RateLimitHit.limiter_key == key).group_by(RateLimitHit.window_start)).all()
    return {start: count for start, count in rows}


def test_ten_per_window_then_the_next_window(db: Database) -> None:
    clock = Frozen(T0 + timedelta(seconds=17))
    limiter = RateLimiter(db, "nina:1", limit=10, window_s=60, clock=clock)
    assert [limiter.try_acquire() for _ in range(10)] == [None] * 10
    next_window = T0 + timedelta(minutes=1)
    assert limiter.try_acquire() == next_window
    assert limiter.wait_seconds(next_window) == 43
    assert limiter.used() == 10

    other = RateLimiter(db, "nina:2", clock=clock)  # another customer has its own budget
    assert other.try_acquire() is None

    clock.advance(43)
    assert [limiter.try_acquire() for _ in range(11)] == [None] * 10 + [T0 + timedelta(minutes=2)]
    assert hits_per_window(db, "nina:1") == {T0: 10, next_window: 10}


def test_windows_are_aligned_to_the_epoch() -> None:
    assert window_start(T0 + timedelta(seconds=59.9), 60) == T0
    assert window_start(T0 + timedelta(seconds=60), 60) == T0 + timedelta(minutes=1)
    assert window_start(T0 + timedelta(seconds=7), 5) == T0 + timedelta(seconds=5)


def test_old_windows_are_purged(db: Database) -> None:
    clock = Frozen()
    limiter = RateLimiter(db, "k", limit=2, clock=clock)
    limiter.try_acquire()
    clock.advance(2 * 3600)
    limiter.try_acquire()  # slot 0 of a new window sweeps windows over an hour old
    assert hits_per_window(db, "k") == {window_start(clock.now, 60): 1}
    assert purge(db, clock.now + timedelta(minutes=5)) == 1


def test_database_clock_is_utc_and_close_to_ours(db: Database) -> None:
    now = database_clock(db)()
    assert now.tzinfo is not None
    assert abs((now - datetime.now(UTC)).total_seconds()) < 30


def test_default_limiter_follows_the_database_clock(db: Database) -> None:
    limiter = RateLimiter(db, "live", limit=1)
    assert limiter.try_acquire() is None
    # On a busy machine two calls can straddle a minute boundary: the second then takes the
    # new minute's one slot and the third is refused. Never two grants in one window.
    retry_at = limiter.try_acquire() or limiter.try_acquire()
    assert retry_at is not None and retry_at == window_start(retry_at, 60)
    assert 0 < limiter.wait_seconds(retry_at) <= 60


def test_threads_with_their_own_engines_never_exceed_the_limit(db_url: str) -> None:
    """Six workers, each with its own engine, hammer one key over three frozen windows."""
    clock = Frozen()
    workers, tries, windows = 6, 6, 3
    taken: list[tuple[datetime, int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(workers, action=lambda: clock.advance(60))
    errors: list[BaseException] = []

    def work() -> None:
        database = Database(db_url)
        limiter = RateLimiter(database, "nina:shared", limit=10, clock=clock)
        try:
            for _ in range(windows):
                got = sum(limiter.try_acquire() is None for _ in range(tries))
                with lock:
                    taken.append((window_start(clock.now, 60), got))
                barrier.wait(timeout=60)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            barrier.abort()
        finally:
            database.dispose()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    per_window: dict[datetime, int] = {}
    for start, got in taken:
        per_window[start] = per_window.get(start, 0) + got
    # 36 attempts per window, exactly 10 granted in each, as the ledger agrees
    assert per_window == {T0 + timedelta(minutes=i): 10 for i in range(windows)}
    check = Database(db_url)
    try:
        assert hits_per_window(check, "nina:shared") == per_window
    finally:
        check.dispose()


def _process_worker(url: str, start_iso: str, tries: int, results: multiprocessing.Queue[int]) -> None:
    start = datetime.fromisoformat(start_iso)
    database = Database(url)
    limiter = RateLimiter(database, "nina:proc", limit=10, clock=lambda: start)
    results.put(sum(limiter.try_acquire() is None for _ in range(tries)))
    database.dispose()


def test_two_processes_share_one_budget(tmp_path: Path, sqlite_template: Path) -> None:
    from tests.conftest import _sqlite_copy

    url = _sqlite_copy(sqlite_template, tmp_path)
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[int] = context.Queue()
    procs = [context.Process(target=_process_worker, args=(url, T0.isoformat(), 8, results))
             for _ in range(2)]
    for p in procs:
        p.start()
    granted = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
    assert sum(granted) == 10 and all(p.exitcode == 0 for p in procs)
    database = Database(url)
    try:
        assert hits_per_window(database, "nina:proc") == {T0: 10}
    finally:
        database.dispose()
