"""Dashboard: last sync per provider, queue depth, CDRs imported per day, the scheduler,
the latest failures, and roaming caps reached (bill shock) in red above it all."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Sparkline, Static

from expensis_tui.messages import DashboardLoaded
from expensis_tui.screens.base import ConsoleScreen, age, local_time
from expensis_tui.widgets.keyed_table import KeyedTable

if TYPE_CHECKING:
    from core.views.dashboard import CapAlert

STATUS_STYLE = {"completed": "green", "completed_with_warnings": "bold yellow", "failed": "bold red",
                "processing": "yellow", "pending": "cyan", "done": "green", "queued": "cyan", "running": "yellow"}


def status_text(status: str | None, reason: str | None = None) -> Text:
    if status is None:
        return Text("never", style="dim")
    shown = "warnings" if status == "completed_with_warnings" else status  # fits the 10-wide columns
    label = f"{shown} ({reason})" if reason else shown
    return Text(label, style=STATUS_STYLE.get(status, ""))


SHOWN_CAP_ALERTS = 2


def cap_alert_text(alerts: list[CapAlert]) -> Text:
    """One line per subscription at a roaming cap level (the highest first), then how many more."""
    text = Text()
    for alert in alerts[:SHOWN_CAP_ALERTS]:
        status = alert.status
        text.append(f"⚠ {alert.level}% roaming data cap ",
                    style="bold red" if alert.level == 100 else "bold yellow")
        text.append(f"{alert.customer_code} {alert.cycle_start:%Y-%m} {alert.number}: "
                    f"€ {status.spent:.2f} of € {status.cap:.2f}\n")
    if len(alerts) > SHOWN_CAP_ALERTS:
        text.append(f"  and {len(alerts) - SHOWN_CAP_ALERTS} more: the bill_shock insights (Totals)\n",
                    style="dim")
    text.rstrip()
    return text


class DashboardScreen(ConsoleScreen):
    AREA = "dashboard"
    TITLE = "Dashboard"
    BINDINGS = [
        Binding("f", "show_failures", "Failures", tooltip="Show failures: full error, attempts, retry",
                id="dashboard-failures"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._cap_alerts_seen: set[tuple[str, date, str, int]] = set()  # notified once each
        # the last CDRs-per-call-day series and what it was read for (only the load worker uses it)
        self.call_days: tuple[object, list[int]] = (None, [])

    def compose_body(self) -> Iterable[Widget]:
        yield Static("", id="cap-alerts")  # shown only when a roaming cap is reached
        with Horizontal(id="dash-top"):
            with Vertical(id="dash-queue", classes="panel"):
                yield Label("Queue", classes="panel-title")
                yield Static("…", id="queue-figures")
            with Vertical(id="dash-scheduler", classes="panel"):
                yield Label("Scheduler", classes="panel-title")
                yield Static("…", id="scheduler-figures")
        yield Label("Providers: last sync", classes="section-title")
        yield KeyedTable(self.zoned([("provider", "Provider"), ("profiles", "Profiles"), ("last", "Last sync"),
                                     ("customer", "Customer"), ("status", "Status")], "last"), id="providers")
        with Horizontal(id="dash-imports"):
            yield Label("CDRs/day\n14 days", id="imports-label")
            with Vertical(id="cdr-series"):
                yield Sparkline([0] * 14, id="calls")  # by the day of the call
                yield Sparkline([0] * 14, id="imports")  # by the day they were imported
            with Vertical(id="cdr-totals"):
                yield Label("", id="calls-total")
                yield Label("", id="imports-total")
        yield Label("Latest failures", classes="section-title")
        yield KeyedTable([("ref", "Failure"), ("what", "What"), ("when", "Failed"), ("error", "Error")],
                         id="failures")

    def load(self) -> None:
        self.load_figures()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading the dashboard")
    def load_figures(self) -> None:
        # the queries (and every model they join) load here, in the worker, after the first paint
        from core.views.dashboard import (
            cdrs_per_call_day,
            imports_per_day,
            latest_failures,
            provider_syncs,
            roaming_cap_alerts,
        )
        from core.views.failures import count_failures

        db, today = self.rt.db, self.now().astimezone(self.zone).date()
        imports = imports_per_day(db, today, self.zone)
        key = (today, tuple(imports))  # CDRs arrive only by import: no new import, same call days
        calls = self.call_days[1] if self.call_days[0] == key else cdrs_per_call_day(db, today, self.zone)
        self.call_days = (key, calls)
        self.post_message(DashboardLoaded(
            providers=provider_syncs(db),
            queue=self.rt.bus.counts(),
            calls=calls,
            imports=imports,
            failures=latest_failures(db, limit=5),
            failure_count=count_failures(db),
            scheduler=self.console.scheduler_view(),
            cap_alerts=roaming_cap_alerts(db),
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
        from core.billing.i18n import time_zone_label

        sched = message.scheduler
        today = self.now().astimezone(self.zone).date()
        def when(at: datetime) -> str:
            same_day = at.astimezone(self.zone).date() == today
            return local_time(at, self.zone, "%H:%M" if same_day else "%d-%m %H:%M")

        runs = "  ".join(f"{job} {when(at)}" for job, at in sched.next_runs if at is not None)
        self.query_one("#scheduler-figures", Static).update(
            Text.assemble((sched.summary, "bold"), (f"\nnext ({time_zone_label(self.zone, self.now())}): ", "dim"),
                          runs or "—"))
        now = self.now()
        self.query_one("#providers", KeyedTable).show_rows([
            (p.provider, (p.provider, f"{p.active}/{p.profiles}",
                          f"{when(p.last_sync_at)} ({age(p.last_sync_at, now)})"  # today: time only, so
                          if p.last_sync_at else "—",                               # status fits in 80
                          p.last_customer or "", status_text(p.last_status, p.last_reason)))
            for p in message.providers])
        for series, days, words in (("calls", message.calls, "by call date"),
                                    ("imports", message.imports, "imported")):
            self.query_one(f"#{series}", Sparkline).data = days
            self.query_one(f"#{series}-total", Label).update(f"{words} {sum(days):,} (today {days[-1]:,})")
        self.query_one("#failures", KeyedTable).show_rows([
            (f.ref, (f.ref, f"{f.subject}: {f.what}", age(f.failed_at, now),
                     Text(first_line(f.error), style="red")))
            for f in message.failures])
        self.show_cap_alerts(message.cap_alerts)
        self.loaded()

    def show_cap_alerts(self, alerts: list[CapAlert]) -> None:
        """The alert lines, and a notification for each level not seen before on this screen."""
        panel = self.query_one("#cap-alerts", Static)
        panel.display = bool(alerts)
        panel.update(cap_alert_text(alerts))
        for alert in alerts:
            key = (alert.customer_code, alert.cycle_start, alert.number, alert.level)
            if key not in self._cap_alerts_seen:
                self._cap_alerts_seen.add(key)
                self.notify(f"{alert.customer_code} {alert.number}: {alert.level}% of the roaming data cap",
                            title="Bill shock", severity="error" if alert.level == 100 else "warning",
                            timeout=15)

    def action_show_failures(self) -> None:
        from expensis_tui.screens.failures import FailuresScreen

        self.app.push_screen(FailuresScreen(self.rt))
