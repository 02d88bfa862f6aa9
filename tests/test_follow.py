"""Following a workflow: the handle dispatch returns, attempt n of m, the wait, the failed step.

One follow function (core.bus.follow) serves every screen, every `--wait` and the tests;
these check what it reports, on SQLite and MariaDB, and what `--wait` makes of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from core.bus import (
    Bus,
    Command,
    Dispatched,
    HandlerContext,
    PermanentError,
    Registry,
    TransientError,
    execute,
)
from core.bus.follow import Progress, follow, progress_of
from core.db import Database
from core.models import Message, SyncProfile
from core.workflows.sync import start_manual_sync
from expensis_tui.cli import main
from providers.sandbox import SandboxServer
from tests.sync_support import make_world

reg = Registry()
LONG_REASON = ("the provider refused row 7 of file KPN-2026-09.csv: the number +31 6 1234 5678 is not on "
               "this contract, the subscription ended on 2026-08-31 and no later subscription covers "
               "the call date 2026-09-04 (ask the provider for a corrected file)")


@dataclass(frozen=True)
class Hop(Command, registry=reg):
    n: int


@dataclass(frozen=True)
class Shaky(Command, registry=reg):
    pass


@reg.handles(Hop)
def run_hop(cmd: Hop, ctx: HandlerContext) -> None:
    if cmd.n == 2:
        raise PermanentError(LONG_REASON)


@reg.handles(Shaky)
def run_shaky(cmd: Shaky, ctx: HandlerContext) -> None:
    raise TransientError("provider answered HTTP 503")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def run_one(bus: Bus) -> None:
    claimed = bus.claim("w1")
    assert claimed is not None
    execute(bus, claimed)


def test_dispatch_returns_the_message_and_its_workflow(db: Database) -> None:
    bus = Bus(db, reg)
    handle = bus.dispatch(Hop(1))
    assert isinstance(handle, Dispatched)
    with db.reader() as s:
        row = s.get_one(Message, handle.message_id)
    assert row.workflow_id == handle.workflow_id
    joined = bus.dispatch(Hop(3), workflow=handle.workflow_id)
    assert joined.workflow_id == handle.workflow_id and joined.message_id != handle.message_id


def test_a_transient_failure_reports_attempt_two_of_five_and_the_next_retry(db: Database) -> None:
    clock = Clock()
    bus = Bus(db, reg, clock=clock, max_attempts=5, backoff_base=2.0)
    handle = bus.dispatch(Shaky())
    first = progress_of(bus, [handle.workflow_id])
    assert (first.status, first.step, first.attempt, first.max_attempts, first.retry_at) == (
        "waiting", "Shaky", 1, 5, None)
    run_one(bus)  # attempt 1 fails; the bus waits 2 s (base 2, first retry)
    progress = progress_of(bus, [handle.workflow_id])
    assert (progress.status, progress.step, progress.attempt, progress.max_attempts) == ("retrying", "Shaky", 2, 5)
    assert progress.retry_at == clock.now + timedelta(seconds=2) and progress.wait == timedelta(seconds=2)
    assert progress.error == "TransientError: provider answered HTTP 503"
    assert not progress.finished
    line = progress.describe()
    assert "attempt 2 of 5" in line and "next try in 2s" in line
    # follow() yields the same, and stops when asked to
    seen = list(follow(bus, handle, should_stop=lambda: True))
    assert [p.attempt for p in seen] == [2]


def test_a_first_attempt_never_reads_as_a_retry_and_no_wait_shows_as_0s() -> None:
    """Seen by an operator (`totals recalc --wait`): "waiting · DispatchTotals · next try in 0s"
    on a step that had not run yet. A first attempt waits for a worker, or starts at a set time;
    only a step that failed has a next try; a wait under a second is no wait."""
    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def line(status: str, attempt: int, wait: timedelta) -> str:
        return Progress(status, "DispatchTotals", 1, 1, attempt, 5,  # type: ignore[arg-type]
                        now + wait, None, None, now=now).describe()

    assert line("waiting", 1, timedelta(microseconds=500)) == "waiting · DispatchTotals (step 1 of 1)"
    assert line("waiting", 1, timedelta(seconds=5)) == "waiting · DispatchTotals (step 1 of 1) · starts in 5s"
    assert line("retrying", 2, timedelta(microseconds=500)) == \
        "retrying · DispatchTotals (step 1 of 1) · attempt 2 of 5"
    assert line("retrying", 2, timedelta(seconds=90)) == \
        "retrying · DispatchTotals (step 1 of 1) · attempt 2 of 5 · next try in 1m 30s"


def test_a_lone_message_says_no_step_1_of_1_and_a_chain_says_its_length(db: Database) -> None:
    """Seen in `totals recalc --wait`: "DispatchTotals (step 1 of 1)", then "(step 2 of 5)" once
    the router had routed. One message with nothing known ahead names itself alone."""
    bus = Bus(db, reg)
    lone = bus.dispatch(Hop(1))
    assert progress_of(bus, [lone.workflow_id]).describe() == "waiting · Hop"
    chained = bus.dispatch(Hop(1), chain=[Hop(3), Hop(4)])
    assert progress_of(bus, [chained.workflow_id]).describe() == "waiting · Hop (step 1 of 3)"


def test_a_failed_step_is_named_with_its_whole_error(db: Database) -> None:
    bus = Bus(db, reg)
    handle = bus.dispatch(Hop(1), chain=[Hop(2), Hop(3)])
    run_one(bus)
    run_one(bus)  # Hop 2 refuses: the chain stops there
    final = list(follow(bus, handle))[-1]
    assert (final.status, final.step, final.step_number, final.step_count) == ("failed", "Hop", 2, 3)
    assert final.error == f"PermanentError: {LONG_REASON}"  # whole, not cut at a window's edge
    assert final.finished and final.failed and not final.done


def test_an_empty_follow_is_done_at_once(db: Database) -> None:
    assert [p.status for p in follow(Bus(db, reg), [])] == ["done"]


# -- a sync that gives up but lets the totals run ("totals anyway") ----------------------------

def test_a_sync_that_gave_up_is_followed_to_failed_with_its_reason(sqlite_db: Database, sandbox: SandboxServer,
                                                                   tmp_path: Path) -> None:
    from core.bus import run_until_idle

    world = make_world(sqlite_db, sandbox, tmp_path, ["vodafone"], faults={"vodafone": {"server_error": True}})
    with world.db.reader() as s:
        profile_id = s.scalars(select(SyncProfile.id)).one()
    start = start_manual_sync(world.bus, profile_id, "2026-09", operator="test")
    run_until_idle(world.bus)
    with world.db.reader() as s:  # every message completed: the chain went on with the totals
        assert set(s.scalars(select(Message.status))) == {"done"}
    final = list(follow(world.bus, start.handle))[-1]
    assert (final.status, final.step) == ("failed", "VodafoneSync")  # not the last totals step
    assert final.error is not None and final.error.startswith("unknown_error: gave up after 3 attempts")
    assert "totals calculated with the data already present" in final.error


def test_cli_sync_wait_exits_1_naming_the_failed_step(sandbox: SandboxServer, tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    from core.db import ensure_schema

    ensure_schema(db)
    make_world(db, sandbox, data, ["kpn_grip"], faults={"kpn_grip": {"server_error": True}})
    db.dispose()
    result = CliRunner().invoke(
        main, ["--data-dir", str(data), "--operator", "test", "sync", "run", "kpn_grip-profile",
               "--month", "2026-09", "--wait"],
        env={"EXPENSIS_MAX_ATTEMPTS": "2", "EXPENSIS_BACKOFF_BASE_S": "0"}, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "attempt 2 of 2" in result.stdout
    assert "failed at KpnGripSync: unknown_error: gave up after 2 attempts" in result.stderr
