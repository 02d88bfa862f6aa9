"""The failures window (`f` on the dashboard): every open failure, its full error, its one retry."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from core.addons import AddonError
from core.runtime import Runtime
from core.security.roles import NotAllowed
from core.views.failures import Failure, FailureDetail, UnknownFailure, get_failure, list_failures
from core.workflows.failures import CannotRetry, retry_failure
from core.workflows.sync import SyncBusy
from expensis_tui.screens.base import if_answered
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.keyed_table import KeyedTable
from expensis_tui.widgets.text_view import TextViewScreen


@dataclass
class FailuresLoaded(Message, bubble=False):
    failures: list[Failure]


@dataclass
class FailureOpened(Message, bubble=False):
    detail: FailureDetail


@dataclass
class RetryDone(Message, bubble=False):
    text: str
    ok: bool


class FailuresScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", key_display="esc"),
        # a modal shuts out the app's keys: `r` means refresh here as everywhere
        Binding("r", "refresh", "Refresh", tooltip="Read the failures again", show=False),
        Binding("R", "retry", "Retry", key_display="R", tooltip="Retry the selected failure", id="failures-retry"),
    ]

    def __init__(self, rt: Runtime, *, select: str | None = None) -> None:
        super().__init__()
        self.rt = rt
        self.select = select  # the failure to put the cursor on (a failed sync task from Tasks)
        self.failures: dict[str, Failure] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Failures", classes="dialog-title")
            yield KeyedTable([("ref", "Failure"), ("what", "What")], id="failures-list")
            yield Static("", id="failure-error")
            yield Label("enter: attempts and full error · R: retry · r: read again · esc: close", classes="dialog-detail")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading failures")
    def load(self) -> None:
        self.post_message(FailuresLoaded(list_failures(self.rt.db, limit=200)))

    def on_failures_loaded(self, message: FailuresLoaded) -> None:
        self.failures = {f.ref: f for f in message.failures}
        table = self.query_one(KeyedTable)
        table.show_rows([(f.ref, (f.ref, f"{f.subject}: {f.what}")) for f in message.failures])
        if not message.failures:
            self.query_one("#failure-error", Static).update(Text("no failures", style="dim"))
        if self.select in self.failures:
            table.move_cursor(row=table.get_row_index(self.select))
            self.select = None
        self.show_error()

    @on(DataTable.RowHighlighted)
    def show_error(self) -> None:
        key = self.query_one(KeyedTable).selected_key
        failure = self.failures.get(key or "")
        if failure is not None:  # wrapped in full, never cut at the window edge
            self.query_one("#failure-error", Static).update(Text(failure.error or "(no error)", style="red"))

    @on(DataTable.RowSelected)
    def open_detail(self, event: DataTable.RowSelected) -> None:
        event.prevent_default()
        if event.row_key.value is not None:
            self.load_detail(str(event.row_key.value))

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Loading the failure")
    def load_detail(self, ref: str) -> None:
        self.post_message(FailureOpened(get_failure(self.rt.db, ref)))

    def on_failure_opened(self, message: FailureOpened) -> None:
        d = message.detail
        attempts = Table(box=None, padding=(0, 1), header_style="dim")
        for column in ("#", "at (UTC)", "outcome", "error"):
            attempts.add_column(column)
        for a in d.attempts:
            attempts.add_row(str(a.number), f"{a.at:%Y-%m-%d %H:%M:%S}", a.outcome, Text(a.error, style="red"))
        f = d.failure
        body = Group(Text(f"{f.subject}: {f.what}", style="bold"), Text(f.error, style="red"),
                     Text("\nattempts", style="bold"), attempts if d.attempts else Text("none recorded", style="dim"),
                     Text(f"\nretry: {f.retry}", style="dim"))
        self.app.push_screen(TextViewScreen(f"Failure {f.ref}", body))

    def action_retry(self) -> None:
        failure = self.failures.get(self.query_one(KeyedTable).selected_key or "")
        if failure is None:
            self.notify("No failure selected", severity="warning", timeout=3)
            return
        self.app.push_screen(ConfirmScreen(f"Retry {failure.ref}?", detail=failure.retry.capitalize() + ".",
                                           yes="Retry"), if_answered(lambda _: self.retry(failure.ref)))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Retrying")
    def retry(self, ref: str) -> None:
        try:
            started = retry_failure(self.rt.bus, ref, operator=self.rt.operator)
        except (NotAllowed, SyncBusy, CannotRetry, UnknownFailure, AddonError) as exc:
            self.post_message(RetryDone(f"{ref}: {exc}", ok=False))
            return
        self.post_message(RetryDone(started.summary, ok=not started.failed))

    def on_retry_done(self, message: RetryDone) -> None:
        self.notify(message.text, severity="information" if message.ok else "error")
        self.load()

    def action_refresh(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.dismiss(None)
