"""The leader lease on SQLite and MariaDB: one holder, takeover after expiry, fencing by epoch."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from core.db import Database, database_now
from scheduler.lease import LeaderLease

T0 = datetime(2026, 3, 29, 0, 59, 50, tzinfo=UTC)  # ten seconds before the spring DST change


class FrozenClock:
    """A clock both leases share; it moves only when the test says so."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_one_holder_then_takeover_after_expiry_with_a_higher_epoch_and_the_old_holder_fenced(
        db: Database) -> None:
    clock = FrozenClock()
    a = LeaderLease(db, holder="host-a:1", ttl_s=30, clock=clock)
    b = LeaderLease(db, holder="host-b:2", ttl_s=30, clock=clock)
    assert a.try_acquire()
    assert not b.try_acquire()
    assert (a.epoch, b.epoch) == (1, None)

    clock.advance(20)
    assert a.renew()  # now expires at T0 + 50 s
    clock.advance(20)
    assert not b.try_acquire()  # renewed, so still live at T0 + 40 s
    info = b.current()
    assert info is not None and (info.holder, info.epoch, info.live) == ("host-a:1", 1, True)
    assert info.expires_at == T0 + timedelta(seconds=50)

    clock.advance(11)  # a stalled: no renew for 31 s
    assert b.try_acquire()
    assert b.epoch == 2
    assert not a.renew()  # fenced: holder and epoch moved on
    assert a.epoch is None and not a.held
    assert not a.try_acquire()  # and it cannot take the live lease back
    info = a.current()
    assert info is not None and (info.holder, info.epoch, info.host) == ("host-b:2", 2, "host-b")


def test_the_holder_keeps_its_epoch_when_it_acquires_or_renews_again(db: Database) -> None:
    clock = FrozenClock()
    a = LeaderLease(db, holder="host-a:1", ttl_s=30, clock=clock)
    assert a.try_acquire() and a.epoch == 1
    clock.advance(5)
    assert a.try_acquire() and a.epoch == 1
    assert a.renew() and a.epoch == 1
    clock.advance(60)  # lapsed, but nobody else took it: still our epoch, nothing to fence
    assert a.renew() and a.epoch == 1


def test_release_lets_a_successor_in_at_once_and_a_new_term_gets_a_new_epoch(db: Database) -> None:
    clock = FrozenClock()
    a = LeaderLease(db, holder="host-a:1", ttl_s=30, clock=clock)
    b = LeaderLease(db, holder="host-b:2", ttl_s=30, clock=clock)
    assert a.try_acquire()
    a.release()
    info = b.current()
    assert info is not None and not info.live and info.holder == "host-a:1"
    assert b.try_acquire() and b.epoch == 2
    b.release()
    assert a.try_acquire() and a.epoch == 3  # the same holder again is still a new term


def test_a_second_lease_object_with_the_same_holder_name_cannot_steal_a_live_lease(db: Database) -> None:
    clock = FrozenClock()
    first = LeaderLease(db, holder="host-a:1", ttl_s=30, clock=clock)
    second = LeaderLease(db, holder="host-a:1", ttl_s=30, clock=clock)
    assert first.try_acquire()
    assert not second.try_acquire()
    clock.advance(31)
    assert second.try_acquire() and second.epoch == 2
    assert not first.renew()


def test_concurrent_first_acquisitions_have_exactly_one_winner(db: Database) -> None:
    clock = FrozenClock()
    leases = [LeaderLease(db, holder=f"host-{i}:{i}", ttl_s=30, clock=clock) for i in range(6)]
    barrier = threading.Barrier(len(leases))
    won: list[bool] = [False] * len(leases)

    def contend(i: int) -> None:
        barrier.wait()
        won[i] = leases[i].try_acquire()

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(len(leases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(won) == 1
    winner = leases[won.index(True)]
    info = winner.current()
    assert info is not None and info.holder == winner.holder and info.epoch == 1


def test_without_an_injected_clock_expiry_is_judged_on_the_database_clock(db: Database) -> None:
    with db.engine.connect() as conn:
        db_now = database_now(conn)
    assert abs(db_now - datetime.now(UTC)) < timedelta(seconds=5)  # same host in the tests
    a = LeaderLease(db, holder="host-a:1", ttl_s=30)
    b = LeaderLease(db, holder="host-b:2", ttl_s=30)
    assert a.try_acquire()
    assert not b.try_acquire()
    info = b.current()
    assert info is not None and info.live
    assert timedelta(seconds=25) < info.expires_at - db_now < timedelta(seconds=35)
    a.release()
    assert b.try_acquire() and b.epoch == 2
