"""Operating the bus: pause and resume a command type (on every worker process), bulk retry
and discard by filter with a count, the overview the Messages screen shows."""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from core.bus import Bus, default_registry, run_until_idle
from core.bus.control import MessageFilter
from core.db import Database
from core.models import AuditLog, Message
from core.operations import discard_matching, pause_command, resume_command, retry_matching
from core.security.roles import NotAllowed
from core.views.messages import filter_for, message_page, overview
from tests.bus_plugin import EFFECT_DDL, RecordEffect, RecordOtherEffect
from tests.test_bus_processes import effects, start_worker, statuses, wait_for


@pytest.fixture
def bus(db: Database) -> Bus:
    with db.transaction() as s:
        s.execute(text("DROP TABLE IF EXISTS bus_effect"))
        s.execute(text(EFFECT_DDL))
    return Bus(db, default_registry)


def fail(bus: Bus, command: object, error: str) -> int:
    message_id = bus.dispatch(command).message_id  # type: ignore[arg-type]
    with bus.db.transaction() as s:
        s.execute(update(Message).where(Message.id == int(message_id)).values(
            status="failed", attempts=5, error=error, finished_at=bus.clock()))
    return int(message_id)


def test_bulk_retry_by_filter_retries_exactly_the_matching_failed_messages(bus: Bus) -> None:
    timeouts = [fail(bus, RecordEffect(f"t{i:02d}"), "TransientError: timeout at page 3") for i in range(50)]
    other_error = [fail(bus, RecordEffect(f"x{i}"), "PermanentError: bad credentials") for i in range(5)]
    other_type = [fail(bus, RecordOtherEffect(f"o{i}"), "TransientError: timeout at page 1") for i in range(7)]
    queued = bus.dispatch(RecordEffect("q")).message_id

    selection = MessageFilter.parse("status=failed type=RecordEffect error=timeout")
    assert retry_matching(bus, selection, operator="alice") == 50
    with bus.db.reader() as s:
        rows = {int(i): str(st) for i, st in s.execute(select(Message.id, Message.status))}
        attempts = {int(i): int(a) for i, a in s.execute(select(Message.id, Message.attempts))}
        audit = s.execute(select(AuditLog.action, AuditLog.target, AuditLog.detail)).all()
    assert {rows[i] for i in timeouts} == {"queued"} and {attempts[i] for i in timeouts} == {0}
    assert {rows[i] for i in other_error + other_type} == {"failed"}
    assert rows[int(queued)] == "queued"
    assert audit[-1] == ("messages.retry", "status=failed type=RecordEffect error~'timeout'",
                         "50 message(s) queued again")
    assert retry_matching(bus, selection, operator="alice") == 0  # they are no longer failed

    assert discard_matching(bus, MessageFilter(words=("RecordOther", "page")), operator="alice") == 7
    with bus.db.reader() as s:
        assert s.scalar(select(Message.status).where(Message.id == other_type[0])) == "discarded"


def test_the_console_filter_and_the_bulk_action_select_the_same_rows(bus: Bus) -> None:
    for i in range(3):
        fail(bus, RecordEffect(f"a{i}"), "timeout at page 2")
    fail(bus, RecordOtherEffect("b"), "timeout at page 2")
    fail(bus, RecordEffect("c"), "401 unauthorized")
    page = message_page(bus.db, "failed", bus.clock(), text="record timeout")
    selection = filter_for("failed", None, "record timeout")
    assert selection is not None and page.total == 4
    with bus.db.transaction() as s:
        from core.bus.control import count_matching

        assert count_matching(s, selection) == page.total
    assert filter_for("running", None, "") is None  # no bulk action on running messages


def test_a_viewer_may_not_pause_or_bulk_retry(bus: Bus) -> None:
    from core.security.roles import add_operator

    add_operator(bus.db, "alice", "admin", operator="alice")  # the first operator
    add_operator(bus.db, "victor", "viewer", operator="alice")
    with pytest.raises(NotAllowed):
        pause_command(bus, "RecordEffect", operator="victor")
    with pytest.raises(NotAllowed):
        retry_matching(bus, MessageFilter(), operator="victor")


def test_a_paused_type_is_claimed_by_nobody_and_runs_after_resume(bus: Bus) -> None:
    assert pause_command(bus, "RecordEffect", operator="alice")
    assert not pause_command(bus, "RecordEffect", operator="alice")  # already paused
    for i in range(5):
        bus.dispatch(RecordEffect(f"p{i}"))
        bus.dispatch(RecordOtherEffect(f"r{i}"))
    assert run_until_idle(bus, threads=2) == 5  # only the other type ran
    assert statuses(bus.db) == {"queued": 5, "done": 5}
    # an expired lease of a paused type is not taken over either
    with bus.db.transaction() as s:
        s.execute(update(Message).where(Message.status == "queued").values(
            status="running", lease_owner="dead-worker", available_at=bus.clock() - timedelta(minutes=5)))
    assert bus.claim("w") is None
    with bus.db.transaction() as s:
        s.execute(update(Message).where(Message.status == "running").values(status="queued"))
    view = overview(bus.db, bus.clock())
    assert [(t.command_type, t.paused, t.counts["queued"]) for t in view.by_type] == [
        ("RecordEffect", True, 5), ("RecordOtherEffect", False, 0)]
    assert resume_command(bus, "RecordEffect", operator="alice")
    assert run_until_idle(bus, threads=2) == 5
    assert statuses(bus.db) == {"done": 10}

    assert pause_command(bus, "*", operator="alice")  # all dispatching
    bus.dispatch(RecordOtherEffect("later"))
    assert bus.claim("w") is None
    assert overview(bus.db, bus.clock()).all_paused
    assert resume_command(bus, "*", operator="alice")
    assert run_until_idle(bus, threads=1) == 1


@pytest.mark.slow
def test_a_paused_type_stays_queued_across_two_worker_processes(bus: Bus) -> None:
    db = bus.db
    pause_command(bus, "RecordEffect", operator="alice")
    with db.transaction() as s:
        for i in range(20):
            bus.dispatch(RecordEffect(f"paused-{i:02d}"), session=s)
            bus.dispatch(RecordOtherEffect(f"other-{i:02d}"), session=s)
    workers = [start_worker(db.url, threads=2, lease=30) for _ in range(2)]
    try:
        wait_for(lambda: statuses(db).get("done", 0) == 20, timeout=60, what="the other type to run")
        time.sleep(1.5)  # several empty polls of both workers: the paused type is still not taken
        assert statuses(db) == {"queued": 20, "done": 20}
        assert resume_command(bus, "RecordEffect", operator="alice")
        wait_for(lambda: statuses(db).get("done", 0) == 40, timeout=60, what="the resumed type to run")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.communicate(timeout=30)
    keys = effects(db)
    assert len(keys) == 40 and len(set(keys)) == 40
