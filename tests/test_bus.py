"""The command bus on SQLite and MariaDB: order, chains, retries, failures, bad input."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import insert, select

from core.bus import (
    Bus,
    Command,
    HandlerContext,
    PermanentError,
    Registry,
    RegistryError,
    TransientError,
    execute,
    run_until_idle,
)
from core.db import Database
from core.models import Message

reg = Registry()
calls: list[tuple[str, int]] = []
failing: set[int] = set()
lock = threading.Lock()


@dataclass(frozen=True)
class Step(Command, registry=reg):
    n: int
    amount: Decimal = Decimal("0")


@dataclass(frozen=True)
class Flaky(Command, registry=reg):
    permanent: bool = False


@dataclass(frozen=True)
class Spawner(Command, registry=reg):
    children: int


@reg.handles(Step)
def run_step(cmd: Step, ctx: HandlerContext) -> None:
    if cmd.n in failing:
        raise PermanentError(f"step {cmd.n} refused")
    with lock:
        calls.append(("step", cmd.n))


@reg.handles(Flaky)
def run_flaky(cmd: Flaky, ctx: HandlerContext) -> None:
    if cmd.permanent:
        raise PermanentError("bad data in row 7")
    raise TransientError("provider timed out")


@reg.handles(Spawner)
def run_spawner(cmd: Spawner, ctx: HandlerContext) -> None:
    for i in range(cmd.children):
        ctx.dispatch(Step(100 + i))


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    failing.clear()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def message(db: Database, message_id: int) -> Message:
    with db.reader() as s:
        return s.get_one(Message, message_id)


def test_chain_of_four_runs_in_order_stops_at_failure_and_resumes_on_retry(db: Database) -> None:
    bus = Bus(db, reg)
    failing.add(2)
    first = bus.dispatch(Step(1), chain=[Step(2), Step(3), Step(4)]).message_id
    run_until_idle(bus)
    assert calls == [("step", 1)]
    with db.reader() as s:
        rows = s.execute(select(Message.id, Message.command_type, Message.status, Message.payload)
                         .order_by(Message.id)).all()
    assert [(r.status, json.loads(r.payload)["n"]) for r in rows] == [("done", 1), ("failed", 2)]
    failed_id = rows[1].id
    assert message(db, failed_id).workflow_id == message(db, first).workflow_id
    assert "step 2 refused" in (message(db, failed_id).error or "")

    failing.clear()
    assert bus.retry(failed_id)
    run_until_idle(bus)
    assert calls == [("step", 1), ("step", 2), ("step", 3), ("step", 4)]
    assert bus.counts()["done"] == 4


def test_chain_with_four_workers_is_still_strictly_sequential(db: Database) -> None:
    bus = Bus(db, reg)
    bus.dispatch(Step(1), chain=[Step(n) for n in range(2, 9)])
    run_until_idle(bus, threads=4)
    assert calls == [("step", n) for n in range(1, 9)]


def test_transient_failure_backs_off_then_fails_and_permanent_fails_at_once(db: Database) -> None:
    clock = Clock()
    bus = Bus(db, reg, clock=clock, max_attempts=5, backoff_base=2.0)
    mid = bus.dispatch(Flaky()).message_id
    delays = []
    for attempt in range(1, 6):
        claimed = bus.claim("w1")
        assert claimed is not None and claimed.attempts == attempt
        status = execute(bus, claimed)
        row = message(db, mid)
        if attempt < 5:
            assert status == "queued"
            delays.append((row.available_at - clock.now).total_seconds())
            assert bus.claim("w1") is None  # not due yet
            clock.advance(delays[-1])
        else:
            assert status == "failed"
    assert delays == [2.0, 4.0, 8.0, 16.0]
    row = message(db, mid)
    assert row.status == "failed" and "gave up after 5 attempts" in (row.error or "")
    assert "TransientError" in (row.traceback or "")

    pid = bus.dispatch(Flaky(permanent=True)).message_id
    claimed = bus.claim("w1")
    assert claimed is not None and claimed.id == pid
    assert execute(bus, claimed) == "failed"
    row = message(db, pid)
    assert row.attempts == 1 and row.error == "PermanentError: bad data in row 7"


def test_expired_lease_is_redelivered_and_the_stale_worker_cannot_complete(db: Database) -> None:
    clock = Clock()
    bus = Bus(db, reg, clock=clock, lease_seconds=30)
    mid = bus.dispatch(Step(1)).message_id
    stale = bus.claim("dead-worker")
    assert stale is not None
    assert bus.claim("w2") is None  # leased
    clock.advance(31)
    fresh = bus.claim("w2")
    assert fresh is not None and fresh.id == mid and fresh.attempts == 2
    assert execute(bus, stale) == "lost"  # rolled back: another worker owns it
    assert execute(bus, fresh) == "done"
    assert calls == [("step", 1), ("step", 1)]  # the stale run's effect was rolled back
    assert message(db, mid).status == "done"


def test_an_expired_lease_is_claimed_before_newer_queued_work_and_queued_work_oldest_first(
        db: Database) -> None:
    clock = Clock()
    bus = Bus(db, reg, clock=clock, lease_seconds=30)
    expired = bus.dispatch(Step(1)).message_id
    assert bus.claim("dead-worker") is not None
    clock.advance(10)
    later, earlier = bus.dispatch(Step(3), delay=5).message_id, bus.dispatch(Step(2)).message_id
    clock.advance(25)  # the lease ran out at +30; all three are due
    assert [m.id for m in iter(lambda: bus.claim("w2"), None)] == [expired, earlier, later]


def test_claims_read_the_due_index_in_order_and_updates_by_id_use_the_primary_key(db: Database) -> None:
    # `status IN (queued, running)` made MariaDB scan and filesort every due row, locking
    # each, and the claims deadlocked with completions (a message ran twice, CI, 2026-11-21).
    from core.bus.bus import _CLAIM_OLDEST, _COMPLETE, _PICK_LOCKED, _RENEW

    def explain(statement: Any, prefix: str) -> list[Any]:
        sql = statement.compile(dialect=conn.dialect)  # the plan, not the values, is checked
        at = "2026-03-01 00:00:00"
        values = sql.construct_params({"owner": "w", "now": at, "lease_until": at, "mid": 1})
        args = values if sql.positiontup is None else tuple(values[k] for k in sql.positiontup)
        return conn.exec_driver_sql(f"{prefix} {sql}", args).all()

    with db.engine.connect() as conn:
        if db.is_mysql:
            for pick in _PICK_LOCKED:
                # the message range in index order; the pause check probes the paused_command table
                message, *paused = explain(pick, "EXPLAIN")
                assert message.table == "message", message
                assert message.key == "ix_message_due" and "filesort" not in message.Extra, message
                assert [row.table for row in paused] == ["paused_command"], paused
            for by_id in (_COMPLETE, _RENEW):  # not a range over every running message: deadlocks
                (row,) = explain(by_id, "EXPLAIN")
                assert row.key == "PRIMARY", row
        else:
            plan = " | ".join(r[3] for r in explain(_CLAIM_OLDEST, "EXPLAIN QUERY PLAN"))
            assert "TEMP B-TREE" not in plan and plan.count("INDEX ix_message_due") == 2, plan


def test_heartbeat_keeps_the_lease(db: Database) -> None:
    clock = Clock()
    bus = Bus(db, reg, clock=clock, lease_seconds=30)
    bus.dispatch(Step(1))
    claimed = bus.claim("w1")
    assert claimed is not None
    clock.advance(20)
    assert bus.heartbeat(claimed)
    clock.advance(20)
    assert bus.claim("w2") is None


def test_release_gives_the_message_back_without_spending_an_attempt(db: Database) -> None:
    bus = Bus(db, reg)
    mid = bus.dispatch(Step(1)).message_id
    claimed = bus.claim("w1")
    assert claimed is not None and bus.release(claimed)
    row = message(db, mid)
    assert (row.status, row.attempts, row.lease_owner) == ("queued", 0, None)


def test_handler_dispatch_joins_the_workflow_and_commits_with_completion(db: Database) -> None:
    bus = Bus(db, reg)
    root = bus.dispatch(Spawner(3)).message_id
    run_until_idle(bus)
    with db.reader() as s:
        rows = s.execute(select(Message.workflow_id, Message.parent_id, Message.status)).all()
    assert len(rows) == 4
    assert {r.workflow_id for r in rows} == {message(db, root).workflow_id}
    assert sorted(calls) == [("step", 100), ("step", 101), ("step", 102)]


def test_decimal_payload_round_trips_exactly(db: Database) -> None:
    bus = Bus(db, reg)
    mid = bus.dispatch(Step(1, amount=Decimal("1234.5678"))).message_id
    claimed = bus.claim("w")
    assert claimed is not None
    cmd = reg.decode(claimed.command_type, claimed.payload)
    assert cmd == Step(1, Decimal("1234.5678")) and message(db, mid).status == "running"


def _raw_message(db: Database, command_type: str, payload: str) -> int:
    now = datetime.now(UTC)
    with db.transaction() as s:
        return int(s.execute(insert(Message).values(
            command_id=f"raw-{command_type}-{now.timestamp()}", command_type=command_type,
            payload=payload, chain="[]", workflow_id="wf", status="queued", attempts=0,
            max_attempts=5, available_at=now, created_at=now)).inserted_primary_key[0])


def test_unknown_command_and_unfitting_payload_fail_with_one_clear_line(db: Database) -> None:
    bus = Bus(db, reg)
    unknown = _raw_message(db, "KpnSp99Sync", "{}")
    misfit = _raw_message(db, "Step", '{"n": "three", "colour": "red"}')
    run_until_idle(bus)
    u, m = message(db, unknown), message(db, misfit)
    assert u.status == "failed" and u.attempts == 1
    assert u.error == ("UnknownCommand: unknown command type 'KpnSp99Sync': "
                       "no such command in this version of expensis")
    assert m.status == "failed" and m.attempts == 1
    assert m.error is not None and m.error.startswith("PayloadError: payload of Step no longer fits")
    assert "\n" not in m.error


def test_registry_refuses_missing_and_duplicate_handlers() -> None:
    local = Registry()

    @dataclass(frozen=True)
    class Orphan(Command, registry=local):
        x: int

    with pytest.raises(RegistryError, match="commands without a handler: Orphan"):
        local.check()

    @local.handles(Orphan)
    def first(cmd: Orphan, ctx: HandlerContext) -> None: ...

    local.check()
    with pytest.raises(RegistryError, match="two handlers"):

        @local.handles(Orphan)
        def second(cmd: Orphan, ctx: HandlerContext) -> None: ...


def test_dispatching_an_unregistered_chain_step_fails_at_dispatch(db: Database) -> None:
    other = Registry()

    @dataclass(frozen=True)
    class Elsewhere(Command, registry=other):
        x: int

    with pytest.raises(Exception, match="unknown command type 'Elsewhere'"):
        Bus(db, reg).dispatch(Step(1), chain=[Elsewhere(1)])


@dataclass(frozen=True)
class Router(Command, registry=reg):
    to: int


@reg.handles(Router)
def run_router(cmd: Router, ctx: HandlerContext) -> None:
    ctx.route(Step(cmd.to), chain=[Step(cmd.to + 1)])


def test_a_router_hands_over_its_chain_so_its_continuation_runs_last(db: Database) -> None:
    bus = Bus(db, reg)
    bus.dispatch(Step(1), chain=[Router(10), Step(99)])
    run_until_idle(bus, threads=4)
    assert calls == [("step", 1), ("step", 10), ("step", 11), ("step", 99)]


def test_events_wait_for_the_outer_commit_and_survive_a_savepoint_rollback(db: Database) -> None:
    bus = Bus(db, reg)
    seen: list[str] = []
    bus.events.subscribe(lambda e: seen.append(e.kind))
    with db.sessions() as session, session.begin():
        bus.dispatch(Step(1), session=session)
        with session.begin_nested():
            pass  # a released savepoint is not the commit
        try:
            with session.begin_nested():
                raise ValueError  # a rolled-back savepoint must not drop the event
        except ValueError:
            pass
        assert seen == []
    assert seen == ["dispatched"]
