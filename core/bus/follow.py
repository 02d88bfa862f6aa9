"""Following workflows to their end: the one way every screen, `--wait` and test waits.

`Bus.dispatch` returns a `Dispatched` handle; `follow(bus, handle)` yields `Progress`
until the workflow ended. Ended means nothing of it is queued or running; it *failed*
when a step failed or when the command that started it reports failure (a sync task
that gave up and went on with "totals anyway"). The message table is the truth (another
process may run the steps); in-process events only make the next look come sooner.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from core.bus.command import PayloadError, UnknownCommand, WorkflowReport
from core.bus.events import EventHub, MessageEvent
from core.models import Message

if TYPE_CHECKING:
    from core.bus.bus import Bus

T = cast(Table, Message.__table__)
Status = Literal["waiting", "running", "retrying", "done", "failed"]
_PENDING = ("queued", "running")


@dataclass(frozen=True)
class Dispatched:
    """What `Bus.dispatch` returns: the message queued and the workflow it belongs to."""

    message_id: int
    workflow_id: str


@dataclass(frozen=True)
class Progress:
    """How far followed work got. Step, attempt, wait and error are those of the step that
    runs (or waits) now, or, once failed, of the step that failed."""

    status: Status
    step: str | None  # command name
    step_number: int | None  # step n of m: None where not known
    step_count: int | None
    attempt: int | None  # attempt n of max
    max_attempts: int | None
    retry_at: datetime | None  # when the waiting step runs next
    error: str | None  # the last error, in full
    note: str | None  # the workflow's own progress note (e.g. CDRs received)
    workflows: int = 1
    workflows_ended: int = 0
    workflows_failed: int = 0
    now: datetime | None = None

    @property
    def finished(self) -> bool:
        """Ended, done or failed: nothing more will run."""
        return self.status in ("done", "failed")

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def wait(self) -> timedelta | None:
        """Time until the waiting step's next attempt (None when nothing waits)."""
        if self.retry_at is None or self.now is None:
            return None
        return max(self.retry_at - self.now, timedelta(0))

    def describe(self) -> str:
        """One line: status, step n of m, attempt n of m, the wait (the error goes below it)."""
        parts: list[str] = [self.status]
        if self.workflows > 1:
            parts.append(f"{self.workflows_ended} of {self.workflows} done"
                         + (f", {self.workflows_failed} failed" if self.workflows_failed else ""))
        if self.step:
            where = f" (step {self.step_number} of {self.step_count})" if self.step_number and self.step_count else ""
            parts.append(f"{self.step}{where}")
        if self.attempt and self.max_attempts and (self.attempt > 1 or self.status == "retrying"):
            parts.append(f"attempt {self.attempt} of {self.max_attempts}")
        wait = self.wait
        if wait is not None and wait >= timedelta(seconds=1) and not self.finished:
            # a step that failed waits for its next try; a first attempt may be set to start later
            parts.append(f"{'next try' if self.status == 'retrying' else 'starts'} in {_seconds(wait)}")
        if self.note:
            parts.append(self.note)
        return " · ".join(parts)


def _seconds(wait: timedelta) -> str:
    seconds = int(wait.total_seconds() + 0.999)
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# No payloads: a run of thousands of invoices is one workflow, looked at every second.
_COLUMNS = (T.c.workflow_id, T.c.id, T.c.command_type, T.c.status, T.c.attempts,
            T.c.max_attempts, T.c.available_at, T.c.error, T.c.chain)


def _chain_length(chain: str) -> int:
    if chain in ("", "[]"):  # most messages: fan-outs and the last step of a chain
        return 0
    try:
        return len(json.loads(chain))
    except ValueError:
        return 0


def _report(bus: Bus, session: Session, root: Any, workflow_id: str) -> WorkflowReport | None:
    """The report of the command that started the workflow (its first message)."""
    payload = session.execute(select(T.c.payload).where(T.c.id == root.id)).scalar()
    try:
        command = bus.registry.decode(root.command_type, json.loads(payload or "{}"))
    except (UnknownCommand, PayloadError, ValueError, TypeError):
        return None
    return command.report(session, workflow_id)


def _workflow(bus: Bus, session: Session, workflow_id: str, rows: list[Any], now: datetime) -> Progress:
    """The progress of one workflow from its message rows (ordered by id)."""
    report = _report(bus, session, rows[0], workflow_id) if rows else None
    pending = [r for r in rows if r.status in _PENDING]
    failed = [r for r in rows if r.status == "failed"]
    ended = len(rows) - len(pending)
    count = len(rows) + sum(_chain_length(r.chain) for r in pending + failed)
    note = report.note if report else None
    if pending:
        row = next((r for r in pending if r.status == "running"), pending[0])
        running = row.status == "running"
        waits = not running and row.available_at > now
        status: Status = "running" if running else "retrying" if row.attempts else "waiting"
        error = row.error if row.attempts else None
        if report is not None and report.failed:  # gave up, the chain goes on: say why already
            error = report.error
        # one message with nothing known ahead says no "step 1 of 1": a router (DispatchTotals) adds
        # its chain when it runs, and the count read "step 1 of 1", then "step 2 of 5"
        number, steps = (ended + 1, count) if count > 1 else (None, None)
        return Progress(status, row.command_type, number, steps, row.attempts if running else row.attempts + 1,
                        row.max_attempts, row.available_at if waits else None, error, note, now=now)
    if failed:
        row = failed[0]
        return Progress("failed", row.command_type, rows.index(row) + 1, count, row.attempts, row.max_attempts,
                        None, row.error, note, now=now)
    last = rows[-1] if rows else None
    if report is not None and report.failed:
        return Progress("failed", report.failed_step or (last.command_type if last else None), None, None,
                        None, None, None, report.error, note, now=now)
    return Progress("done", None, len(rows) or None, len(rows) or None,
                    last.attempts if last else None, last.max_attempts if last else None, None, None, note,
                    now=now)


def progress_of(bus: Bus, workflow_ids: Sequence[str]) -> Progress:
    """The progress of the given workflows now (one look, no waiting)."""
    now = bus.clock()
    by_workflow: dict[str, list[Any]] = {w: [] for w in workflow_ids}
    with bus.db.reader() as session:
        ids = list(by_workflow)
        for i in range(0, len(ids), 500):
            for row in session.execute(select(*_COLUMNS).where(T.c.workflow_id.in_(ids[i:i + 500]))
                                       .order_by(T.c.id)):
                by_workflow[str(row.workflow_id)].append(row)
        each = [_workflow(bus, session, w, rows, now) for w, rows in by_workflow.items()]
    if len(each) == 1:
        return each[0]
    return _combined(each, now)


def _combined(each: list[Progress], now: datetime) -> Progress:
    ended = [p for p in each if p.finished]
    failed = [p for p in ended if p.failed]
    running = [p for p in each if not p.finished]
    current: Progress | None
    if running:
        current = running[0]
        status = current.status
    else:
        current = failed[0] if failed else each[-1] if each else None
        status = "failed" if failed else "done"
    return Progress(status, current.step if current else None,
                    current.step_number if current else None, current.step_count if current else None,
                    current.attempt if current else None, current.max_attempts if current else None,
                    current.retry_at if current else None,
                    (failed[0].error if failed else None) or (current.error if current else None),
                    current.note if current else None, workflows=len(each), workflows_ended=len(ended),
                    workflows_failed=len(failed), now=now)


class Waker:
    """Wakes a waiting thread when the bus reports on the watched workflows (any, if none given).

    Use as a context manager: it subscribes on enter and unsubscribes on exit.
    """

    def __init__(self, events: EventHub | None, workflow_ids: Iterable[str] = ()) -> None:
        self.events = events
        self.watched = set(workflow_ids)
        self._wake = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None

    def _listener(self, event: MessageEvent) -> None:
        if not self.watched or not event.workflow_id or event.workflow_id in self.watched:
            self._wake.set()

    def __enter__(self) -> Waker:
        if self.events is not None:
            self._unsubscribe = self.events.subscribe(self._listener)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def wait(self, timeout: float) -> None:
        """Sleep until a watched event arrives or `timeout` passes."""
        self._wake.wait(timeout)
        self._wake.clear()


Followed = Dispatched | str | Sequence[Dispatched | str]


def _workflow_ids(work: Followed) -> list[str]:
    items: Sequence[Dispatched | str] = [work] if isinstance(work, Dispatched | str) else work
    return [w.workflow_id if isinstance(w, Dispatched) else w for w in items]


def follow(bus: Bus, work: Followed, *, should_stop: Callable[[], bool] = lambda: False,
           poll_seconds: float = 1.0) -> Iterator[Progress]:
    """Yield the progress of `work` (handles or workflow ids) when it changes, until it ended.

    The last item yielded is `finished` unless `should_stop()` ended the following first.
    Nothing followed at all (no workflow) is done at once.
    """
    workflow_ids = _workflow_ids(work)
    if not workflow_ids:
        yield Progress("done", None, None, None, None, None, None, None, None, workflows=0, now=bus.clock())
        return
    last: Progress | None = None
    with Waker(bus.events, workflow_ids) as waker:
        while True:
            progress = progress_of(bus, workflow_ids)
            if last is None or _changed(last, progress):
                yield progress
                last = progress
            if progress.finished or should_stop():
                return
            waker.wait(poll_seconds)
            if should_stop():
                return


def _changed(before: Progress, after: Progress) -> bool:
    """Worth showing again: anything but the clock moved, or the shown wait went down a second."""
    if before.wait is not None and after.wait is not None and int(before.wait.total_seconds()) != int(
            after.wait.total_seconds()):
        return True
    return (before.status, before.step, before.step_number, before.step_count, before.attempt, before.error,
            before.note, before.workflows_ended, before.workflows_failed) != (
        after.status, after.step, after.step_number, after.step_count, after.attempt, after.error, after.note,
        after.workflows_ended, after.workflows_failed)


def wait_for(bus: Bus, work: Followed, *, on_progress: Callable[[Progress], None] = lambda p: None,
             should_stop: Callable[[], bool] = lambda: False, poll_seconds: float = 1.0) -> Progress:
    """Follow `work` to its end (or until `should_stop()`), reporting each change; the last progress."""
    final: Progress | None = None
    for final in follow(bus, work, should_stop=should_stop, poll_seconds=poll_seconds):
        on_progress(final)
    assert final is not None  # follow always yields once
    return final
