"""Exports: create a customer report for a cycle (Excel, CSV, usage, insights, cost centres) as
an export job, and follow the jobs live to their file, or to the reason they failed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Label
from textual.worker import get_current_worker

from core.bus import follow
from core.lookup import customer_by_code, cycle_start
from core.month import Month
from core.security.roles import Action
from core.views.billing import (
    CustomerChoice,
    ExportJobView,
    customer_choices,
    export_job,
    export_page,
    in_words,
)
from core.views.paging import Page
from core.workflows.exports import (
    COMPLETED,
    FAILED,
    KINDS,
    ExportStart,
    start_export,
)
from expensis_tui.screens.base import if_answered, local_time
from expensis_tui.screens.guarded import GuardedScreen
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.keyed_table import Column, KeyedTable
from expensis_tui.widgets.month_picker import ChoiceScreen, month_picker

KIND_NAMES = {"excel": "Excel", "csv": "CSV", "usage": "Usage", "insights": "Insights",
              "cost_centres": "Cost ctr"}
KIND_CHOICES = {
    "excel": "Excel      CDRs with rated amounts, a sheet per call type",
    "csv": "CSV        the same CDRs in one file",
    "usage": "Usage      usage, fee and amount per subscription",
    "insights": "Insights   billing insights and margin per subscription",
    "cost_centres": "Cost ctr   cost-centre settings and totals",
}
COLUMNS: list[Column] = [("id", "#", 4), ("kind", "Kind", 8), ("customer", "Customer", 8), ("cycle", "Cycle", 7),
                         ("status", "Status", 9), ("rows", "Rows", 13), ("file", "File / reason", 15)]
STATUS_STYLE = {COMPLETED: "green", FAILED: "bold red", "running": "yellow", "pending": "cyan"}
FINISHED = (COMPLETED, FAILED)


@dataclass
class ExportsLoaded(Message, bubble=False):
    seq: int
    page: Page[ExportJobView]


@dataclass
class ChoicesLoaded(Message, bubble=False):
    kind: str
    customers: list[CustomerChoice]


@dataclass
class JobChanged(Message, bubble=False):
    """A followed job moved on; `finished` once it completed or failed."""

    job: ExportJobView
    finished: bool

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, JobChanged) and message.job.id == self.job.id and not message.finished


def rows_text(job: ExportJobView) -> str:
    if job.status == "running" and job.total_rows:
        return f"{job.rows:,}/{job.total_rows:,}"
    return f"{job.rows:,}" if job.status == COMPLETED or job.rows else "—"


class ExportsScreen(GuardedScreen):
    AREA = "exports"
    TITLE = "Exports"
    BINDINGS = [
        Binding("n", "create", "New export", tooltip="Create export (kind, customer, cycle)",
                id="exports-create"),
    ]
    ROLE_ACTIONS = {"create": Action.EXPORT_CREATE}

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, ExportJobView] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield KeyedTable(COLUMNS, id="exports")
        yield Label("", id="row-detail")
        yield Label("", id="status-line", classes="status-line")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()

    def load(self) -> None:
        self.load_jobs(*self.load_args())

    def load_args(self) -> tuple[int, int]:
        return self.page_offset, self.next_load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading export jobs")
    def load_jobs(self, offset: int, seq: int) -> None:
        self.post_message(ExportsLoaded(seq, export_page(self.rt.db, offset=offset, limit=self.PAGE_SIZE)))

    def on_exports_loaded(self, message: ExportsLoaded) -> None:
        if not self.fresh(message.seq):
            return  # older than what is shown
        page = message.page
        self.total, self.jobs = page.total, {str(j.id): j for j in page.rows}
        self.query_one(KeyedTable).show_rows([(str(j.id), self.cells(j)) for j in page.rows])
        self.live = any(j.status not in FINISHED for j in page.rows)
        self.describe_row()
        self.query_one("#status-line", Label).update(
            f"{page.describe('export jobs')} · n new export · enter detail · [ ] pages")
        self.loaded()

    def cells(self, j: ExportJobView) -> tuple[str | Text, ...]:
        cycle = str(Month.of(j.cycle_start_date)) if j.cycle_start_date else ""
        if j.status == FAILED:
            last = Text(in_words(j.error_message), style="red")
        else:
            last = Text(Path(j.path).name if j.path else "", style="green" if j.path else "")
        return (str(j.id), KIND_NAMES.get(j.kind, j.kind), j.customer_code or "", cycle,
                Text(j.status, style=STATUS_STYLE.get(j.status, "")), rows_text(j), last)

    @on(DataTable.RowHighlighted)
    def row_highlighted(self) -> None:
        self.describe_row()

    def describe_row(self) -> None:
        """The highlighted job's file (whole path) or the reason it failed, in words."""
        job = self.jobs.get(self.query_one(KeyedTable).selected_key or "")
        line = Text()
        if job is not None:
            line = Text(f"#{job.id} {KIND_NAMES.get(job.kind, job.kind)} {job.customer_code or ''} · ",
                        style="bold")
            if job.status == COMPLETED:
                line.append(f"{job.rows:,} rows → {job.path}", style="green")
            elif job.status == FAILED:
                line.append(f"failed: {in_words(job.error_message)}", style="red")
            elif job.status == "running":
                line.append(f"writing: {rows_text(job)} rows", style="yellow")
            else:
                line.append("waiting for a worker" + (f" ({in_words(job.error_message)})"
                                                      if job.error_message else ""), style="cyan")
        self.query_one("#row-detail", Label).update(line)

    @on(DataTable.RowSelected)
    def open_job(self, event: DataTable.RowSelected) -> None:
        job = self.jobs.get(event.row_key.value or "")
        if job is None:
            return
        event.prevent_default()
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold")
        grid.add_column(overflow="fold")
        for label, value in (
                ("kind", KIND_CHOICES.get(job.kind, job.kind)), ("customer", job.customer_code or "—"),
                ("cycle", str(Month.of(job.cycle_start_date)) if job.cycle_start_date else "—"),
                ("status", job.status), ("rows", rows_text(job)), ("file", job.path or "—"),
                ("reason", in_words(job.error_message) if job.error_message else "—"),
                ("requested", f"{local_time(job.created_at, self.zone, '%Y-%m-%d %H:%M', zone_name=True)} by {job.requested_by}"),
                ("finished", local_time(job.finished_at, self.zone, "%Y-%m-%d %H:%M:%S", zone_name=True))):
            grid.add_row(label, value)
        self.show_detail(f"Export job #{job.id}", grid, key=f"export:{job.id}")

    # -- creating ----------------------------------------------------------------------------

    def action_create(self) -> None:
        picker = ChoiceScreen("New export: which report?", [(k, KIND_CHOICES[k]) for k in KINDS])
        self.app.push_screen(picker, if_answered(self.load_choices))

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Listing customers")
    def load_choices(self, kind: str) -> None:
        self.post_message(ChoicesLoaded(kind, customer_choices(self.rt.db)))

    def on_choices_loaded(self, message: ChoicesLoaded) -> None:
        if not message.customers:
            self.notify("There are no active customers to export", severity="warning")
            return
        codes = {str(c.id): c.code for c in message.customers}
        picker = ChoiceScreen(f"{KIND_NAMES[message.kind]} export of which customer?",
                              [(str(c.id), f"{c.code:<10} {c.name}") for c in message.customers])
        self.app.push_screen(picker, if_answered(partial(self.pick_cycle, message.kind, codes)))

    def pick_cycle(self, kind: str, codes: dict[str, str], key: str) -> None:
        code = codes[key]
        picker = month_picker(f"{KIND_NAMES[kind]} export of {code}", self.now().astimezone(self.zone).date(),
                              detail="Which cycle?")
        self.app.push_screen(picker, if_answered(partial(self.confirm, kind, code)))

    def confirm(self, kind: str, code: str, label: str) -> None:
        question = f"Create the {KIND_NAMES[kind]} export of {code} for {label}?"
        detail = "A worker writes the file to the exports directory; the list follows the job."
        self.app.push_screen(ConfirmScreen(question, detail=detail, yes="Create"),
                             if_answered(lambda _: self.create(kind, code, label)))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Creating the export")
    def create(self, kind: str, code: str, label: str) -> None:
        self.require(Action.EXPORT_CREATE, f"{code} {label}")
        with self.rt.db.reader() as session:
            customer = customer_by_code(session, code)
            customer_id, start = customer.id, cycle_start(customer, label)
        started = start_export(self.rt.bus, kind, customer_id, start, operator=self.rt.operator)
        self.app.call_from_thread(self.created, started.job_id, kind, code, start)
        self.follow_job(started)

    def created(self, job_id: int, kind: str, code: str, start: date) -> None:
        self.notify(f"export job {job_id} queued: {KIND_NAMES[kind]} {code} {Month.of(start)}")
        self.load()

    def follow_job(self, started: ExportStart) -> None:
        """In the creating worker: report the job until it completed or failed."""
        worker = get_current_worker()
        for progress in follow(self.rt.bus, started.handle, should_stop=lambda: worker.is_cancelled):
            job = export_job(self.rt.db, started.job_id)
            if job is None:
                return
            if progress.finished:  # the whole list as it is now, then the word: no second round trip
                offset, seq = self.app.call_from_thread(self.load_args)
                self.post_message(ExportsLoaded(seq, export_page(self.rt.db, offset=offset,
                                                                 limit=self.PAGE_SIZE)))
            self.post_message(JobChanged(job, progress.finished))

    def on_job_changed(self, message: JobChanged) -> None:
        job, key = message.job, str(message.job.id)
        if key in self.jobs:
            self.jobs[key] = job
            table = self.query_one(KeyedTable)
            for column, cell in zip((c[0] for c in COLUMNS), self.cells(job), strict=True):
                table.update_cell(key, column, cell)
            self.describe_row()
        if message.finished:
            if job.status == COMPLETED:
                self.notify(f"export job {job.id} completed: {job.rows:,} rows → {job.path}", timeout=10)
            else:
                self.notify(f"export job {job.id} failed: {in_words(job.error_message)}", severity="error",
                            timeout=10)
