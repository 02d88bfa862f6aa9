"""Dashboard: last sync per provider, queue depth, CDRs imported per day, the scheduler,
and the latest failures."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from expensis_tui.messages import DashboardLoaded
from expensis_tui.screens.base import ConsoleScreen, age, local_time
from expensis_tui.widgets.keyed_table import KeyedTable

STATUS_STYLE = {"completed": "green", "completed_with_warnings": "bold yellow", "failed": "bold red",
                "processing": "yellow", "pending": "cyan", "done": "green", "queued": "cyan", "running": "yellow"}


def status_text(status: str | None, reason: str | None = None) -> Text:
    if status is None:
        return Text("never", style="dim")
    shown = "warnings" if status == "completed_with_warnings" else status  # fits the 10-wide columns
    label = f"{shown} ({reason})" if reason else shown
    return Text(label, style=STATUS_STYLE.get(status, ""))


class DashboardScreen(ConsoleScreen):
    AREA = "dashboard"
    TITLE = "Dashboard"
    BINDINGS = [
        Binding("r", "refresh", "Refresh", tooltip="Refresh the figures now", id="dashboard-refresh"),
        Binding("f", "show_failures", "Failures", tooltip="Show failures: full error, attempts, retry",
                id="dashboard-failures"),
    ]

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(id="dash-top"):
            with Vertical(id="dash-queue", classes="panel"):
                yield Label("Queue", classes="panel-title")
                yield Static("…", id="queue-figures")
            with Vertical(id="dash-scheduler", classes="panel"):
                yield Label("Scheduler", classes="panel-title")
                yield Static("…", id="scheduler-figures")
        yield Label("Providers: last sync", classes="section-title")
        yield KeyedTable([("provider", "Provider"), ("profiles", "Profiles"), ("last", "Last sync"),
                          ("customer", "Customer"), ("status", "Status")], id="providers")
        with Horizontal(id="dash-imports"):
            yield Label("CDRs/day, 14 days", id="imports-label")
            yield Sparkline([0] * 14, id="imports")
            yield Label("", id="imports-total")
        yield Label("Latest failures", classes="section-title")
        yield KeyedTable([("ref", "Failure"), ("what", "What"), ("when", "Failed"), ("error", "Error")],
                         id="failures")

    def load(self) -> None:
        self.load_figures()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading the dashboard")
    def load_figures(self) -> None:
        # the queries (and every model they join) load here, in the worker, after the first paint
        from core.views.dashboard import imports_per_day, latest_failures, provider_syncs
        from core.views.failures import count_failures

        db, now = self.rt.db, self.now()
        self.post_message(DashboardLoaded(
            providers=provider_syncs(db),
            queue=self.rt.bus.counts(),
            imports=imports_per_day(db, now.astimezone(self.zone).date(), self.zone),
            failures=latest_failures(db, limit=5),
            failure_count=count_failures(db),
            scheduler=self.console.scheduler_view(),
        ))

    def on_dashboard_loaded(self, message: DashboardLoaded) -> None:
        from core.views.dashboard import first_line  # loaded by the worker by now

        q = message.queue
        queue = Text.assemble(("queued ", "dim"), (f"{q.get('queued', 0):,}", "bold cyan"),
                              ("  running ", "dim"), (f"{q.get('running', 0):,}", "bold yellow"),
                              ("\nfailed ", "dim"),
                              (f"{message.failure_count:,}", "bold red" if message.failure_count else "bold"),
                              ("  done ", "dim"), (f"{q.get('done', 0):,}", "bold green"))
        self.query_one("#queue-figures", Static).update(queue)
        sched = message.scheduler
        today = self.now().astimezone(self.zone).date()
        def when(at: datetime) -> str:
            same_day = at.astimezone(self.zone).date() == today
            return local_time(at, self.zone, "%H:%M" if same_day else "%d-%m %H:%M")

        runs = "  ".join(f"{job} {when(at)}" for job, at in sched.next_runs if at is not None)
        self.query_one("#scheduler-figures", Static).update(
            Text.assemble((sched.summary, "bold"), ("\nnext: ", "dim"), runs or "—"))
        now = self.now()
        self.query_one("#providers", KeyedTable).show_rows([
            (p.provider, (p.provider, f"{p.active}/{p.profiles}",
                          f"{when(p.last_sync_at)} ({age(p.last_sync_at, now)})"  # today: time only, so
                          if p.last_sync_at else "—",                               # status fits in 80
                          p.last_customer or "", status_text(p.last_status, p.last_reason)))
            for p in message.providers])
        self.query_one("#imports", Sparkline).data = message.imports
        self.query_one("#imports-total", Label).update(
            f"{sum(message.imports):,} (today {message.imports[-1]:,})")
        self.query_one("#failures", KeyedTable).show_rows([
            (f.ref, (f.ref, f"{f.subject}: {f.what}", age(f.failed_at, now),
                     Text(first_line(f.error), style="red")))
            for f in message.failures])
        self.loaded()

    def action_refresh(self) -> None:
        self.load()

    def action_show_failures(self) -> None:
        from expensis_tui.screens.failures import FailuresScreen

        self.app.push_screen(FailuresScreen(self.rt))
