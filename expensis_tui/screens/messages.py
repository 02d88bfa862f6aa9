"""Messages: the command bus itself (Sidekiq's and Oban Web's view). Counts by status and
command type, running messages with their worker and lease, scheduled ones with their due
time, failed ones with their error; bulk retry or discard of everything the filter shows
(with a count in the confirmation), pause and resume of a command type or of everything,
and done per minute over the last hour."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Label, Sparkline

from core.bus.bus import ALL_TYPES
from core.bus.control import MessageFilter
from core.bus.queries import get_message
from core.operations import discard_matching, pause_command, resume_command, retry_matching
from core.security.roles import Action
from core.views.messages import VIEWS, BusMessage, BusOverview, filter_for, message_page, overview
from core.views.paging import Page
from expensis_tui.messages import ActionDone
from expensis_tui.screens.base import PagedScreen, local_time
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.keyed_table import KeyedTable

STATUS_STYLE = {"failed": "bold red", "running": "cyan", "queued": "", "scheduled": "yellow",
                "done": "green", "discarded": "dim"}


@dataclass
class BusLoaded(Message, bubble=False):
    seq: int
    overview: BusOverview
    page: Page[BusMessage]


class MessagesScreen(PagedScreen):
    AREA = "messages"
    TITLE = "Messages"
    BINDINGS = [
        Binding("v", "next_view", "View", tooltip="Queued, scheduled, running, failed, done, discarded",
                id="messages-view"),
        Binding("t", "type_filter", "Type", tooltip="Only the command type of the selected row (again: all)",
                id="messages-type"),
        Binding("R", "retry", "Retry all", key_display="R",
                tooltip="Retry every failed message the list shows", id="messages-retry"),
        Binding("D", "discard", "Discard all", key_display="D",
                tooltip="Discard every failed or queued message the list shows", id="messages-discard"),
        Binding("p", "pause", "Pause", tooltip="Pause or resume the selected row's command type",
                id="messages-pause"),
        Binding("P", "pause_all", "Pause all", key_display="P", tooltip="Pause or resume all dispatching",
                id="messages-pause-all"),
    ]
    ROLE_ACTIONS = {"retry": Action.MESSAGES_RETRY, "discard": Action.MESSAGES_DISCARD,
                    "pause": Action.MESSAGES_PAUSE, "pause_all": Action.MESSAGES_PAUSE}

    def __init__(self) -> None:
        super().__init__()
        self.view = "failed"
        self.command_type: str | None = None
        self.rows: dict[str, BusMessage] = {}
        self.last: BusOverview | None = None
        self.text = ""  # the list's filter words: the query ANDs them over command type and whole error

    def compose_body(self) -> Iterable[Widget]:
        yield Label("", id="bus-counts", classes="status-line")
        with Horizontal(classes="filters"):
            yield Label("/ filters by words in the command type or error · esc clears", id="bus-hint")
            yield Sparkline([0], id="throughput")
        yield KeyedTable(self.columns(), id="messages", local_filter=False)
        yield Label("", id="status-line", classes="status-line")

    def columns(self) -> list[tuple[str, str] | tuple[str, str, int]]:
        when = {"running": "Lease until", "scheduled": "Due", "queued": "Due"}.get(self.view, "When")
        return self.zoned([("id", "#", 7), ("type", "Command", 24), ("try", "Try", 5), ("when", when, 17),
                           ("detail", "Worker" if self.view == "running" else "Error")], "when")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        needed = self.ROLE_ACTIONS.get(action)
        if needed and self.console.role is not None:
            from core.security.roles import allows

            return allows(self.console.role, needed) or None
        return True

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        self.load_bus(self.view, self.command_type, self.text, self.page_offset, self.next_load())

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Reading the bus")
    def load_bus(self, view: str, command_type: str | None, text: str, offset: int, seq: int) -> None:
        now = self.now()
        summary = overview(self.rt.db, now)
        page = message_page(self.rt.db, view, now, command_type=command_type, text=text, offset=offset,
                            limit=self.PAGE_SIZE)
        self.post_message(BusLoaded(seq, summary, page))

    def on_bus_loaded(self, message: BusLoaded) -> None:
        if not self.fresh(message.seq):
            return
        self.last, page = message.overview, message.page
        self.total = page.total
        self.rows = {str(r.id): r for r in page.rows}
        self.query_one("#bus-counts", Label).update(self.counts_text(message.overview))
        self.query_one("#throughput", Sparkline).data = message.overview.throughput or [0]
        self.query_one(KeyedTable).show_rows([(str(r.id), self.cells(r)) for r in page.rows])
        scope = f"{self.view}" + (f" · {self.command_type}" if self.command_type else "")
        text = self.text
        self.query_one("#status-line", Label).update(
            f"{page.describe('messages')} · {scope}" + (f" · filter “{text}”" if text else "")
            + f" · {sum(message.overview.throughput)} done/h · enter detail")
        self.loaded()

    def counts_text(self, summary: BusOverview) -> Text:
        text = Text()
        if summary.all_paused:  # first: at 80 columns the end of the line may be cut
            text.append("ALL DISPATCHING PAUSED", style="bold reverse red")
            text.append("  ")
        elif summary.paused:
            text.append(f"paused: {', '.join(t for t, _, _ in summary.paused)}", style="bold red")
            text.append("  ")
        for status in ("queued", "running", "failed", "done"):
            n = summary.totals.get(status, 0)
            text.append(f"{status} {n:,}", style=STATUS_STYLE[status] if n else "dim")
            text.append("  ")
        text.append(f"scheduled {summary.scheduled:,}", style="yellow" if summary.scheduled else "dim")
        return text

    def cells(self, r: BusMessage) -> tuple[str | Text, ...]:
        paused = self.last is not None and any(t.command_type == r.command_type and t.paused
                                               for t in self.last.by_type)
        kind = Text(r.command_type, style="red" if paused else "")
        if self.view in ("running", "scheduled", "queued"):
            when = local_time(r.available_at, self.zone, "%d-%m %H:%M:%S")
        else:
            when = local_time(r.finished_at or r.created_at, self.zone, "%d-%m %H:%M:%S")
        detail = r.lease_owner or "" if self.view == "running" else (r.error or "").splitlines()[0] if r.error else ""
        return (str(r.id), kind, f"{r.attempts}/{r.max_attempts}", when,
                Text(detail, style=STATUS_STYLE.get(r.status, "")))

    # -- keys --------------------------------------------------------------------------------

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.query_one(KeyedTable).set_columns(self.columns())
        self.filters_changed()

    def show_view(self, view: str) -> None:
        """For `:msg` jumps and the dashboard: show one view."""
        if view in VIEWS and view != self.view:
            self.view = view
            self.query_one(KeyedTable).set_columns(self.columns())
        self.filters_changed()

    @on(KeyedTable.Filtered)
    def filter_in_sql(self, event: KeyedTable.Filtered) -> None:
        self.text = event.text
        self.filters_changed()  # live: every key narrows the list, in SQL (bulk actions use the same words)

    def jump_to(self, words: tuple[str, ...]) -> None:
        """`:msg 4711` opens that message; `:msg failed credentials` a view and filter words."""
        if len(words) == 1 and words[0].lstrip("#").isdigit():
            self.load_detail(int(words[0].lstrip("#")))
            return
        rest = list(words)
        if rest and rest[0].casefold() in VIEWS:
            self.show_view(rest.pop(0).casefold())
        super().jump_to(tuple(rest))

    def action_type_filter(self) -> None:
        row = self.rows.get(self.query_one(KeyedTable).selected_key or "")
        self.command_type = None if self.command_type or row is None else row.command_type
        self.filters_changed()

    def selection(self) -> MessageFilter | None:
        return filter_for(self.view, self.command_type, self.text)

    def action_retry(self) -> None:
        self.bulk("retry", retry_matching)

    def action_discard(self) -> None:
        self.bulk("discard", discard_matching)

    def bulk(self, verb: str, act: object) -> None:
        selection = self.selection()
        if selection is None or (verb == "retry" and selection.status != "failed"):
            self.notify(f"{verb} works on the failed{' or queued' if verb == 'discard' else ''} view", timeout=4)
            return
        if self.total == 0:
            self.notify("nothing matches", timeout=3)
            return
        question = f"{verb.capitalize()} {self.total:,} message(s) matching {selection.describe()}?"

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_bulk(verb, selection, act)

        self.app.push_screen(ConfirmScreen(question), answered)

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Bulk action")
    def run_bulk(self, verb: str, selection: MessageFilter, act: object) -> None:
        count = act(self.rt.bus, selection, operator=self.rt.operator)  # type: ignore[operator]
        outcome = "queued again" if verb == "retry" else "discarded"
        self.post_message(ActionDone(f"messages.{verb}", f"{count} message(s) {outcome}"))

    def action_pause(self) -> None:
        row = self.rows.get(self.query_one(KeyedTable).selected_key or "")
        command_type = row.command_type if row is not None else self.command_type
        if command_type is None:
            self.notify("select a message of the command type to pause", timeout=3)
            return
        self.toggle_pause(command_type)

    def action_pause_all(self) -> None:
        self.toggle_pause(ALL_TYPES)

    def toggle_pause(self, command_type: str) -> None:
        names = {t for t, _, _ in self.last.paused} if self.last else set()
        resume = command_type in names
        what = "all dispatching" if command_type == ALL_TYPES else command_type
        question = (f"Resume {what}?" if resume else
                    f"Pause {what}? No worker on any host claims it until it is resumed.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_pause(command_type, resume, what)

        self.app.push_screen(ConfirmScreen(question), answered)

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Pause or resume")
    def run_pause(self, command_type: str, resume: bool, what: str) -> None:
        if resume:
            resume_command(self.rt.bus, command_type, operator=self.rt.operator)
        else:
            pause_command(self.rt.bus, command_type, operator=self.rt.operator)
        self.post_message(ActionDone("messages.pause", f"{'resumed' if resume else 'paused'} {what}"))

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, timeout=4)
        self.load()

    @on(DataTable.RowSelected)
    def open_message(self, event: DataTable.RowSelected) -> None:
        event.prevent_default()
        key = event.row_key.value or ""
        if key in self.rows:
            self.load_detail(int(key))

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Reading the message")
    def load_detail(self, message_id: int) -> None:
        detail = get_message(self.rt.db, message_id)
        if detail is None:
            self.app.notify(f"no message {message_id}", severity="warning")
            return
        r = detail.row
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for label, value in (
                ("command", r.command_type), ("status", r.status), ("attempt", f"{r.attempts} of {r.max_attempts}"),
                ("workflow", r.workflow_id), ("created", local_time(r.created_at, self.zone, "%Y-%m-%d %H:%M:%S", zone_name=True)),
                ("due / lease", local_time(r.available_at, self.zone, "%Y-%m-%d %H:%M:%S", zone_name=True)),
                ("worker", detail.lease_owner or "—"), ("payload", str(detail.payload)),
                ("chain", " → ".join(detail.chain) or "(end of chain)"), ("error", r.error or "—")):
            table.add_row(label, value)
        if detail.traceback:
            table.add_row("traceback", detail.traceback.rstrip())
        self.app.call_from_thread(self.show_detail, f"Message #{r.id}", table, key=f"message:{r.id}",
                                  reload=lambda: self.load_detail(message_id))
