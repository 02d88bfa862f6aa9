"""Typed messages that worker threads post back to the event loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:  # annotations only: the views load with the screens that read them
    from core.views.audit import AuditRow
    from core.views.dashboard import CapAlert, ProviderSync
    from core.views.failures import Failure
    from core.views.paging import Page
    from core.views.profiles import ProfileDetail, ProfileRow
    from core.views.tasks import StepDetail, StepRow, TaskDetail, TaskRow
    from core.views.totals import DiffLine, TotalsOverview


@dataclass
class BusChanged(Message, bubble=False):
    """Something happened on the bus in this process; a burst collapses into one refresh."""

    kind: str
    workflow_id: str

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BusChanged)


@dataclass(frozen=True)
class SchedulerView:
    """What the console knows of the scheduler: from the embedded service or the lease table."""

    summary: str  # "leader here", "attached to daemon on HOST", "no scheduler running"
    next_runs: list[tuple[str, datetime | None]] = field(default_factory=list)


@dataclass
class DashboardLoaded(Message, bubble=False):
    providers: list[ProviderSync]
    queue: dict[str, int]
    calls: list[int]  # CDRs per call day, the last 14 days
    imports: list[int]  # CDRs per import day, the same days
    failures: list[Failure]
    failure_count: int
    scheduler: SchedulerView
    cap_alerts: list[CapAlert] = field(default_factory=list)  # roaming caps reached (bill shock)


@dataclass
class ProfilesLoaded(Message, bubble=False):
    page: Page[ProfileRow]
    seq: int = 0  # the load's number (ConsoleScreen.next_load)


@dataclass
class ProfileDetailLoaded(Message, bubble=False):
    detail: ProfileDetail


@dataclass
class TasksLoaded(Message, bubble=False):
    page: Page[TaskRow]
    seq: int = 0  # the load's number (ConsoleScreen.next_load)


@dataclass
class StepsLoaded(Message, bubble=False):
    page: Page[StepRow]
    seq: int = 0  # the load's number (ConsoleScreen.next_load)


@dataclass
class TaskDetailLoaded(Message, bubble=False):
    detail: TaskDetail | StepDetail


@dataclass
class AuditLoaded(Message, bubble=False):
    page: Page[AuditRow]
    seq: int = 0  # the load's number (ConsoleScreen.next_load)


@dataclass
class TotalsLoaded(Message, bubble=False):
    overview: TotalsOverview
    seq: int = 0  # the load's number (ConsoleScreen.next_load)


@dataclass
class DiffLoaded(Message, bubble=False):
    title: str
    lines: list[DiffLine]
    same: str = "No differences: the totals are up to date."  # what no lines means here


@dataclass
class ActionDone(Message, bubble=False):
    """A state-changing action finished; `text` tells the operator what happened."""

    action: str
    text: str
    ok: bool = True


@dataclass
class ProgressUpdate(Message, bubble=False):
    """Progress of long work: `completed` of `total` (None: not known yet) and a status line."""

    completed: int
    total: int | None
    status: str
    finished: bool = False
    failed: bool = False
    error: str | None = None  # the last error in full: the window wraps it

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProgressUpdate) and not message.finished


@dataclass
class ServicesChanged(Message, bubble=False):
    """The embedded scheduler or workers started or stopped, or the leader changed."""

    scheduler: SchedulerView
