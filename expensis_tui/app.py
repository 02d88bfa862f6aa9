"""The Expensis console: eight screens, the palette, the embedded services.

The app never touches the database on the event loop: screens read in thread workers,
bus events and a non-overlapping poll refresh what is on screen, and starting or
stopping the scheduler and workers happens in a worker too.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.notifications import Notify, SeverityLevel
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker

from core.bus import MessageEvent
from core.models.base import utcnow
from core.runtime import Runtime
from expensis_tui.commands import ConsoleCommands
from expensis_tui.messages import BusChanged, SchedulerView, ServicesChanged
from expensis_tui.screens.base import ConsoleScreen, report_worker_failure
from expensis_tui.services import Services
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.jump import JumpScreen, parse_jump
from expensis_tui.widgets.text_view import TextViewScreen
from expensis_tui.widgets.too_small import TooSmallScreen, too_small

# Each mode's screen class, imported when the mode is first shown: only the dashboard's
# module (and what it imports) loads before the first paint (issue 14.3).
SCREENS: dict[str, str] = {
    "dashboard": "expensis_tui.screens.dashboard:DashboardScreen",
    "profiles": "expensis_tui.screens.profiles:ProfilesScreen",
    "tasks": "expensis_tui.screens.tasks:TasksScreen",
    "totals": "expensis_tui.screens.totals:TotalsScreen",
    "audit": "expensis_tui.screens.audit:AuditScreen",
    "addons": "expensis_tui.screens.addons:AddonsScreen",
    "exports": "expensis_tui.screens.exports:ExportsScreen",
    "invoices": "expensis_tui.screens.invoices:InvoicesScreen",
    "messages": "expensis_tui.screens.messages:MessagesScreen",
}


def screen_class(mode: str) -> type[ConsoleScreen]:
    module, name = SCREENS[mode].split(":")
    return cast(type[ConsoleScreen], getattr(importlib.import_module(module), name))


def screen_classes() -> dict[str, type[ConsoleScreen]]:
    """Every mode's screen class (imports them all: the palette and tests read their bindings)."""
    return {mode: screen_class(mode) for mode in SCREENS}


def _new_screen(mode: str) -> ConsoleScreen:
    return screen_class(mode)()


class ExpensisApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Expensis"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        mode: partial(_new_screen, mode) for mode in SCREENS}
    DEFAULT_MODE = "dashboard"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    NAV: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("1", "dashboard", "Dash"), ("2", "profiles", "Syncs"), ("3", "tasks", "Tasks"),
        ("4", "totals", "Totals"), ("5", "audit", "Audit"), ("6", "addons", "Add-ons"),
        ("7", "exports", "Exports"), ("8", "invoices", "Invoices"), ("9", "messages", "Bus"))
    # The navigation keys are shown on the line above the footer (NavBar), the screen's own
    # actions in the footer itself: at 80 columns both do not fit on one line. These keys,
    # the lists' own (/ s Home End Enter) and [ ] mean the same on every screen; the rest of
    # the key map is in docs/operators.md ("Keys") and checked by tests/test_tui_keymap.py.
    BINDINGS = [
        *(Binding(key, f"go('{mode}')", label, tooltip=f"Show {mode}", show=False) for key, mode, label in NAV),
        Binding("question_mark", "help", "Keys", key_display="?", tooltip="Keys of this screen", show=False),
        # Esc dismisses the errors shown first (they stay until then); enabled only while one shows,
        # so otherwise Esc keeps its meaning on the screen or window
        Binding("escape", "dismiss_errors", "Dismiss", show=False, priority=True),
        Binding("r", "refresh", "Refresh", tooltip="Read the screen again now", show=False),
        Binding("colon", "jump", "Jump", key_display=":", tooltip="Jump: tasks failed, totals ACME 2026-10, msg 4711",
                show=False),
        Binding("N", "notices", "Notices", key_display="N", tooltip="The last notices in full", show=False),
        Binding("q", "quit", "Quit", tooltip="Quit (asks when work is running)", show=False),
    ]
    NOTICE_SECONDS = 4.0  # information and warnings; errors stay until dismissed
    MAX_ERRORS = 2  # the latest errors shown at once, one line each
    NOTICES_KEPT = 30  # the latest notices, in full, for N
    # Work that quitting would cut short: asked about first.
    WORK_GROUPS: ClassVar[frozenset[str]] = frozenset({"action", "recalc", "run", "sync", "follow"})

    def __init__(self, runtime: Runtime, *, start_services: bool = True,
                 clock: Callable[[], datetime] | None = None, poll_seconds: float = 5.0,
                 stop_grace: float = 30.0) -> None:
        super().__init__()
        self.runtime = runtime
        self.start_services = start_services
        self.clock: Callable[[], datetime] = clock or utcnow
        self.poll_seconds = poll_seconds
        self.stop_grace = stop_grace
        self.zone = ZoneInfo(runtime.settings.time_zone)
        self.services = Services(runtime, self.clock)
        self.stopping = False
        self.role: str | None = None  # the operator's role, read at start-up (core checks again)
        self._unsubscribe: Callable[[], None] | None = None
        self._typed: deque[events.Key] = deque()  # keys not yet handed on
        # what the toasts said, whole (a toast is one line, cut at the edge): time, severity, text
        self.notices: deque[tuple[datetime, str, str]] = deque(maxlen=self.NOTICES_KEPT)
        self._in_flight: events.Key | None = None  # the key handed on and not yet handled
        self._hold_timer: Timer | None = None
        self._holding = False  # a modal is opening: keys wait for it

    # -- start and stop ----------------------------------------------------------------------

    def on_mount(self) -> None:
        self.sub_title = self.runtime.operator
        self.call_after_refresh(lambda: self.fit_to(*self.size))
        # The scheduler (APScheduler, every job's workflow) and the role's query import and
        # hold the GIL for a while: started once the first frame is on screen, not before it.
        self.call_after_refresh(self.start_up)

    @work(thread=True, exclusive=True, exit_on_error=False, group="services",
          description="Starting the scheduler and workers")
    def start_up(self) -> None:
        from core.security.roles import role_of

        self.role = role_of(self.runtime.db, self.runtime.operator)
        self._unsubscribe = self.runtime.bus.events.subscribe(self.bus_event)
        if self.start_services:
            self.services.start()
        self.post_message(ServicesChanged(self.services.view()))

    def bus_event(self, event: MessageEvent) -> None:
        """Called on worker threads: only post (thread-safe), never touch widgets."""
        self.post_message(BusChanged(event.kind, event.workflow_id))

    def on_bus_changed(self, message: BusChanged) -> None:
        screen = self.screen
        if isinstance(screen, ConsoleScreen):
            screen.refresh_if_showing()
        elif isinstance(screen, TextViewScreen):
            screen.ask_again()  # a live detail

    def on_services_changed(self, message: ServicesChanged) -> None:
        self.sub_title = f"{self.runtime.operator} · {message.scheduler.summary}"
        self.screen.refresh_bindings()  # the role is known now: keys it does not allow are disabled
        if not self.stopping:
            self.set_timer(15.0, self.check_services)

    @work(thread=True, exclusive=True, exit_on_error=False, group="services",
          description="Reading the scheduler state")
    def check_services(self) -> None:
        if self.services.supervise():
            self.notify("The worker process had stopped and was restarted.", severity="warning")
        self.post_message(ServicesChanged(self.services.view()))

    def scheduler_view(self) -> SchedulerView:
        """For screen workers (thread-safe)."""
        return self.services.view()

    @property
    def work_running(self) -> bool:
        return any(w.group in self.WORK_GROUPS and not w.is_finished for w in self.workers)

    async def action_quit(self) -> None:
        """`q`: quit, asking first when work started here is still running."""
        if self.stopping:
            return
        if self.work_running:
            self.push_screen(ConfirmScreen("Work is still running: quit anyway?",
                                           detail="Messages in progress are handed back to other workers.",
                                           yes="Quit"),
                             lambda yes: self.call_later(self.stop_and_exit) if yes else None)
            return
        await self.stop_and_exit()

    async def stop_and_exit(self) -> None:
        """Stop the scheduler (releasing its lease) and the workers in a worker, then exit."""
        if self.stopping:
            return
        self.stopping = True
        if not self.services.running:
            self.exit()
            return
        self.notify("stopping the scheduler and workers…", title="Quitting", timeout=60)
        self.shut_down()

    @work(thread=True, exclusive=True, exit_on_error=False, group="stop", description="Stopping")
    def shut_down(self) -> None:
        try:
            released = self.services.stop(self.stop_grace)
            if released:
                self.notify(f"released {len(released)} unfinished message(s) for other workers")
        finally:
            self.call_from_thread(self.exit)

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.services.running:  # exited another way: do not leave the lease or threads behind
            self.services.stop(grace=0)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_worker_failure(self, event)

    # -- the terminal's size ----------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self.fit_to(event.size.width, event.size.height)

    def fit_to(self, width: int, height: int) -> None:
        """Below 80×24 a notice covers the screen (no cut layout); it goes when the terminal fits."""
        notice = self.screen if isinstance(self.screen, TooSmallScreen) else None
        if not too_small(width, height):
            if notice is not None:
                self.pop_screen()
        elif notice is None:
            self.push_screen(TooSmallScreen(width, height))
        else:
            notice.resized(width, height)

    @property
    def covered(self) -> bool:
        return any(isinstance(screen, TooSmallScreen) for screen in self.screen_stack)

    # -- notifications: one line, at the top, never over the status line, footer or a window --

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Thread-safe like App.notify. The title joins the message on its one line; errors
        stay until dismissed (Esc or a click), the rest go after a few seconds."""
        text = " ".join((f"{title}: {message}" if title else message).split())
        self.notices.append((self.clock(), severity, text))
        if severity == "error":
            timeout = float("inf")
        super().notify(text, severity=severity, timeout=timeout or self.NOTICE_SECONDS,
                       markup=markup)

    def on_notify(self, event: Notify) -> None:
        """Runs before Textual adds the new notification: a new notice replaces the earlier
        information and warnings, and only the latest errors stay, so toasts never stack up."""
        errors = [n for n in self._notifications if n.severity == "error"]
        stale = [n for n in self._notifications if n.severity != "error"]
        if event.notification.severity == "error":
            stale += errors[:max(0, len(errors) - self.MAX_ERRORS + 1)]
        for notification in stale:
            self._unnotify(notification, refresh=False)

    def action_dismiss_errors(self) -> None:
        for notification in [n for n in self._notifications if n.severity == "error"]:
            self._unnotify(notification, refresh=False)
        self._refresh_notifications()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "dismiss_errors":
            return bool(self.screen.query("Toast.-error"))  # an error on screen, not merely raised
        return True

    # -- navigation --------------------------------------------------------------------------

    def nav_entries(self) -> tuple[tuple[str, str, str], ...]:
        return self.NAV

    def mode_of(self, screen: ConsoleScreen) -> str:
        return next((mode for mode, where in SCREENS.items()
                     if where == f"{type(screen).__module__}:{type(screen).__qualname__}"), "")

    async def action_go(self, mode: str) -> None:
        if self.current_mode != mode and not self.covered:
            await self.switch_mode(mode)

    async def run_screen_action(self, mode: str, action: str) -> None:
        """From the palette: show the screen that owns the action, then run it there."""
        await self.action_go(mode)
        screen = self.screen
        if not screen.check_action(action, ()):  # a key shown disabled for this operator's role
            needed = getattr(screen, "ROLE_ACTIONS", {}).get(action)
            if isinstance(screen, ConsoleScreen) and needed is not None:
                screen.refuse(needed)  # shown and audited `denied`, as core's refusals are
            return
        await screen.run_action(action)

    def action_refresh(self) -> None:
        """`r` everywhere: the screen reads again (windows bind `r` themselves: a modal shuts
        out the app's keys)."""
        if isinstance(self.screen, ConsoleScreen):
            self.screen.load()

    def action_jump(self) -> None:
        self.push_screen(JumpScreen(), self.jump)

    async def jump(self, text: str | None) -> None:
        """`:tasks failed`, `:totals ACME 2026-10`, `:msg 4711`: the screen, then what follows for it."""
        if not text:
            return
        target = parse_jump(text, list(SCREENS))
        if target is None:
            self.notify(f"no screen called {text.split()[0]!r}: try {', '.join(SCREENS)}", severity="warning")
            return
        await self.action_go(target.mode)
        screen = self.screen
        if isinstance(screen, ConsoleScreen) and target.words:
            screen.jump_to(target.words)

    def action_notices(self) -> None:
        """The last notices, newest first, each in full: a toast holds one line of 80 columns."""
        from rich.text import Text

        body = Text()
        for at, severity, text in reversed(self.notices):
            style = {"error": "bold red", "warning": "yellow"}.get(severity, "")
            body.append(f"{at.astimezone(self.zone):%H:%M:%S} ", style="dim")
            body.append(f"{severity}: {text}\n", style=style)
        self.push_screen(TextViewScreen(f"The last {len(self.notices)} notice(s), newest first", body
                                        if self.notices else "no notice since the console started"))

    def action_help(self) -> None:
        from expensis_tui.widgets.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        title = self.screen.title or self.title
        self.push_screen(HelpScreen(self.screen, title))

    # -- keys typed ahead --------------------------------------------------------------------
    # Keys are handed on one at a time: the next goes out once the last was taken by a widget
    # or reached the bindings, so a key that opens a modal is done before the next is routed.
    # While a modal opens (and while a worker reads what it will show) keys wait, then go to
    # the widget that has focus in it.

    def hold_keys(self, seconds: float = 2.0) -> None:
        """Keys typed from now wait for the next modal (released at the latest after `seconds`)."""
        self._holding = True
        if self._hold_timer is not None:
            self._hold_timer.stop()
        self._hold_timer = self.set_timer(seconds, self.release_keys)

    def release_keys(self) -> None:
        self._holding = False
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        self.call_later(self._route_next_key)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            self._typed.append(event)
            await self._route_next_key()
            return
        await super().on_event(event)
        if isinstance(event, events.Key) and event is self._in_flight:
            self._key_done(event)  # it reached the app: its binding (if any) has run

    async def _route_next_key(self) -> None:
        if self._in_flight is not None or self._holding or not self._typed:
            return
        key = self._in_flight = self._typed.popleft()
        target = self.focused or self.screen
        await super().on_event(key)  # a priority binding, or forwarded to the focused widget
        if not key.is_forwarded:
            self._key_done(key)
            return
        target.call_later(self._key_taken, key)  # runs once the target has handled it
        self.set_timer(0.5, partial(self._key_done, key))  # stopped on its way up: go on anyway

    def _key_taken(self, key: events.Key) -> None:
        if key._stop_propagation:
            self._key_done(key)

    def _key_done(self, key: events.Key) -> None:
        if self._in_flight is key:
            self._in_flight = None
            self.call_later(self._route_next_key)

    def push_screen(self, screen: Screen[Any] | str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Every modal: the keys typed while it mounts go to it."""
        self.hold_keys()
        result = super().push_screen(screen, *args, **kwargs)
        self.screen.call_after_refresh(self.release_keys)
        return result

    async def show_failed_tasks(self) -> None:
        from expensis_tui.screens.tasks import TasksScreen  # loaded by showing it

        await self.action_go("tasks")
        screen = self.screen
        if isinstance(screen, TasksScreen):
            screen.show_failed()
