"""Totals of a customer-cycle with its insights; "Herbereken data" (recalculate) with progress,
a dry run showing the differences, partner recalculation over months, history compared."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Label, Static
from textual.worker import get_current_worker

from core.billing.i18n import format_money, format_time
from core.bus import follow
from core.lookup import NotFound, partner_by_name
from core.month import Month
from core.rating.cycles import month_labels
from core.security.roles import Action
from core.totals import VersionSummary, preview_recalculation
from core.views.totals import (
    CustomerCycle,
    DiffLine,
    compare_versions,
    diff_lines,
    numbers,
    partner_plan,
    resolve_cycle,
    totals_overview,
    versions,
)
from core.workflows.totals import request_partner_recalculation, request_recalculation, totals_chain
from expensis_tui.messages import DiffLoaded, ProgressUpdate, TotalsLoaded
from expensis_tui.screens.base import ConsoleScreen, if_answered
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.customer_suggester import CustomerSuggester, suggest_customers
from expensis_tui.widgets.form import Field, FormScreen, Values
from expensis_tui.widgets.keyed_table import KeyedTable, money_cell
from expensis_tui.widgets.month_picker import ChoiceScreen
from expensis_tui.widgets.progress import ProgressScreen, progress_update
from expensis_tui.widgets.text_view import TextViewScreen

SEVERITY_STYLE = {"warn": "bold yellow", "info": "cyan"}


def usage(call_type: str, count: int, duration_s: int, volume_kb: int) -> str:
    if call_type in ("voice", "voice_in"):
        return f"{duration_s // 60}:{duration_s % 60:02d} min"
    if call_type == "data":
        return f"{volume_kb / 1024:,.1f} MB"
    return f"{count:,}" if call_type != "fee" else ""


def euro(amount: Decimal | None) -> str:
    return "—" if amount is None else format_money(amount, symbol=False)


def diff_table(lines: list[DiffLine], same: str) -> Group:
    if not lines:
        return Group(Text(same, style="green"))
    table = Table(box=None, padding=(0, 1), header_style="dim")
    for column, justify in (("number", "left"), ("type", "left"), ("old €", "right"), ("new €", "right"),
                            ("change €", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for d in lines:
        table.add_row(d.number, d.call_type, euro(d.old), euro(d.new),
                      Text(f"{d.change:+,.2f}", style="red" if d.change < 0 else "green"))
    net = sum((d.change for d in lines), Decimal("0"))
    return Group(table, Text(f"\n{len(lines)} line(s) change, net € {net:+,.2f}", style="bold"))


class TotalsScreen(ConsoleScreen):
    AREA = "totals"
    TITLE = "Totals"
    ROLE_ACTIONS = {"recalculate": Action.TOTALS_RECALCULATE, "partner": Action.TOTALS_PARTNER_RECALCULATE}
    BINDINGS = [
        Binding("h", "recalculate", "Herbereken", tooltip="Recalculate (Herbereken data)",
                id="totals-recalculate"),
        Binding("d", "dry_run", "Dry run", tooltip="Dry-run recalculation: show differences",
                id="totals-dry-run"),
        Binding("H", "partner", "Partner", key_display="H", tooltip="Partner recalculation over months",
                id="totals-partner"),
        Binding("v", "next_view", "Versions", tooltip="Compare history versions", id="totals-versions"),
        Binding("g", "choose", "Choose", tooltip="Choose customer and cycle", id="totals-choose"),
        # [ ] page everywhere: here the pages are the cycles
        Binding("left_square_bracket", "page(-1)", "Previous cycle", key_display="[", show=False),
        Binding("right_square_bracket", "page(1)", "Next cycle", key_display="]", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cycle: CustomerCycle | None = None

    def compose_body(self) -> Iterable[Widget]:
        with Horizontal(classes="filters"):
            yield Label("Customer", classes="filter-label")
            yield Input(placeholder="code", id="customer", classes="filter")
            yield Label("Cycle", classes="filter-label")
            yield Input(placeholder="YYYY-MM", id="cycle", classes="filter")
        with Horizontal(id="totals-body"):
            with Vertical(classes="list-column"):
                yield KeyedTable([("number", "Number"), ("type", "Type"), ("count", "Count"),
                                  ("usage", "Usage"), ("rated", "Rated €")], id="totals")
            with Vertical(id="insights-panel"):
                yield Label("Insights", classes="panel-title")
                with VerticalScroll():
                    yield Static("", id="insights")
        yield Label("g chooses a customer and cycle · enter shows the totals", id="status-line",
                    classes="status-line")

    def on_mount(self) -> None:
        today = self.now().astimezone(self.zone).date()
        self.query_one("#cycle", Input).value = str(Month.of(today))
        self.query_one(KeyedTable).focus()
        suggest_customers(self, self.query_one("#customer", Input), self.rt.db)

    @on(Input.Changed, "#customer")
    def customer_typed(self, event: Input.Changed) -> None:
        """Name the customer the typed code would choose (→ completes the code)."""
        suggester, typed = event.input.suggester, event.value.strip()
        if not isinstance(suggester, CustomerSuggester) or not typed:
            return
        code = suggester.code_for(typed)
        if code is None:
            hint = f"no customer code starts with {typed!r}"
        else:
            hint = f"{code} · {suggester.names[code]}"
            if code.casefold() != typed.casefold():
                hint += " · → completes the code"
        self.query_one("#status-line", Label).update(hint)

    def load(self) -> None:
        if self.cycle is not None:
            self.load_totals(self.cycle, self.next_load())

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading totals")
    def load_totals(self, cycle: CustomerCycle, seq: int) -> None:
        self.post_message(TotalsLoaded(totals_overview(self.rt.db, cycle), seq))

    def overview_now(self, cycle: CustomerCycle) -> TotalsLoaded:
        """From a worker thread: the cycle's overview read from now on, numbered as a load, so an
        earlier poll's answer that arrives after it (read mid-workflow) does not replace it."""
        seq = self.app.call_from_thread(self.next_load)
        return TotalsLoaded(totals_overview(self.rt.db, cycle), seq)

    def on_totals_loaded(self, message: TotalsLoaded) -> None:
        if not self.fresh(message.seq):
            return  # older than the answer on screen
        o = message.overview
        shown = self.cycle
        if shown is None or (o.cycle.customer_id, o.cycle.label) != (shown.customer_id, shown.label):
            return  # an answer for a customer-cycle no longer chosen
        self.query_one(KeyedTable).show_rows([
            (f"{line.subscription_id}:{line.call_type}",
             (line.number, line.call_type, Text(f"{line.count:,}", justify="right"),
              usage(line.call_type, line.count, line.duration_s, line.volume_kb), money_cell(euro(line.rated_amount))))
            for line in o.lines])
        insights = Text()
        for i in o.insights:
            insights.append(f"{i.kind} ", style=SEVERITY_STYLE.get(i.severity, ""))
            insights.append(f"{i.message}\n")
        self.query_one("#insights", Static).update(insights or Text("none", style="dim"))
        state = o.status + (" · recalculation requested" if o.recalc_requested else "")
        self.query_one("#status-line", Label).update(
            f"{o.cycle.code} {o.cycle.label}: version {o.version} · {state} · total € {format_money(o.rated_total, symbol=False)}")
        self.loaded()

    # -- choosing ----------------------------------------------------------------------------

    def action_choose(self) -> None:
        self.query_one("#customer", Input).focus()

    @on(Input.Submitted, "#customer")
    def customer_submitted(self) -> None:
        self.query_one("#cycle", Input).focus()

    @on(Input.Submitted, "#cycle")
    def cycle_submitted(self) -> None:
        self.choose(self.query_one("#customer", Input).value, self.query_one("#cycle", Input).value)

    def choose(self, code: str, label: str) -> None:
        if not code.strip():
            self.notify("Type a customer code first", severity="warning")
            self.query_one("#customer", Input).focus()
            return
        self.resolve(code, label)

    # Its own group: a reload of the cycle shown (the screen resuming as the `:` window closes,
    # a poll, `r`) would otherwise cancel the look-up of the one chosen, and the fields would
    # name a customer whose totals never came. A reload's answer for the old cycle is dropped
    # once this one is chosen (on_totals_loaded).
    @work(thread=True, exclusive=True, exit_on_error=False, group="choose", description="Finding the customer and cycle")
    def resolve(self, code: str, label: str) -> None:
        cycle = resolve_cycle(self.rt.db, code, label)
        self.app.call_from_thread(self.chosen, cycle)
        self.post_message(self.overview_now(cycle))

    def chosen(self, cycle: CustomerCycle) -> None:
        self.cycle = cycle
        self.query_one("#customer", Input).value = cycle.code
        self.query_one("#cycle", Input).value = cycle.label
        self.mark_stale()  # the fields may already have said so: no change event then
        self.query_one(KeyedTable).focus()

    def jump_to(self, words: tuple[str, ...]) -> None:
        """`:totals ACME 2026-10`: that customer and cycle (this month when none is named)."""
        if not words:
            return
        month = words[1] if len(words) > 1 else self.query_one("#cycle", Input).value
        self.query_one("#customer", Input).value = words[0]
        self.query_one("#cycle", Input).value = month
        self.choose(words[0], month)

    def action_page(self, months: int) -> None:
        if self.cycle is None:
            return
        self.choose(self.cycle.code, str(Month.of(self.cycle.cycle_start) + months))

    def need_cycle(self) -> CustomerCycle | None:
        """The customer-cycle shown, for an action; None (and a warning) when the fields say another."""
        if self.cycle is None:
            self.notify("Choose a customer and cycle first (g)", severity="warning")
            return None
        typed = (self.query_one("#customer", Input).value.strip(), self.query_one("#cycle", Input).value.strip())
        if (typed[0].casefold(), typed[1]) != (self.cycle.code.casefold(), self.cycle.label):
            self.notify(f"The fields say {' '.join(typed)} but {self.cycle.code} {self.cycle.label} is shown: "
                        "press Enter in the fields to load it first (g)", severity="warning")
            return None
        return self.cycle

    @on(Input.Changed, ".filter")
    def mark_stale(self) -> None:
        """Grey the totals out while the fields name another customer-cycle than the one shown."""
        if self.cycle is None:
            return
        typed = (self.query_one("#customer", Input).value.strip(), self.query_one("#cycle", Input).value.strip())
        stale = (typed[0].casefold(), typed[1]) != (self.cycle.code.casefold(), self.cycle.label)
        self.query_one(KeyedTable).set_class(stale, "stale")

    # -- recalculation ("Herbereken data") ---------------------------------------------------

    def action_recalculate(self) -> None:
        cycle = self.need_cycle()
        if cycle is None:
            return
        if not self.permitted(Action.TOTALS_RECALCULATE, f"{cycle.code} {cycle.label}"):
            return
        self.app.push_screen(
            ConfirmScreen(f"Recalculate the totals of {cycle.code} for {cycle.label}?",
                          detail="Herbereken data: every CDR is rated again and the totals replaced; "
                                 "the current version goes to history.", yes="Recalculate"),
            if_answered(lambda _: self.start_recalculation(cycle)))

    def start_recalculation(self, cycle: CustomerCycle) -> None:
        steps = len(totals_chain(cycle.customer_id, cycle.cycle_start, cycle.rateplan_customer)) + 1
        self.progress = ProgressScreen(f"Recalculating {cycle.code} {cycle.label}", total=steps)
        self.app.push_screen(self.progress)
        self.recalculate(cycle)

    @work(thread=True, exclusive=True, exit_on_error=False, group="recalc", description="The recalculation")
    def recalculate(self, cycle: CustomerCycle) -> None:
        bus, worker = self.rt.bus, get_current_worker()
        handle = request_recalculation(bus, cycle.customer_id, cycle.cycle_start, operator=self.rt.operator)
        for progress in follow(bus, handle, should_stop=lambda: worker.is_cancelled):
            self.post_message(progress_update(progress, done_words="recalculated"))
        self.post_message(self.overview_now(cycle))

    def on_progress_update(self, message: ProgressUpdate) -> None:
        if self.progress is not None and self.progress.is_attached:
            self.progress.update_progress(message)
        if message.finished:
            self.notify(message.status, severity="error" if message.failed else "information")

    def action_dry_run(self) -> None:
        cycle = self.need_cycle()
        if cycle is not None:
            self.dry_run(cycle)

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="The dry run")
    def dry_run(self, cycle: CustomerCycle) -> None:
        diffs = preview_recalculation(self.rt.db, cycle.customer_id, cycle.cycle_start)
        lines = diff_lines(diffs, numbers(self.rt.db, cycle.customer_id))
        self.post_message(DiffLoaded(f"Dry run {cycle.code} {cycle.label}: what a recalculation changes", lines))

    def on_diff_loaded(self, message: DiffLoaded) -> None:
        self.app.push_screen(TextViewScreen(message.title, diff_table(message.lines, message.same)))

    # -- history -----------------------------------------------------------------------------

    def action_next_view(self) -> None:
        """`v`: this screen's other view, its history versions."""
        cycle = self.need_cycle()
        if cycle is not None:
            self.console.hold_keys()  # `v Down Enter` typed at once: the keys wait for the list
            self.open_versions(cycle)

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Reading the history")
    def open_versions(self, cycle: CustomerCycle) -> None:
        history = versions(self.rt.db, cycle)
        if len(history) < 2:
            self.app.notify(f"{cycle.code} {cycle.label} has {len(history) or 'no'} version(s): nothing to compare",
                            severity="warning")
            self.app.call_from_thread(self.console.release_keys)
            return
        self.app.call_from_thread(self.pick_versions, cycle, history)

    def pick_versions(self, cycle: CustomerCycle, history: list[VersionSummary]) -> None:
        """Pick one version, then the one to compare it with; the older is shown as "old"."""
        def first_picked(first: str) -> None:
            others = [v for v in history if str(v.version) != first]
            self.app.push_screen(
                ChoiceScreen(f"Compare v{first} with", [(str(v.version), self.version_label(v)) for v in others],
                             wide=True),
                if_answered(lambda second: self.compare(cycle, *sorted((int(first), int(second))))))

        self.app.push_screen(
            ChoiceScreen(f"{cycle.code} {cycle.label}: versions (pick two to compare)",
                         [(str(v.version), self.version_label(v)) for v in history],
                         detail=f"times in {self.zone.key}", wide=True),
            if_answered(first_picked))

    CAUSE_WIDTH = 22  # "recalculation by alice" whole; "partner-recalculation by …" cut

    def version_label(self, v: VersionSummary) -> str:
        """One line of the wide window at 80 columns, a scrollbar beside it (at most 64 characters:
        in the 64-column window 55 wrapped the amount once 11 versions brought a scrollbar)."""
        mark = "current" if v.current else "       "
        cause = v.cause or "—"
        width = self.CAUSE_WIDTH
        cause = cause if len(cause) <= width else cause[:width - 1] + "…"
        return (f"v{v.version:<3} {mark} {format_time(v.at, self.zone, '%d-%m %H:%M', zone_name=True):<16} "
                f"{cause:<{width}} {'€' + euro(v.rated_total):>11}")

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Comparing versions")
    def compare(self, cycle: CustomerCycle, old: int, new: int) -> None:
        self.post_message(DiffLoaded(f"{cycle.code} {cycle.label}: version {old} → {new}",
                                     compare_versions(self.rt.db, cycle, old, new),
                                     same=f"Versions {old} and {new} have the same totals."))

    # -- partner recalculation ---------------------------------------------------------------

    def action_partner(self) -> None:
        if not self.permitted(Action.TOTALS_PARTNER_RECALCULATE):  # what core requires for it
            return
        month = str(Month.of(self.now().astimezone(self.zone)))
        partner = self.cycle.partner if self.cycle and self.cycle.partner else ""
        form = FormScreen("Partner recalculation", [
            Field("partner", "Partner", partner, placeholder="partner name"),
            Field("first", "From", month, placeholder="YYYY-MM"),
            Field("last", "To", month, placeholder="YYYY-MM")],
            detail="Every active customer of the partner, every month in the range.",
            validate=self.range_error)
        self.app.push_screen(form, if_answered(self.plan_partner))

    @staticmethod
    def range_error(values: Values) -> str | None:
        if not values["partner"].strip():
            return "name the partner"
        try:
            months = month_labels(values["first"].strip(), values["last"].strip())
        except ValueError as exc:
            return str(exc)
        return "at most 24 months at a time" if len(months) > 24 else None

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail",
          description="Planning the partner recalculation")
    def plan_partner(self, values: Values) -> None:
        try:
            plan = partner_plan(self.rt.db, values["partner"], values["first"], values["last"])
        except NotFound as exc:
            self.app.notify(str(exc), severity="error")
            return
        if not plan.items:
            self.app.notify(f"Partner {plan.partner} has no active customers", severity="warning")
            return
        customers = len({item[0] for item in plan.items})
        question = (f"Recalculate {plan.partner}: {customers} customer(s) × {len(plan.labels)} month(s) "
                    f"= {len(plan.items)} recalculation(s)?")
        confirm = ConfirmScreen(question, detail=f"{plan.labels[0]} .. {plan.labels[-1]}", yes="Recalculate")
        self.app.call_from_thread(self.app.push_screen, confirm,
                                  if_answered(lambda _: self.start_partner(plan.partner, plan.labels, plan.items)))

    def start_partner(self, partner: str, labels: list[str], items: list[tuple[int, str, date]]) -> None:
        self.progress = ProgressScreen(f"Partner {partner}: {labels[0]} .. {labels[-1]}", total=len(items))
        self.app.push_screen(self.progress)
        self.recalculate_partner(partner, labels, items)

    @work(thread=True, exclusive=True, exit_on_error=False, group="recalc", description="The partner recalculation")
    def recalculate_partner(self, partner: str, labels: list[str], items: list[tuple[int, str, date]]) -> None:
        db, bus, worker = self.rt.db, self.rt.bus, get_current_worker()
        with db.reader() as session:
            partner_id = partner_by_name(session, partner).id
        workflows = [r.workflow_id for r in request_partner_recalculation(bus, partner_id, labels,
                                                                          operator=self.rt.operator)]

        for progress in follow(bus, workflows, should_stop=lambda: worker.is_cancelled):
            self.post_message(progress_update(progress))
        self.app.call_from_thread(self.load)
