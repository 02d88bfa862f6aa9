"""Add-ons (Routit Nina): a customer's subscriptions with the add-ons the provider confirmed,
the catalogue, activate or cancel on one or many subscriptions, the backlog with when each
request goes out (live), and the add-on log. Viewers see everything and change nothing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Label, Static
from textual.worker import get_current_worker

from core.addons import (
    ACTIVATE,
    AddonError,
    AddonLogRow,
    AddonTypeRow,
    catalogue,
    routit_profile,
)
from core.billing.i18n import format_money
from core.bus import follow
from core.security.roles import Action
from core.security.secrets import SecretBox
from core.views.addons import (
    AddonCustomer,
    BacklogPage,
    SubscriptionLine,
    addon_customers,
    backlog_page,
    log_page,
    next_out,
    subscription_page,
)
from core.views.paging import Page
from core.workflows.addons import AddonRequest, NinaBusy, refresh_addon_types, request_addon_change
from expensis_tui.messages import ActionDone
from expensis_tui.screens.base import if_answered, local_time
from expensis_tui.screens.guarded import GuardedScreen, shortened
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.keyed_table import Column, KeyedTable
from expensis_tui.widgets.month_picker import ChoiceScreen

VIEWS = ("subscriptions", "backlog", "log")
COLUMNS: dict[str, list[Column]] = {
    "subscriptions": [("mark", "✓", 1), ("number", "Number", 12), ("addons", "Add-ons", 18),
                      ("waiting", "Waiting", 13)],
    "backlog": [("id", "#", 4), ("number", "Number", 12), ("addon", "Add-on", 14), ("action", "Action", 8),
                ("status", "Status", 7), ("out", "Goes out", 17)],
    "log": [("id", "#", 4), ("when", "When", 11), ("number", "Number", 12), ("addon", "Add-on", 14),
            ("action", "Action", 8), ("status", "Status", 9)],
}
TIME_COLUMNS = ("out", "when")
STATUS_STYLE = {"succeeded": "green", "failed": "bold red", "backlog": "cyan", "sent": "yellow",
                "active": "green", "cancelled": "dim"}
FOLLOW_FOR = timedelta(minutes=15)  # after that the poll alone keeps the screen up to date


@dataclass
class AddonsLoaded(Message, bubble=False):
    seq: int
    customer: AddonCustomer | None
    catalogue: list[AddonTypeRow]
    view: str
    subscriptions: Page[SubscriptionLine] | None
    log: Page[AddonLogRow] | None
    backlog: BacklogPage | None


@dataclass
class CustomersLoaded(Message, bubble=False):
    customers: list[AddonCustomer]


@dataclass
class AddonsRequested(Message, bubble=False):
    customer: AddonCustomer
    action: str
    addon_code: str
    request: AddonRequest


@dataclass
class RequestFollowed(Message, bubble=False):
    """Where an activate/cancel request got: `done` when every subscription has its answer."""

    text: str
    done: bool
    ok: bool

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RequestFollowed) and not message.done


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def waiting_text(line: SubscriptionLine) -> str:
    return " ".join(f"{'+' if w.action == ACTIVATE else '-'}{w.addon_code}" for w in line.waiting)


class AddonsScreen(GuardedScreen):
    AREA = "addons"
    TITLE = "Add-ons"
    BINDINGS = [
        Binding("a", "activate", "Activate", tooltip="Activate an add-on on the marked subscriptions",
                id="addons-activate"),
        Binding("u", "cancel_addon", "Cancel", tooltip="Cancel an add-on on the marked subscriptions",
                id="addons-cancel"),
        Binding("space", "mark", "Mark", tooltip="Mark or unmark the subscription", id="addons-mark"),
        Binding("v", "next_view", "View", tooltip="Switch subscriptions / backlog / log", id="addons-view"),
        Binding("g", "choose", "Choose", tooltip="Choose the customer", id="addons-choose"),
        Binding("k", "read_catalogue", "Catalogue", tooltip="Read the add-on catalogue from Nina",
                id="addons-refresh"),
    ]
    ROLE_ACTIONS = {"activate": Action.ADDONS_ACTIVATE, "cancel_addon": Action.ADDONS_CANCEL,
                    "read_catalogue": Action.ADDONS_REFRESH}
    EMPTY_CATALOGUE = "empty: k reads it from Nina"  # k: read_catalogue (r reads the screen again)

    def __init__(self) -> None:
        super().__init__()
        self.view = "subscriptions"
        self.customer: AddonCustomer | None = None
        self.catalogue: list[AddonTypeRow] = []
        self.lines: dict[str, SubscriptionLine] = {}
        self.requests: dict[str, AddonLogRow] = {}
        self.backlog: BacklogPage | None = None
        self.marked: dict[int, SubscriptionLine] = {}
        self.page_text = ""

    def compose_body(self) -> Iterable[Widget]:
        yield Label("choosing a customer…", id="addons-head", classes="status-line")
        with Horizontal(id="addons-body"):
            with Vertical(classes="list-column"):
                yield KeyedTable(self.zoned(COLUMNS[self.view], *TIME_COLUMNS), id="addons")
            with Vertical(id="catalogue-panel"):
                yield Label("Catalogue", classes="panel-title")
                yield Static("", id="catalogue")
        yield Label("", id="row-detail")
        yield Label("", id="status-line", classes="status-line")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        self.load_addons(*self.load_args())

    def load_args(self) -> tuple[AddonCustomer | None, str, int, int]:
        return self.customer, self.view, self.page_offset, self.next_load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading add-ons")
    def load_addons(self, customer: AddonCustomer | None, view: str, offset: int, seq: int) -> None:
        self.post_message(self.read(customer, view, offset, seq))

    def read(self, customer: AddonCustomer | None, view: str, offset: int, seq: int) -> AddonsLoaded:
        """What the screen shows, read in a worker thread."""
        db = self.rt.db
        if customer is None:  # the first customer with a Routit profile, until one is chosen
            first = addon_customers(db, limit=1)
            customer = first[0] if first else None
        if customer is None:
            return AddonsLoaded(seq, None, [], view, None, None, None)
        return AddonsLoaded(
            seq, customer, catalogue(db), view,
            subscription_page(db, customer.id, offset=offset, limit=self.PAGE_SIZE)
            if view == "subscriptions" else None,
            log_page(db, customer.id, offset=offset, limit=self.PAGE_SIZE) if view == "log" else None,
            backlog_page(db, customer.id, clock=self.console.clock, limit=self.PAGE_SIZE))

    def on_addons_loaded(self, message: AddonsLoaded) -> None:
        chosen = self.customer
        if message.view != self.view or (chosen is not None and message.customer is not None
                                         and message.customer.id != chosen.id):
            return  # for a view or customer no longer shown
        if not self.fresh(message.seq):
            return  # older than what is shown
        customer = self.customer = message.customer
        if customer is None:
            self.query_one("#addons-head", Label).update(
                "No customer has a Routit sync profile: add-ons go through Routit's Nina API.")
            self.loaded()
            return
        self.catalogue, self.backlog = message.catalogue, message.backlog
        self.live = bool(message.backlog and message.backlog.total)
        self.query_one("#addons-head", Label).update(Text.assemble(
            (f"{customer.code} {customer.name}", "bold"), f" · Routit profile {customer.profile} · ",
            (self.view, "bold"), " (v)"))
        self.show_catalogue()
        if message.subscriptions is not None:
            self.show_subscriptions(message.subscriptions)
        elif message.log is not None:
            self.show_log(message.log)
        elif message.backlog is not None:
            self.show_backlog(message.backlog)
        self.describe_row()
        self.loaded()

    def show_catalogue(self) -> None:
        grid = Table.grid(padding=(0, 1))
        grid.add_column()
        grid.add_column(justify="right")
        for item in self.catalogue:
            grid.add_row(item.code, format_money(item.monthly_price, symbol=False))
        self.query_one("#catalogue", Static).update(
            grid if self.catalogue else Text(self.EMPTY_CATALOGUE, style="dim"))

    def show_subscriptions(self, page: Page[SubscriptionLine]) -> None:
        self.total, self.lines = page.total, {str(s.id): s for s in page.rows}
        for line in page.rows:  # keep the marks' data fresh
            if line.id in self.marked:
                self.marked[line.id] = line
        self.query_one(KeyedTable).show_rows([
            (str(s.id), (Text("✓", style="bold green") if s.id in self.marked else "", s.number,
                         Text(", ".join(s.active) or "—", style="green" if s.active else "dim"),
                         Text(waiting_text(s), style="cyan")))
            for s in page.rows])
        self.status_line(page.describe("subscriptions"))

    def show_log(self, page: Page[AddonLogRow]) -> None:
        self.total, self.requests = page.total, {str(r.id): r for r in page.rows}
        self.query_one(KeyedTable).show_rows([
            (str(r.id), (str(r.id), local_time(r.created_at, self.zone), r.number, r.addon_code, r.action,
                         status_text(r.status)))
            for r in page.rows])
        self.status_line(page.describe("requests"))

    def show_backlog(self, page: BacklogPage) -> None:
        self.total, self.requests = 0, {str(r.entry.id): r.entry for r in page.rows}
        self.query_one(KeyedTable).show_rows([
            (str(r.entry.id), (str(r.entry.id), r.entry.number, r.entry.addon_code, r.entry.action,
                               status_text(r.entry.status), self.goes_out(r.goes_out_at)))
            for r in page.rows])
        shown = f"first {len(page.rows)} of {page.total:,}" if page.total > len(page.rows) else f"{page.total}"
        self.status_line(f"{shown} waiting" if page.total else "nothing waiting")

    def goes_out(self, at: datetime) -> str:
        seconds = int((at - self.now()).total_seconds())
        when = local_time(at, self.zone, "%H:%M:%S")
        return f"{when} (now)" if seconds <= 0 else f"{when} (in {seconds}s)" if seconds < 600 else when

    def status_line(self, text: str) -> None:
        self.page_text = text
        parts = [text]
        if self.view == "subscriptions":
            parts.append(f"{len(self.marked)} marked (space)")
        if self.backlog is not None and self.view != "backlog":
            first = next_out(self.backlog)
            parts.append(f"backlog {self.backlog.total}"
                         + (f", next out {local_time(first, self.zone, '%H:%M:%S', zone_name=True)}" if first else ""))
        self.query_one("#status-line", Label).update(" · ".join(parts))

    @on(DataTable.RowHighlighted)
    def row_highlighted(self) -> None:
        self.describe_row()

    @on(DataTable.RowSelected)
    def open_request(self, event: DataTable.RowSelected) -> None:
        """Enter on a request: all of it, the provider's reason in full (the line cuts it)."""
        r = self.requests.get(str(event.row_key.value))
        if r is None:
            return  # a subscription or backlog row: the list's own detail
        event.prevent_default()
        body = Text.assemble(("request ", "dim"), f"#{r.id} {r.action} {r.addon_code} on {r.number}\n",
                             ("status ", "dim"), status_text(r.status), ("  attempts ", "dim"), str(r.attempts),
                             ("\nby ", "dim"), r.requested_by, ("  at ", "dim"),
                             local_time(r.created_at, self.zone, "%Y-%m-%d %H:%M:%S", zone_name=True))
        if r.provider_request_id:
            body.append(f"\nNina request {r.provider_request_id}")
        if r.error_message:
            body.append("\n\n")
            body.append(r.error_message, style="red" if r.status == "failed" else "yellow")
        self.show_detail(f"Add-on request #{r.id}", body, key=f"addon-request:{r.id}")

    def describe_row(self) -> None:
        key = self.query_one(KeyedTable).selected_key or ""
        line = Text()
        if self.view == "subscriptions" and key in self.lines:
            s = self.lines[key]
            line = Text.assemble((s.number, "bold"))
            for a in s.addons:
                line.append(f" · {a.addon_code} ")
                line.append(a.status, style=STATUS_STYLE.get(a.status, ""))
                line.append(f" {local_time(a.updated_at, self.zone, '%d-%m')}", style="dim")
            if s.waiting:
                line.append(f" · waiting {waiting_text(s)}", style="cyan")
            if not s.addons and not s.waiting:
                line.append(" · no add-ons", style="dim")
        elif key in self.requests:
            r = self.requests[key]
            line = Text.assemble((f"#{r.id} {r.action} {r.addon_code} on {r.number}", "bold"),
                                 f" by {r.requested_by} · ", status_text(r.status))
            if r.provider_request_id:
                line.append(f" · Nina {r.provider_request_id}", style="dim")
            if r.attempts > 1:
                line.append(f" · {r.attempts} attempts", style="dim")
            if r.error_message:
                line.append(f" · {r.error_message}", style="red" if r.status == "failed" else "yellow")
        self.query_one("#row-detail", Label).update(line)

    # -- choosing and viewing ----------------------------------------------------------------

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.query_one("#catalogue-panel").display = self.view == "subscriptions"
        self.query_one(KeyedTable).set_columns(self.zoned(COLUMNS[self.view], *TIME_COLUMNS))
        self.lines, self.requests = {}, {}
        self.filters_changed()

    def action_choose(self) -> None:
        self.console.hold_keys()  # keys typed while the customers are read go to the list of them
        self.load_customers()

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Listing customers")
    def load_customers(self) -> None:
        self.post_message(CustomersLoaded(addon_customers(self.rt.db, limit=200)))

    def on_customers_loaded(self, message: CustomersLoaded) -> None:
        if not message.customers:
            self.notify("No customer has a Routit sync profile", severity="warning")
            return
        by_id = {str(c.id): c for c in message.customers}
        choices = [(str(c.id), f"{c.code:<10} {c.name[:30]:<30} {c.subscriptions:>5} subs")
                   for c in message.customers]
        self.app.push_screen(ChoiceScreen("Add-ons of which customer?", choices,
                                          detail="Customers with a Routit profile (Nina)"),
                             if_answered(partial(self.chosen, by_id)))

    def chosen(self, customers: dict[str, AddonCustomer], key: str) -> None:
        customer = customers[key]
        if self.customer is None or customer.id != self.customer.id:
            self.marked.clear()
        self.customer = customer
        self.lines, self.requests = {}, {}
        self.filters_changed()

    def action_mark(self) -> None:
        table = self.query_one(KeyedTable)
        key = table.selected_key
        if self.view != "subscriptions" or key is None or key not in self.lines:
            return
        line = self.lines[key]
        if line.id in self.marked:
            del self.marked[line.id]
        else:
            self.marked[line.id] = line
        table.update_cell(key, "mark", Text("✓", style="bold green") if line.id in self.marked else "")
        table.action_cursor_down()
        self.status_line(self.page_text)

    # -- activate and cancel -----------------------------------------------------------------

    def targets(self) -> list[SubscriptionLine]:
        """The marked subscriptions, or else the highlighted one."""
        if self.marked:
            return list(self.marked.values())
        key = self.query_one(KeyedTable).selected_key
        return [self.lines[key]] if key in self.lines else []

    def action_activate(self) -> None:
        self.start_change(ACTIVATE)

    def action_cancel_addon(self) -> None:
        self.start_change("cancel")

    def start_change(self, action: str) -> None:
        customer, targets = self.customer, self.targets()
        if customer is None or self.view != "subscriptions" or not targets:
            self.notify("Mark subscriptions in the subscriptions view first (v, space)", severity="warning")
            return
        if action == ACTIVATE:
            if not self.catalogue:
                self.notify(f"The catalogue is {self.EMPTY_CATALOGUE}", severity="warning")
                return
            choices = [(a.code, f"{a.code:<15} {a.name[:28]:<28} € {format_money(a.monthly_price, symbol=False)}")
                       for a in self.catalogue]
        else:
            active = sorted({code for t in targets for code in t.active})
            if not active:
                self.notify("No add-on is active on the marked subscriptions", severity="warning")
                return
            choices = [(code, f"{code:<15} active on {sum(code in t.active for t in targets)} of them")
                       for code in active]
        verb = "Activate" if action == ACTIVATE else "Cancel"
        picker = ChoiceScreen(f"{verb} which add-on on {len(targets)} subscription(s)?", choices)
        self.app.push_screen(picker, if_answered(partial(self.confirm_change, customer, action, targets)))

    def confirm_change(self, customer: AddonCustomer, action: str, targets: list[SubscriptionLine],
                       code: str) -> None:
        if action != ACTIVATE:
            targets = [t for t in targets if code in t.active]
        verb = "Activate" if action == ACTIVATE else "Cancel"
        question = f"{verb} {code} on {len(targets)} subscription(s) of {customer.code}?"
        detail = (f"{shortened([t.number for t in targets])}.\nNina takes 10 requests a minute per "
                  f"customer; the rest waits in the backlog and goes out by itself.")
        self.app.push_screen(ConfirmScreen(question, detail=detail, yes=verb),
                             if_answered(lambda _: self.request_change(customer, action, code,
                                                                       [t.id for t in targets])))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action",
          description="Requesting the add-on change")
    def request_change(self, customer: AddonCustomer, action: str, code: str, ids: list[int]) -> None:
        request = request_addon_change(self.rt.bus, action, customer.id, ids, code, operator=self.rt.operator)
        self.post_message(AddonsRequested(customer, action, code, request))

    def on_addons_requested(self, message: AddonsRequested) -> None:
        self.marked.clear()
        self.notify(f"{message.action} {message.addon_code}: {message.request.subscriptions} request(s) "
                    f"queued for {message.customer.code}")
        self.load()
        self.follow(message.action, message.addon_code, message.request)

    @work(thread=True, exclusive=True, exit_on_error=False, group="follow",
          description="Following the add-on requests")
    def follow(self, action: str, code: str, request: AddonRequest) -> None:
        worker = get_current_worker()
        until = datetime.now().astimezone() + FOLLOW_FOR

        def should_stop() -> bool:
            return worker.is_cancelled or datetime.now().astimezone() >= until

        for progress in follow(self.rt.bus, request.handle, should_stop=should_stop):
            text = f"{action} {code}: {progress.note or progress.status}"
            if progress.failed:
                text += f"; {progress.error}"
            if progress.finished:  # the final state first, then the word: no second round trip
                self.post_message(self.read(*self.app.call_from_thread(self.load_args)))
            self.post_message(RequestFollowed(text, progress.finished, not progress.failed))

    def on_request_followed(self, message: RequestFollowed) -> None:
        if message.done:
            self.notify(message.text, severity="information" if message.ok else "error")
        else:
            self.refresh_if_showing()

    # -- the catalogue -----------------------------------------------------------------------

    def action_read_catalogue(self) -> None:
        if self.customer is None:
            self.notify("Choose a customer with a Routit profile first (g)", severity="warning")
            return
        self.refresh_catalogue(self.customer)

    @work(thread=True, exclusive=True, exit_on_error=False, group="action",
          description="Reading the catalogue from Nina")
    def refresh_catalogue(self, customer: AddonCustomer) -> None:
        with self.rt.db.reader() as session:
            profile = routit_profile(session, customer.id)
        if profile is None:
            raise AddonError(f"customer {customer.code} has no Routit sync profile")
        try:
            count = refresh_addon_types(self.rt.db, profile, secrets=SecretBox.from_settings(self.rt.settings),
                                        operator=self.rt.operator,
                                        timeout_s=self.rt.settings.provider_timeout_s)
        except NinaBusy as exc:
            self.post_message(ActionDone("catalogue", f"not now: {exc}", ok=False))
            return
        self.post_message(ActionDone("catalogue", f"catalogue read from Nina: {count} add-on(s)"))

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, severity="information" if message.ok else "warning")
        self.load()
