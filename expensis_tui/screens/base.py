"""What every console screen shares: header and footer, loading in workers, a poll that
cannot overlap, paging, and the one place worker failures become notifications."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast
from zoneinfo import ZoneInfo

from rich.console import RenderableType
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Header
from textual.worker import Worker, WorkerState

from core.runtime import Runtime
from core.security import roles
from core.security.roles import Action
from expensis_tui.messages import ProgressUpdate
from expensis_tui.widgets.keyed_table import KeyedTable
from expensis_tui.widgets.nav import NavBar
from expensis_tui.widgets.progress import ProgressScreen
from expensis_tui.widgets.text_view import TextViewScreen

if TYPE_CHECKING:
    from expensis_tui.app import ExpensisApp

T = TypeVar("T")
C = TypeVar("C", bound=tuple[Any, ...])  # a KeyedTable column: (key, label[, width])

# Exceptions whose message already says what went wrong in the operator's words.
_WORDED = ("NotFound", "ProfileError", "NotAllowed", "SecretError", "DatabaseUnavailable",
           "UnknownCustomer", "ValueError", "ConfigError")


def reason(error: BaseException | None) -> str:
    """The reason for a failure, in words: the message, or the kind of error when there is none."""
    if error is None:
        return "unknown error"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if text and any(c.__name__ in _WORDED for c in type(error).__mro__):
        return text
    name = type(error).__name__
    return f"{name}: {text}" if text else name


def report_worker_failure(app: App[Any], event: Worker.StateChanged) -> bool:
    """Worker.StateChanged → a notification with the reason; True when it was a failure."""
    if event.state != WorkerState.ERROR:
        return False
    worker = event.worker
    what = worker.description or worker.name or "background work"
    app.notify(f"{what} failed: {reason(worker.error)}", severity="error")  # red, and stays until Esc
    return True


def if_answered(action: Callable[[T], object]) -> Callable[[T | None], None]:
    """A `push_screen` callback running `action` with the answer, unless cancelled (None/False)."""

    def callback(answer: T | None) -> None:
        if answer:
            action(answer)

    return callback


def local_time(moment: datetime | None, zone: ZoneInfo, fmt: str = "%d-%m %H:%M", *,
               zone_name: bool = False) -> str:
    """A time in the console's zone. In a column the header names the zone (`ConsoleScreen.zoned`);
    a time standing alone in a line or a detail names it itself (`zone_name=True`)."""
    from core.billing.i18n import (
        format_time,  # the one time formatter; loaded after the first paint
    )

    return format_time(moment, zone, fmt, zone_name=zone_name)


def age(moment: datetime | None, now: datetime) -> str:
    """'42s', '5m', '3h', '2d' since `moment`."""
    if moment is None:
        return "—"
    seconds = max(0, int((now - moment).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class ConsoleScreen(Screen[None]):
    """A screen of the console. Subclasses implement `compose_body` and `load`."""

    AREA: ClassVar[str] = ""  # names the screen's actions in the command palette ("sync: …")
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("escape", "focus_main", "Back to the list", show=False),
    ]
    TITLE: ClassVar[str | None] = None  # shown in the header; the app's sub-title follows it
    # screen action → the core.security.roles.Action it needs (one table: core checks the same)
    ROLE_ACTIONS: ClassVar[dict[str, Action]] = {}

    def __init__(self) -> None:
        super().__init__()
        self._poll_timer: Timer | None = None
        self._refresh_pending = False
        self.progress: ProgressScreen | None = None  # the open progress modal of long work, if any
        self.load_seq = 0  # loads are numbered as they are asked for
        self.shown_seq = 0  # the load whose answer is on screen
        self._details: dict[str, TextViewScreen] = {}  # the detail views opened, by what they show

    def next_load(self) -> int:
        """Number a load (on the event loop); `fresh` tells its answer from a stale one."""
        self.load_seq += 1
        return self.load_seq

    def fresh(self, seq: int) -> bool:
        """Whether to show a load's answer: a cancelled thread worker still posts its result,
        possibly after a newer load's, which must not be overwritten with older data."""
        if seq < self.shown_seq:
            return False
        self.shown_seq = seq
        return True

    @property
    def console(self) -> ExpensisApp:
        return cast("ExpensisApp", self.app)

    @property
    def rt(self) -> Runtime:
        return self.console.runtime

    @property
    def zone(self) -> ZoneInfo:
        return self.console.zone

    def now(self) -> datetime:
        return self.console.clock()

    def zoned(self, columns: Sequence[C], *time_keys: str) -> list[C]:
        """The columns with the zone named in the header of each time column: "When (CET)"."""
        from core.billing.i18n import time_zone_label

        zone = time_zone_label(self.zone, self.now())
        return [cast("C", (c[0], f"{c[1]} ({zone})", *c[2:])) if c[0] in time_keys else c for c in columns]

    def permitted(self, action: Action, target: str = "") -> bool:
        """The console's early answer before asking core; a refusal is shown and audited
        `denied` like core's own (core checks again in the action either way)."""
        # with the secret box: loaded on the first action, not before the first paint
        from core import profiles

        if profiles.can(action, self.console.role):
            return True
        self.refuse(action, target)
        return False

    def refuse(self, action: Action, target: str = "") -> None:
        self.run_worker(partial(self._record_denial, action, target), thread=True, exit_on_error=False,
                        group="denial", description="Recording the refusal")

    def _record_denial(self, action: Action, target: str) -> None:
        denied = roles.record_denial(self.rt.db, self.rt.operator, action, target=target)
        self.app.notify(str(denied), severity="error")

    def compose(self) -> ComposeResult:
        yield Header()
        yield from self.compose_body()
        yield NavBar(self.console.nav_entries(), self.console.mode_of(self))
        yield Footer(compact=True)

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def action_focus_main(self) -> None:
        """Escape from a field back to the screen's table."""
        tables = self.query(DataTable)
        if tables:
            tables.first().focus()

    # -- detail ------------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row no screen handler took (their handlers `prevent_default`): every
        column of the row, whole and wrapped, kept live from the list."""
        table, key = event.data_table, event.row_key.value
        if isinstance(table, KeyedTable) and key is not None:
            self.show_row_detail(table, key)

    def show_row_detail(self, table: KeyedTable, key: str) -> None:
        body = table.row_detail(key)
        if body is None:
            return
        title = f"{self.TITLE or 'Row'}: {table.cells_of(key)[0]}"  # type: ignore[index]

        def again() -> None:
            self.load()  # the list reads again (the screen's poll rests under a modal) …
            fresh = table.row_detail(key)  # … and the view shows what the list has now
            if fresh is not None:
                self.show_detail(title, fresh, key=f"row:{table.id}:{key}")

        self.show_detail(title, body, key=f"row:{table.id}:{key}", reload=again)

    def show_detail(self, title: str, body: RenderableType, *, key: str,
                    reload: Callable[[], object] | None = None) -> None:
        """Open a detail view, or update the open one showing the same thing (live details).
        A reload's answer arriving after its view was closed opens nothing."""
        view = self._details.get(key)
        if view is not None and view.is_attached:
            view.show(title, body)
            return
        if view is not None and view.reloading:
            del self._details[key]
            return
        view = self._details[key] = TextViewScreen(title, body, key=key, reload=reload,
                                                   every=self.console.poll_seconds)
        self.app.push_screen(view)

    def action_refresh(self) -> None:
        """`r`, on every screen: read again now."""
        self.load()

    def jump_to(self, words: tuple[str, ...]) -> None:
        """What follows the screen's name in a `:` jump; by default it filters the list."""
        tables = self.query(KeyedTable)
        if tables:
            tables.first().focus()
            tables.first().set_filter(" ".join(words))

    # -- loading and polling ---------------------------------------------------------------

    def load(self) -> None:
        """Start the worker that reads this screen's data (it posts a typed message)."""

    @property
    def showing(self) -> bool:
        """On top: not hidden behind another mode, no modal open over it."""
        return self.is_attached and self.app.screen is self

    def on_screen_resume(self) -> None:
        self.load()

    @property
    def load_running(self) -> bool:
        return any(w.node is self and w.group == "load" and not w.is_finished for w in self.app.workers)

    def refresh_if_showing(self) -> None:
        """A bus event: reload now, or right after the load in progress (never two at once)."""
        if not self.showing:
            return
        if self.load_running:
            self._refresh_pending = True
        else:
            self.load()

    def loaded(self) -> None:
        """Call when fresh data is shown: the next poll starts only now, so polls never overlap."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
        delay = 0.2 if self._refresh_pending else self.console.poll_seconds
        self._refresh_pending = False
        self._poll_timer = self.set_timer(delay, self._poll)

    def _poll(self) -> None:
        self._poll_timer = None
        if self.showing:  # hidden or under a modal: skip; resuming loads again
            self.load()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if report_worker_failure(self.app, event):
            self.worker_failed(event.worker)

    def worker_failed(self, worker: Worker[Any]) -> None:
        """After the notification: keep polling, and end an open progress modal in words."""
        self.console.release_keys()  # keys held for a modal this worker would have opened
        if worker.group == "load":
            self.loaded()
        elif self.progress is not None and self.progress.is_attached and not self.progress.finished:
            self.progress.update_progress(ProgressUpdate(0, None, f"failed: {reason(worker.error)}",
                                                         finished=True, failed=True))


class PagedScreen(ConsoleScreen):
    """A listing paged in SQL: `[` and `]` move a page, the status line says where we are."""

    PAGE_SIZE: ClassVar[int] = 50
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]", show=False),
        Binding("left_square_bracket", "page(-1)", "Previous page", key_display="[", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.page_offset = 0
        self._total = 0
        self.filter_words: tuple[str, ...] = ()  # a list filtered in SQL: its filter's words

    @on(KeyedTable.Filtered)
    def filter_in_sql(self, event: KeyedTable.Filtered) -> None:
        """A list whose query applies the filter (`local_filter=False`): every key reads again,
        from the first page, so the filter searches every page, not the one shown."""
        if not event.table.local_filter:
            self.filter_words = tuple(event.text.split())
            self.filters_changed()

    @property
    def total(self) -> int:
        """The rows of the listing's query over all pages (each screen sets it when a page loads)."""
        return self._total

    @total.setter
    def total(self, rows: int) -> None:
        self._total = rows
        for table in self.query(KeyedTable):  # its filter narrows one page: its header says so
            table.rows_in_all = rows

    def action_page(self, direction: int) -> None:
        offset = self.page_offset + direction * self.PAGE_SIZE
        if offset < 0 or (direction > 0 and offset >= self.total):
            self.notify("no more pages that way", timeout=2)
            return
        self.page_offset = offset
        self.load()

    def filters_changed(self) -> None:
        self.page_offset = 0
        self.load()
