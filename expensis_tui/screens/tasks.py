"""Tasks (live): sync tasks with their workflow's current step, or every workflow step (bus
message); filters, detail with error and chain, retry and discard of failed steps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Label

from core.month import Month
from core.operations import discard_message, retry_message
from core.security.roles import Action
from core.views.tasks import (
    StepRow,
    TaskDetail,
    TaskRow,
    list_steps,
    list_tasks,
    step_detail,
    task_detail,
)
from expensis_tui.messages import ActionDone, StepsLoaded, TaskDetailLoaded, TasksLoaded
from expensis_tui.screens.base import PagedScreen, age, if_answered
from expensis_tui.screens.dashboard import status_text
from expensis_tui.screens.failures import FailuresScreen
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.keyed_table import Column, KeyedTable

TASK_STATUSES = (None, "failed", "completed_with_warnings", "processing", "pending", "completed")
STEP_STATUSES = (None, "failed", "running", "queued", "done", "discarded")
# The widths are what a column keeps at 80 columns (wider ones give way first); the highlighted
# row's error is spelled out on the line under the table, and enter shows the whole detail.
TASK_COLUMNS: list[Column] = [("id", "#", 6), ("customer", "Customer", 8), ("provider", "Provider", 10),
                ("cycle", "Cycle", 7), ("status", "Status", 10), ("step", "Step", 12), ("tries", "Try", 3),
                ("age", "Age", 3), ("error", "Error")]
STEP_COLUMNS: list[Column] = [("id", "#", 6), ("command", "Step", 14), ("subject", "For", 13),
                              ("status", "Status", 9), ("tries", "Try", 3), ("age", "Age", 3),
                              ("error", "Error")]


class TasksScreen(PagedScreen):
    AREA = "tasks"
    TITLE = "Tasks"
    ROLE_ACTIONS = {"retry": Action.MESSAGES_RETRY, "discard": Action.MESSAGES_DISCARD}
    BINDINGS = [
        Binding("R", "retry", "Retry", key_display="R", tooltip="Retry failed step", id="tasks-retry"),
        Binding("D", "discard", "Discard", key_display="D", tooltip="Discard failed step", id="tasks-discard"),
        Binding("F", "cycle_status", "Status", key_display="F", tooltip="Filter by status (cycles)",
                id="tasks-status"),
        Binding("v", "next_view", "Tasks/steps", tooltip="Switch sync tasks / workflow steps",
                id="tasks-view"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.listing = "tasks"
        self.status: str | None = None
        self.tasks: dict[str, TaskRow] = {}
        self.steps: dict[str, StepRow] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield Label("", id="status-filter", classes="status-line")
        yield KeyedTable(TASK_COLUMNS, id="tasks", local_filter=False)
        yield Label("", id="row-detail")
        yield Label("", id="status-line", classes="status-line")

    def on_mount(self) -> None:
        self.show_filter()
        self.query_one(KeyedTable).focus()

    def show_filter(self) -> None:
        what = "sync tasks" if self.listing == "tasks" else "workflow steps"
        self.query_one("#status-filter", Label).update(f"{what} · status: {self.status or 'all'} (F) · v switches")

    def load(self) -> None:
        self.load_rows(self.listing, self.status, self.filter_words, self.page_offset, self.next_load())

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading tasks")
    def load_rows(self, view: str, status: str | None, words: tuple[str, ...], offset: int, seq: int) -> None:
        if view == "tasks":
            self.post_message(TasksLoaded(list_tasks(self.rt.db, status=status, words=words, offset=offset,
                                                     limit=self.PAGE_SIZE), seq))
        else:
            self.post_message(StepsLoaded(list_steps(self.rt.db, status=status, words=words, offset=offset,
                                                     limit=self.PAGE_SIZE), seq))

    def on_tasks_loaded(self, message: TasksLoaded) -> None:
        if not self.fresh(message.seq):
            return
        if self.listing != "tasks":
            return
        now, page = self.now(), message.page
        self.total, self.tasks = page.total, {str(t.id): t for t in page.rows}
        self.query_one(KeyedTable).show_rows([
            (str(t.id), (str(t.id), t.customer_code, t.provider, str(Month.of(t.cycle_start_date)),
                         status_text(t.status), t.step or "—", str(t.attempts or t.retries),
                         age(t.created_at, now), Text(": ".join(filter(None, (t.reason, t.error))),
                                                      style=_error_or_note(t)[1])))
            for t in page.rows])
        self.status_line(page.describe("sync tasks"))

    def on_steps_loaded(self, message: StepsLoaded) -> None:
        if not self.fresh(message.seq):
            return
        if self.listing != "steps":
            return
        now, page = self.now(), message.page
        self.total, self.steps = page.total, {str(s.id): s for s in page.rows}
        self.query_one(KeyedTable).show_rows([
            (str(s.id), (str(s.id), s.command_type, s.subject, status_text(s.status),
                         f"{s.attempts}/{s.max_attempts}", age(s.created_at, now),
                         Text(s.error or "", style="red")))
            for s in page.rows])
        self.status_line(page.describe("steps"))

    @on(DataTable.RowHighlighted)
    def row_highlighted(self) -> None:
        self.describe_row()

    def describe_row(self) -> None:
        """Spell out the highlighted row's reason and error under the table."""
        key = self.query_one(KeyedTable).selected_key or ""
        line = Text()
        if self.listing == "tasks" and key in self.tasks:
            t = self.tasks[key]
            line = Text.assemble((f"#{t.id} {t.customer_code} {t.provider} ", "bold"),
                                 status_text(t.status, t.reason), f" · {t.trigger}")
            if t.error:
                line.append(f" · {t.error}", style=_error_or_note(t)[1])
        elif self.listing == "steps" and key in self.steps:
            s = self.steps[key]
            line = Text.assemble((f"#{s.id} {s.command_type} {s.subject} ", "bold"), status_text(s.status))
            if s.error:
                line.append(f" · {s.error}", style="red")
        self.query_one("#row-detail", Label).update(line)

    def status_line(self, text: str) -> None:
        self.describe_row()
        self.query_one("#status-line", Label).update(f"{text} · enter detail · [ ] pages")
        self.loaded()

    # -- filters and views -------------------------------------------------------------------

    def action_cycle_status(self) -> None:
        statuses = TASK_STATUSES if self.listing == "tasks" else STEP_STATUSES
        self.status = statuses[(statuses.index(self.status) + 1) % len(statuses)]
        self.show_filter()
        self.filters_changed()

    def action_next_view(self) -> None:
        self.listing = "steps" if self.listing == "tasks" else "tasks"
        self.status = None
        self.query_one(KeyedTable).set_columns(TASK_COLUMNS if self.listing == "tasks" else STEP_COLUMNS)
        self.show_filter()
        self.filters_changed()

    def show_failed(self) -> None:
        """Switch to failed workflow steps (from the dashboard)."""
        if self.listing != "steps":
            self.action_next_view()
        self.status = "failed"
        self.show_filter()
        self.filters_changed()

    def jump_to(self, words: tuple[str, ...]) -> None:
        """`:tasks failed`, `:tasks steps running ACME`: a view, a status, then the list filter."""
        rest = list(words)
        if rest and rest[0].casefold() in ("tasks", "steps") and rest[0].casefold() != self.listing:
            self.action_next_view()
        if rest and rest[0].casefold() in ("tasks", "steps"):
            rest.pop(0)
        statuses = TASK_STATUSES if self.listing == "tasks" else STEP_STATUSES
        if rest and rest[0].casefold() in statuses:
            self.status = rest.pop(0).casefold()
            self.show_filter()
            self.filters_changed()
        super().jump_to(tuple(rest))

    # -- detail ------------------------------------------------------------------------------

    def selected_key(self) -> str | None:
        key = self.query_one(KeyedTable).selected_key
        if key is None:
            self.notify("Nothing selected", severity="warning", timeout=3)
        return key

    @on(DataTable.RowSelected)
    def open_detail(self, event: DataTable.RowSelected) -> None:
        event.prevent_default()
        if event.row_key.value is not None:
            self.load_detail(self.listing, int(event.row_key.value))

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Loading the detail")
    def load_detail(self, view: str, row_id: int) -> None:
        detail = task_detail(self.rt.db, row_id) if view == "tasks" else step_detail(self.rt.db, row_id)
        if detail is None:
            raise LookupError(f"{'task' if view == 'tasks' else 'step'} {row_id} no longer exists")
        self.post_message(TaskDetailLoaded(detail))

    def on_task_detail_loaded(self, message: TaskDetailLoaded) -> None:
        detail = message.detail
        if isinstance(detail, TaskDetail):
            t = detail.task
            title = f"Sync task #{t.id}: {t.customer_code} · {t.provider} · {Month.of(t.cycle_start_date)}"
            head = Text.assemble(("status ", "dim"), status_text(t.status, t.reason),
                                 ("  trigger ", "dim"), t.trigger, ("  retries ", "dim"), str(t.retries))
            error = t.error
            label, style = _error_or_note(t)
            steps = detail.steps
        else:
            s = detail.step
            title = f"Step #{s.id}: {s.command_type} {s.subject}"
            head = Text.assemble(("status ", "dim"), status_text(s.status), ("  attempts ", "dim"),
                                 f"{s.attempts}/{s.max_attempts}", ("\nchain after it: ", "dim"),
                                 " → ".join(detail.chain) or "(end)")
            error = (detail.traceback or "").strip().splitlines()[-1] if detail.traceback else s.error
            label, style = "error", "red"
            steps = detail.workflow
        chain = Table(box=None, padding=(0, 1), show_header=True, header_style="dim")
        for column in ("#", "step", "status", "try", "error"):
            chain.add_column(column)
        for step in steps:
            chain.add_row(str(step.id), step.command_type, status_text(step.status),
                          str(step.attempts), Text(step.error or "", style="red"))
        error_line = Text(f"\n{label}: {error}", style=style) if error else Text("\nno error", style="dim")
        parts: list[RenderableType] = [head, error_line,
                 Text("\nworkflow", style="bold"), chain]
        if isinstance(detail, TaskDetail) and detail.quarantined:
            parts += _quarantine_part(detail)
        view = "tasks" if isinstance(detail, TaskDetail) else "steps"
        row_id = detail.task.id if isinstance(detail, TaskDetail) else detail.step.id
        self.show_detail(title, Group(*parts), key=f"{view}:{row_id}",
                         reload=lambda: self.load_detail(view, row_id))

    # -- retry and discard -------------------------------------------------------------------

    def action_retry(self) -> None:
        self.act_on_failed("retry")

    def action_discard(self) -> None:
        self.act_on_failed("discard")

    def act_on_failed(self, verb: str) -> None:
        if not self.permitted(self.ROLE_ACTIONS[verb]):  # what core.operations requires
            return
        key = self.selected_key()
        if key is None:
            return
        if self.listing == "steps":
            step = self.steps.get(key)
            if step is not None:
                self.confirm(verb, step)
        else:
            self.find_failed_step(verb, int(key))

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Finding the failed step")
    def find_failed_step(self, verb: str, task_id: int) -> None:
        detail = task_detail(self.rt.db, task_id)
        step = detail.failed_step if detail else None
        if step is None and verb == "retry" and detail is not None and detail.task.status == "failed":
            self.app.call_from_thread(self.app.push_screen, FailuresScreen(self.rt, select=f"sync-{task_id}"))
            return
        if step is None:
            self.app.notify(f"Sync task {task_id} has no failed step to {verb}", severity="warning")
            return
        self.app.call_from_thread(self.confirm, verb, step)

    def confirm(self, verb: str, step: StepRow) -> None:
        allowed = ("failed",) if verb == "retry" else ("failed", "queued")
        if step.status not in allowed:
            self.notify(f"Step {step.id} is {step.status}: only {' or '.join(allowed)} steps can be {verb}ed",
                        severity="warning")
            return
        question = f"{verb.capitalize()} step #{step.id} {step.command_type} {step.subject}?"
        detail = ("It runs again with fresh attempts; its chain continues after it." if verb == "retry"
                  else "It will not run, and the rest of its chain is dropped.")
        self.app.push_screen(ConfirmScreen(question, detail=detail, yes=verb.capitalize()),
                             if_answered(lambda _: self.apply(verb, step)))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Changing the step")
    def apply(self, verb: str, step: StepRow) -> None:
        act = retry_message if verb == "retry" else discard_message
        changed = act(self.rt.bus, step.id, operator=self.rt.operator)
        text = (f"step #{step.id} {'queued again' if verb == 'retry' else 'discarded'}" if changed
                else f"step #{step.id} was no longer {'failed' if verb == 'retry' else 'waiting'}")
        self.post_message(ActionDone(verb, text, ok=changed))

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, severity="information" if message.ok else "warning")
        self.load()


def _error_or_note(task: Any) -> tuple[str, str]:
    """What a sync task's message is, and its style: a completed task's is its note ("1,500
    imported, 0 quarantined"), not an error in red."""
    return ("note", "") if task.status in ("completed", "completed_with_warnings") else ("error", "red")


def _quarantine_part(detail: TaskDetail) -> list[RenderableType]:
    """The rows the task's import quarantined: batch, line and reason (and the first of them as received)."""
    batches = sorted({q.batch_id for q in detail.quarantined})
    shown = len(detail.quarantined)
    more = f", the first {shown} here" if detail.quarantined_total > shown else ""
    title = Text.assemble((f"\nquarantined: {detail.quarantined_total:,} row(s){more}", "bold"),
                          (f"  (expensis cdr quarantine {batches[0]} lists them with their text)", "dim"))
    rows = Table(box=None, padding=(0, 1), show_header=True, header_style="dim")
    for column in ("batch", "line", "reason"):
        rows.add_column(column, overflow="fold")
    for q in detail.quarantined:
        rows.add_row(str(q.batch_id), f"{q.line:,}", Text(q.reason, style="yellow"))
    return [title, rows]
