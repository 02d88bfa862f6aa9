"""The Expensis console: eight screens, the palette, the embedded services.

The app never touches the database on the event loop: screens read in thread workers,
bus events and a non-overlapping poll refresh what is on screen, and starting or
stopping the scheduler and workers happens in a worker too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.notifications import Notify, SeverityLevel
from textual.worker import Worker

from core.bus import MessageEvent
from core.models.base import utcnow
from core.runtime import Runtime
from expensis_tui.commands import ConsoleCommands
from expensis_tui.messages import BusChanged, SchedulerView, ServicesChanged
from expensis_tui.screens.addons import AddonsScreen
from expensis_tui.screens.audit import AuditScreen
from expensis_tui.screens.base import ConsoleScreen, report_worker_failure
from expensis_tui.screens.dashboard import DashboardScreen
from expensis_tui.screens.exports import ExportsScreen
from expensis_tui.screens.invoices import InvoicesScreen
from expensis_tui.screens.messages import MessagesScreen
from expensis_tui.screens.profiles import ProfilesScreen
from expensis_tui.screens.tasks import TasksScreen
from expensis_tui.screens.totals import TotalsScreen
from expensis_tui.services import Services
from expensis_tui.widgets.help import HelpScreen
from expensis_tui.widgets.too_small import TooSmallScreen, too_small

SCREENS: dict[str, type[ConsoleScreen]] = {
    "dashboard": DashboardScreen,
    "profiles": ProfilesScreen,
    "tasks": TasksScreen,
    "totals": TotalsScreen,
    "audit": AuditScreen,
    "addons": AddonsScreen,
    "exports": ExportsScreen,
    "invoices": InvoicesScreen,
    "messages": MessagesScreen,
}


class ExpensisApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Expensis"
    MODES = dict(SCREENS)
    DEFAULT_MODE = "dashboard"
    SCREEN_CLASSES: ClassVar[dict[str, type[ConsoleScreen]]] = SCREENS
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    NAV: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("1", "dashboard", "Dash"), ("2", "profiles", "Syncs"), ("3", "tasks", "Tasks"),
        ("4", "totals", "Totals"), ("5", "audit", "Audit"), ("6", "addons", "Add-ons"),
        ("7", "exports", "Exports"), ("8", "invoices", "Invoices"), ("9", "messages", "Bus"))
    # The navigation keys are shown on the line above the footer (NavBar), the screen's own
    # actions in the footer itself: at 80 columns both do not fit on one line.
    BINDINGS = [
        *(Binding(key, f"go('{mode}')", label, tooltip=f"Show {mode}", show=False) for key, mode, label in NAV),
        Binding("question_mark", "help", "Keys", key_display="?", tooltip="Keys of this screen", show=False),
        # Esc dismisses the errors shown first (they stay until then); enabled only while one shows,
        # so otherwise Esc keeps its meaning on the screen or window
        Binding("escape", "dismiss_errors", "Dismiss", show=False, priority=True),
    ]
    NOTICE_SECONDS = 4.0  # information and warnings; errors stay until dismissed
    MAX_ERRORS = 2  # the latest errors shown at once, one line each

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

    # -- start and stop ----------------------------------------------------------------------

    def on_mount(self) -> None:
        self.sub_title = self.runtime.operator
        self.call_after_refresh(lambda: self.fit_to(*self.size))
        self.start_up()

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

    async def action_quit(self) -> None:
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
        return next((mode for mode, cls in SCREENS.items() if isinstance(screen, cls)), "")

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

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        title = self.screen.title or self.title
        self.push_screen(HelpScreen(self.screen, title))

    async def show_failed_tasks(self) -> None:
        await self.action_go("tasks")
        screen = self.screen
        if isinstance(screen, TasksScreen):
            screen.show_failed()
