"""The scheduler's leader lease: one row, taken and renewed on the database clock.

Whoever holds an unexpired `scheduler_lease` row runs the scheduler. Expiry is
judged on the database's clock, so two hosts with skewed clocks agree on it.
Every change of holder bumps `epoch`; a renew is conditional on holder *and*
epoch, so a leader that stalled past its lease (GC pause, SIGSTOP, lost
network) finds out on its next renew and stops: the epoch fences it off.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, and_, case, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.bus.bus import affected
from core.db import Database, database_now
from core.models import SchedulerLease

log = logging.getLogger(__name__)
L = cast(Table, SchedulerLease.__table__)

Clock = Callable[[], datetime]


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LeaseInfo:
    holder: str
    expires_at: datetime
    epoch: int
    live: bool = True  # unexpired on the lease's clock when it was read

    @property
    def host(self) -> str:
        """The host part of `hostname:pid`."""
        return self.holder.rsplit(":", 1)[0]


class LeaderLease:
    """One named lease; `epoch` is set while this object believes it holds it."""

    def __init__(self, db: Database, name: str = "scheduler", holder: str | None = None,
                 ttl_s: float = 30.0, *, clock: Clock | None = None) -> None:
        self.db = db
        self.name = name
        self.holder = holder or default_holder()
        self.ttl = timedelta(seconds=ttl_s)
        self.clock = clock
        self._epoch: int | None = None
        self._lock = threading.Lock()

    @property
    def epoch(self) -> int | None:
        """Our epoch while we hold the lease, else None."""
        return self._epoch

    @property
    def held(self) -> bool:
        return self._epoch is not None

    def now(self, conn: Connection) -> datetime:
        return self.clock() if self.clock is not None else database_now(conn)

    def try_acquire(self) -> bool:
        """Take the lease if it is free or expired (or already ours); True when we hold it."""
        with self._lock:
            mine = self._epoch if self._epoch is not None else -1
            ours = and_(L.c.holder == self.holder, L.c.epoch == mine)
            with self.db.engine.begin() as conn:
                now = self.now(conn)
                result = conn.execute(
                    update(L).where(L.c.name == self.name, or_(L.c.expires_at < now, ours))
                    .values(holder=self.holder, expires_at=now + self.ttl,
                            epoch=case((ours, L.c.epoch), else_=L.c.epoch + 1)))
                if affected(result) == 1:
                    self._epoch = int(conn.execute(
                        select(L.c.epoch).where(L.c.name == self.name)).scalar_one())
                    return True
                exists = conn.execute(select(L.c.name).where(L.c.name == self.name)).first()
            self._epoch = None
            if exists is not None:
                return False
            return self._insert_first()

    def _insert_first(self) -> bool:
        """The first acquisition ever creates the row; a concurrent creator wins the key."""
        try:
            with self.db.engine.begin() as conn:
                now = self.now(conn)
                conn.execute(insert(L).values(name=self.name, holder=self.holder,
                                              expires_at=now + self.ttl, epoch=1))
        except IntegrityError:
            return False
        self._epoch = 1
        return True

    def renew(self) -> bool:
        """Extend our lease; False means another holder took over since (we are fenced off)."""
        with self._lock:
            if self._epoch is None:
                return False
            with self.db.engine.begin() as conn:
                now = self.now(conn)
                result = conn.execute(
                    update(L).where(L.c.name == self.name, L.c.holder == self.holder,
                                    L.c.epoch == self._epoch)
                    .values(expires_at=now + self.ttl))
            if affected(result) == 1:
                return True
            log.warning("lease %r: epoch %s is no longer ours", self.name, self._epoch)
            self._epoch = None
            return False

    def release(self) -> None:
        """Let the lease lapse now so a successor need not wait for the TTL."""
        with self._lock:
            if self._epoch is None:
                return
            with self.db.engine.begin() as conn:
                now = self.now(conn)
                conn.execute(
                    update(L).where(L.c.name == self.name, L.c.holder == self.holder,
                                    L.c.epoch == self._epoch)
                    .values(expires_at=now - timedelta(seconds=1)))
            self._epoch = None

    def forget(self) -> None:
        """Stop believing we hold the lease, without touching the database (it is unreachable)."""
        with self._lock:
            self._epoch = None

    def current(self) -> LeaseInfo | None:
        """Who holds (or last held) the lease, and whether it is still live."""
        with self.db.reader_engine.connect() as conn:
            row = conn.execute(select(L.c.holder, L.c.expires_at, L.c.epoch)
                               .where(L.c.name == self.name)).first()
            if row is None:
                return None
            now = self.now(conn)
        return LeaseInfo(row.holder, row.expires_at, int(row.epoch), live=row.expires_at >= now)
