"""A rate limiter shared by every process and host on the database.

Fixed windows of `window_s` seconds, each with `limit` numbered slots. Taking a
slot is an INSERT of `(limiter_key, window_start, slot)`; the UNIQUE key decides
who got it, so two workers on two hosts can never both take slot 3 of one window.
The windows follow the database server's clock by default (hosts' clocks drift),
or an injected clock in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.bus.errors import is_transient_db_error
from core.db import Database, database_now
from core.models import RateLimitHit

Clock = Callable[[], datetime]
KEEP_WINDOWS = timedelta(hours=1)  # old windows kept this long (for looking back), then purged
_TRANSIENT_RETRIES = 3


def database_clock(db: Database) -> Clock:
    def now() -> datetime:
        with db.reader_engine.connect() as conn:
            return database_now(conn)

    return now


def window_start(moment: datetime, window_s: int) -> datetime:
    """The start of the fixed window holding `moment` (windows are aligned to the epoch)."""
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % window_s, UTC)


class RateLimiter:
    """At most `limit` acquisitions per `window_s`-second window for one key."""

    def __init__(self, db: Database, key: str, limit: int = 10, window_s: int = 60,
                 clock: Clock | None = None) -> None:
        if limit < 1 or window_s < 1:
            raise ValueError("a rate limit needs at least one slot and a window of a second")
        self.db = db
        self.key = key
        self.limit = limit
        self.window_s = window_s
        self.window = timedelta(seconds=window_s)
        self.clock = clock or database_clock(db)
        self.checked_at: datetime | None = None  # the clock's time at the last try_acquire

    def try_acquire(self) -> datetime | None:
        """Take a slot in the current window: None when taken, else when to try again."""
        now = self.checked_at = self.clock()
        start = window_start(now, self.window_s)
        for slot in self._free_slots(start):
            if self._take(start, slot, now):
                if slot == 0:  # the first in a new window sweeps out old ones
                    purge(self.db, now - KEEP_WINDOWS, key=self.key)
                return None
        return start + self.window

    def wait_seconds(self, retry_at: datetime) -> float:
        """Seconds from the last check until `retry_at`."""
        now = self.checked_at or self.clock()
        return max(0.0, (retry_at - now).total_seconds())

    def used(self, moment: datetime | None = None) -> int:
        """Slots taken in the window holding `moment` (default: now)."""
        start = window_start(moment or self.clock(), self.window_s)
        with self.db.reader() as session:
            return int(session.scalar(select(func.count()).select_from(RateLimitHit).where(
                RateLimitHit.limiter_key == self.key, RateLimitHit.window_start == start)) or 0)

    def _free_slots(self, start: datetime) -> list[int]:
        with self.db.reader() as session:
            taken = set(session.scalars(select(RateLimitHit.slot).where(
                RateLimitHit.limiter_key == self.key, RateLimitHit.window_start == start)))
        return [slot for slot in range(self.limit) if slot not in taken]

    def _take(self, start: datetime, slot: int, now: datetime) -> bool:
        for attempt in range(_TRANSIENT_RETRIES):
            try:
                with self.db.transaction() as session:
                    session.execute(insert(RateLimitHit).values(
                        limiter_key=self.key, window_start=start, slot=slot, taken_at=now))
                return True
            except IntegrityError:
                return False  # another process took this slot first
            except DBAPIError as exc:  # a deadlock between two inserts: try the slot again
                if not is_transient_db_error(exc) or attempt == _TRANSIENT_RETRIES - 1:
                    raise
        return False


def purge(db: Database, before: datetime, *, key: str | None = None) -> int:
    """Delete windows that started before `before` (one key, or all); returns rows deleted."""
    statement = delete(RateLimitHit).where(RateLimitHit.window_start < before)
    if key is not None:
        statement = statement.where(RateLimitHit.limiter_key == key)
    with db.transaction() as session:
        return int(session.execute(statement).rowcount)  # type: ignore[attr-defined]
