"""The Expensis console: eight screens, the palette, the embedded services.

The app never touches the database on the event loop: screens read in thread workers,
bus events and a non-overlapping poll refresh what is on screen, and starting or
stopping the scheduler and workers happens in a worker too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker

from core.bus import MessageEvent
from core.models.base import utcnow
from core.runtime import Runtime
from expensis_tui.commands import ConsoleCommands
from expensis_tui.messages import BusChanged, SchedulerView, ServicesChanged
from expensis_tui.screens.base import ConsoleScreen, report_worker_failure
from expensis_tui.services import Services

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
    # actions in the footer itself: at 80 columns both do not fit on one line.
    BINDINGS = [
        *(Binding(key, f"go('{mode}')", label, tooltip=f"Show {mode}", show=False) for key, mode, label in NAV),
        Binding("question_mark", "help", "Keys", key_display="?", tooltip="Keys of this screen", show=False),
    ]

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

    # -- navigation --------------------------------------------------------------------------

    def nav_entries(self) -> tuple[tuple[str, str, str], ...]:
        return self.NAV

    def mode_of(self, screen: ConsoleScreen) -> str:
        return next((mode for mode, where in SCREENS.items()
                     if where == f"{type(screen).__module__}:{type(screen).__qualname__}"), "")

    async def action_go(self, mode: str) -> None:
        if self.current_mode != mode:
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
        from expensis_tui.widgets.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        title = self.screen.title or self.title
        self.push_screen(HelpScreen(self.screen, title))

    async def show_failed_tasks(self) -> None:
        from expensis_tui.screens.tasks import TasksScreen  # loaded by showing it

        await self.action_go("tasks")
        screen = self.screen
        if isinstance(screen, TasksScreen):
            screen.show_failed()
