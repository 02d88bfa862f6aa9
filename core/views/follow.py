"""Following workflows to their end: woken by bus events, re-checked from the table.

The table is the truth (another process may run the steps); in-process events only
make the check come sooner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from core.bus.events import EventHub, MessageEvent
from core.db import Database
from core.models import Message


@dataclass(frozen=True)
class Progress:
    total: int
    finished: int
    failed: int
    current_step: str | None

    @property
    def done(self) -> bool:
        return self.finished >= self.total


def unfinished(db: Database, workflow_ids: Iterable[str]) -> tuple[set[str], set[str], str | None]:
    """Of the given workflows: those with queued/running steps, those with a failed step,
    and the step a pending one is at."""
    pending: set[str] = set()
    failed: set[str] = set()
    step: str | None = None
    ids = list(workflow_ids)
    with db.reader() as session:
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            rows = session.execute(
                select(Message.workflow_id, Message.status, func.min(Message.command_type))
                .where(Message.workflow_id.in_(chunk), Message.status.in_(("queued", "running", "failed")))
                .group_by(Message.workflow_id, Message.status))
            for workflow_id, status, command_type in rows:
                if status == "failed":
                    failed.add(str(workflow_id))
                else:
                    pending.add(str(workflow_id))
                    step = step or str(command_type)
    return pending - failed, failed, step


class Waker:
    """Wakes a waiting thread when the bus reports on the watched workflows (any, if none given).

    Use as a context manager: it subscribes on enter and unsubscribes on exit.
    """

    def __init__(self, events: EventHub | None, workflow_ids: Iterable[str] = ()) -> None:
        self.events = events
        self.watched = set(workflow_ids)
        self._wake = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None

    def watch(self, workflow_id: str) -> None:
        self.watched.add(workflow_id)

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


def follow_workflows(db: Database, events: EventHub | None, workflow_ids: list[str], *,
                     on_progress: Callable[[Progress], None], should_stop: Callable[[], bool],
                     poll_seconds: float = 1.0) -> Progress:
    """Report progress until every workflow finished (done or failed) or `should_stop()` says so.

    A workflow with a failed step counts as finished: its chain stops there.
    """
    with Waker(events, workflow_ids) as waker:
        while True:
            pending, failed, step = unfinished(db, workflow_ids)
            progress = Progress(len(workflow_ids), len(workflow_ids) - len(pending), len(failed), step)
            on_progress(progress)
            if progress.done or should_stop():
                return progress
            waker.wait(poll_seconds)
            if should_stop():
                return progress
