"""Invoices and payments: the cycle run (preview per customer, then confirm), invoices with
their payment status, open balances, payments imported from the bank, sending by mail (by
the mail rules) and credit notes with a reason."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Label
from textual.worker import get_current_worker

from core.billing.i18n import format_money, invoice_line_cells, t, total_labels
from core.billing.invoices import (
    InvoiceDetail,
    credit_invoice,
    drop_invoice,
    invoice_detail,
    release_invoice,
)
from core.billing.mail import send_invoice_mail
from core.billing.payments import (
    CustomerBalance,
    PaymentImport,
    PaymentSummary,
    import_payments,
    match_payment,
)
from core.bus import follow
from core.month import Month
from core.security import audit
from core.security.roles import Action
from core.views.billing import (
    InvoiceRow,
    MailCheck,
    PreviewRow,
    balance_page,
    cycle_preview,
    invoice_page,
    mail_check,
    payment_page,
)
from core.views.paging import Page
from core.workflows.invoicing import invoice_run, run_outcome
from expensis_tui.messages import ActionDone, ProgressUpdate
from expensis_tui.screens.base import if_answered, local_time
from expensis_tui.screens.guarded import GuardedScreen, shortened
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.form import Field, FormScreen, Values
from expensis_tui.widgets.keyed_table import Column, KeyedTable
from expensis_tui.widgets.month_picker import month_picker
from expensis_tui.widgets.progress import ProgressScreen, progress_update
from expensis_tui.widgets.review import ReviewScreen
from expensis_tui.widgets.text_view import TextViewScreen

VIEWS = ("invoices", "balances", "payments")
COLUMNS: dict[str, list[Column]] = {
    "invoices": [("number", "Number", 12), ("customer", "Customer", 8), ("cycle", "Cycle", 7),
                 ("date", "Date", 10), ("total", "Total €", 10), ("status", "Status", 11), ("pay", "Pay", 5)],
    "balances": [("customer", "Customer", 8), ("invoices", "Inv", 3), ("invoiced", "Invoiced €", 10),
                 ("paid", "Paid €", 10), ("open", "Open €", 10), ("overdue", "Overdue €", 10),
                 ("status", "Status", 8)],
    "payments": [("id", "#", 4), ("date", "Date", 10), ("amount", "Amount €", 10), ("invoice", "Invoice", 10),
                 ("counterparty", "From", 14), ("reference", "Reference")],
}
STATUS_STYLE = {"paid": "green", "partial": "yellow", "unpaid": "cyan", "overdue": "bold red",
                "credited": "dim", "credit note": "magenta", "draft": "italic", "test": "dim"}


@dataclass
class InvoicesLoaded(Message, bubble=False):
    seq: int
    view: str
    invoices: Page[InvoiceRow] | None = None
    balances: Page[CustomerBalance] | None = None
    payments: Page[PaymentSummary] | None = None


@dataclass
class PreviewLoaded(Message, bubble=False):
    label: str
    rows: list[PreviewRow]


@dataclass
class MailChecked(Message, bubble=False):
    check: MailCheck


@dataclass
class PaymentsImported(Message, bubble=False):
    path: Path
    result: PaymentImport


@dataclass
class DetailLoaded(Message, bubble=False):
    row: InvoiceRow
    detail: InvoiceDetail


def money(amount: Decimal, style: str = "") -> Text:
    return Text(format_money(amount, symbol=False), style=style, justify="right")


DUNNING = ("", "R1", "R2", "NOTICE")  # reminder, second reminder, formal notice (ingebrekestelling)
DUNNING_WORDS = ("no reminder", "reminder sent", "second reminder sent", "formal notice sent")


def pay_text(row: InvoiceRow) -> Text:
    """How the invoice is paid (DD: SEPA direct debit) and how far its reminders went."""
    method = "DD" if row.payment_method == "direct_debit" else ""
    stage = DUNNING[min(row.dunning_stage, 3)]
    return Text(" ".join(p for p in (method, stage) if p), style="red" if row.dunning_stage else "")


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def preview_table(rows: list[PreviewRow]) -> RenderableType:
    table = Table(box=None, padding=(0, 1), header_style="dim")
    for column, justify in (("customer", "left"), ("lines", "right"), ("subtotal €", "right"),
                            ("VAT €", "right"), ("total €", "right"), ("", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        note = (Text(f"invoiced as {r.standing_number}", style="dim") if r.standing_number
                else Text("held", style="red") if r.holds
                else Text("review", style="yellow") if r.review
                else Text("nothing to invoice", style="dim") if not r.lines
                else Text("TEST" + (", reverse charge" if r.reverse_charge else ""), style="yellow")
                if r.test_mode else Text("reverse charge" if r.reverse_charge else ""))
        style = "" if r.to_issue else "dim"
        table.add_row(Text(r.customer_code, style=style), str(r.lines), money(r.subtotal, style),
                      money(r.vat, style), money(r.total, style + " bold" if r.to_issue else style), note)
    return table


class InvoicesScreen(GuardedScreen):
    AREA = "invoices"
    TITLE = "Invoices"
    BINDINGS = [
        Binding("x", "run", "Run", tooltip="Run cycle (preview, then confirm)", id="invoices-run"),
        Binding("i", "import_payments", "Payments", tooltip="Import payments from a bank CSV",
                id="invoices-payments"),
        Binding("M", "send", "Mail", key_display="M", tooltip="Send or resend the invoice by mail",
                id="invoices-send"),
        Binding("C", "credit", "Credit", key_display="C", tooltip="Credit note with a reason", id="invoices-credit"),
        Binding("v", "next_view", "View", tooltip="Switch invoices / balances / payments", id="invoices-view"),
        Binding("l", "release", "Release", tooltip="Issue an invoice held for review", id="invoices-release"),
        # D and m act on a held invoice or an unmatched payment, rarely: in help and the palette,
        # not in the 80-column footer
        Binding("D", "discard", "Drop", key_display="D", tooltip="Drop (discard) an invoice held for review",
                id="invoices-drop", show=False),
        Binding("m", "match", "Match", tooltip="Match the selected payment to an invoice by hand",
                id="invoices-match", show=False),
        Binding("b", "collect", "Debit", tooltip="SEPA direct-debit file (pain.008) for open invoices",
                id="invoices-collect"),
    ]
    ROLE_ACTIONS = {"run": Action.INVOICES_RUN, "import_payments": Action.PAYMENTS_IMPORT,
                    "send": Action.INVOICE_SEND, "credit": Action.INVOICE_CREDIT,
                    "release": Action.INVOICE_RELEASE, "discard": Action.INVOICE_DROP,
                    "match": Action.PAYMENTS_MATCH, "collect": Action.PAYMENTS_COLLECT}

    def __init__(self) -> None:
        super().__init__()
        self.view = "invoices"
        self.invoices: dict[str, InvoiceRow] = {}
        self.balances: dict[str, CustomerBalance] = {}
        self.payments: dict[str, PaymentSummary] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield KeyedTable(COLUMNS[self.view], id="invoices")
        yield Label("", id="row-detail")
        yield Label("", id="status-line", classes="status-line")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()

    def today(self) -> date:
        """The console's today in its time zone (the frozen clock in snapshots)."""
        return self.now().astimezone(self.zone).date()

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        self.load_view(self.view, self.page_offset, self.next_load())

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading invoices")
    def load_view(self, view: str, offset: int, seq: int) -> None:
        db, limit = self.rt.db, self.PAGE_SIZE
        if view == "invoices":
            self.post_message(InvoicesLoaded(seq, view, invoices=invoice_page(db, self.today(), offset=offset,
                                                                              limit=limit)))
        elif view == "balances":
            self.post_message(InvoicesLoaded(seq, view, balances=balance_page(db, self.today(), offset=offset,
                                                                              limit=limit)))
        else:
            self.post_message(InvoicesLoaded(seq, view, payments=payment_page(db, offset=offset, limit=limit)))

    def on_invoices_loaded(self, message: InvoicesLoaded) -> None:
        if message.view != self.view or not self.fresh(message.seq):
            return  # older than what is shown
        table = self.query_one(KeyedTable)
        if message.invoices is not None:
            page = message.invoices
            self.total, self.invoices = page.total, {str(r.id): r for r in page.rows}
            table.show_rows([
                (str(r.id), (r.number or "(draft)", r.customer_code,
                             str(Month.of(r.cycle_start_date)) if r.cycle_start_date else "",
                             f"{r.issue_date:%Y-%m-%d}" if r.issue_date else "", money(r.total),
                             status_text(r.status), pay_text(r)))
                for r in page.rows])
            text = page.describe("invoices")
        elif message.balances is not None:
            page_b = message.balances
            self.total, self.balances = page_b.total, {str(b.customer_id): b for b in page_b.rows}
            table.show_rows([
                (str(b.customer_id), (b.customer_code, str(b.invoices), money(b.invoiced), money(b.paid),
                                      money(b.open, "bold" if b.open > 0 else ""),
                                      money(b.overdue, "red" if b.overdue > 0 else "dim"), status_text(b.status)))
                for b in page_b.rows])
            text = page_b.describe("customers with invoices")
        else:
            assert message.payments is not None
            page_p = message.payments
            self.total, self.payments = page_p.total, {str(p.id): p for p in page_p.rows}
            table.show_rows([
                (str(p.id), (str(p.id), f"{p.paid_on:%Y-%m-%d}", money(p.amount),
                             p.invoice_number or Text("unmatched", style="yellow"), p.counterparty,
                             p.reference))
                for p in page_p.rows])
            text = page_p.describe("payments")
        self.describe_row()
        self.query_one("#status-line", Label).update(f"{self.view}: {text} · v view · [ ] pages")
        self.loaded()

    @on(DataTable.RowHighlighted)
    def row_highlighted(self) -> None:
        self.describe_row()

    def describe_row(self) -> None:
        key = self.query_one(KeyedTable).selected_key or ""
        line = Text()
        if self.view == "invoices" and key in self.invoices:
            r = self.invoices[key]
            line = Text.assemble((f"{r.number or 'draft'} {r.customer_name}", "bold"))
            if r.kind == "credit_note":
                line.append(f" · corrects {r.credited_number}: {r.note or ''}", style="magenta")
            else:
                if r.due_date:
                    line.append(f" · due {r.due_date:%d-%m-%Y}")
                line.append(f" · paid {format_money(r.paid, symbol=False)}, open {format_money(r.open, symbol=False)}")
                line.append(" · direct debit" if r.payment_method == "direct_debit" else " · transfer")
                if r.collection:
                    line.append(f" · collection sent ({r.collection})", style="cyan")
                if r.dunning_stage:
                    line.append(f" · {DUNNING_WORDS[min(r.dunning_stage, 3)]}", style="red")
                if r.credit_note_number:
                    line.append(f" · credited by {r.credit_note_number}", style="magenta")
            if r.mail_status:
                line.append(f" · mail {r.mail_status} {local_time(r.mailed_at, self.zone, zone_name=True)}", style="dim")
        elif self.view == "balances" and key in self.balances:
            b = self.balances[key]
            line = Text.assemble((f"{b.customer_code} {b.customer_name}", "bold"),
                                 f" · {b.invoices} invoice(s) · open {format_money(b.open, symbol=False)}",
                                 (f" of which {format_money(b.overdue, symbol=False)} overdue" if b.overdue else "", "red"))
        elif self.view == "payments" and key in self.payments:
            p = self.payments[key]
            line = Text.assemble((f"#{p.id} {p.paid_on:%d-%m-%Y} {format_money(p.amount, symbol=False)}", "bold"),
                                 f" from {p.counterparty} · '{p.reference}' · ",
                                 (f"paid {p.invoice_number}" if p.invoice_number else
                                  "unmatched: no invoice number in the reference",
                                  "green" if p.invoice_number else "yellow"))
        self.query_one("#row-detail", Label).update(line)

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        self.query_one(KeyedTable).set_columns(COLUMNS[self.view])
        self.filters_changed()

    def selected_invoice(self) -> InvoiceRow | None:
        key = self.query_one(KeyedTable).selected_key
        if self.view != "invoices" or key not in self.invoices:
            self.notify("Choose an invoice in the invoices view first (v)", severity="warning")
            return None
        return self.invoices[key or ""]

    # -- detail ------------------------------------------------------------------------------

    @on(DataTable.RowSelected)
    def open_detail(self, event: DataTable.RowSelected) -> None:
        row = self.invoices.get(event.row_key.value or "") if self.view == "invoices" else None
        if row is not None and row.number:  # other rows (balances, payments, drafts): the list's detail
            event.prevent_default()
            self.load_detail(row)

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Loading the invoice")
    def load_detail(self, row: InvoiceRow) -> None:
        assert row.number is not None
        self.post_message(DetailLoaded(row, invoice_detail(self.rt.db, row.number, self.rt.settings.issuer.code)))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        row, d = message.row, message.detail
        language = d.language  # the lines as the customer reads them, in their language
        lines = Table(box=None, padding=(0, 1), header_style="dim")
        for key, justify in (("description", "left"), ("quantity", "right"), ("unit", "left"),
                             ("unit_price", "right"), ("amount", "right")):
            lines.add_column(t(key, language), justify=justify)  # type: ignore[arg-type]
        for line in d.amounts.lines:
            text, quantity, unit, price, amount = invoice_line_cells(
                line.description[:40], line.quantity, line.unit, line.unit_price, line.amount, language)
            lines.add_row(text, quantity, unit, price, amount)
        subtotal, vat, total = total_labels(d.amounts.vat_rate, d.reverse_charge, language)
        lines.add_row(Text(subtotal, style="bold"), "", "", "", format_money(d.amounts.subtotal, language))
        lines.add_row(vat, "", "", "", format_money(d.amounts.vat, language))
        lines.add_row(Text(total, style="bold"), "", "", "", Text(format_money(d.amounts.total, language),
                                                                   style="bold"))
        if d.credit_applied:  # as the PDF prints it: the credit that pays part, then what is left
            lines.add_row(t("credit_applied", language), "", "", "", format_money(-d.credit_applied, language))
            lines.add_row(Text(t("amount_due", language), style="bold"), "", "", "",
                          Text(format_money(d.amount_due, language), style="bold"))
        s = d.summary
        head = Text.assemble((f"{s.customer_code} {s.customer_name}", "bold"),
                             f"\ndate {s.issue_date} · due {s.due_date} · cycle {s.cycle_start_date} · ",
                             status_text(row.status), f" · paid {format_money(row.paid, symbol=False)}")
        if d.credited_number:
            head.append(f"\ncorrects {d.credited_number}: {d.note or ''}", style="magenta")
        if d.credit_note_number:
            head.append(f"\ncredited by {d.credit_note_number}", style="magenta")
        head.append(f"\nPDF {s.pdf_path or '—'}\n", style="dim")
        kind = "Credit note" if s.kind == "credit_note" else "Invoice"
        self.show_detail(f"{kind} {s.number}", Group(head, lines), key=f"invoice:{row.id}",
                         reload=lambda: self.load_detail(row))

    # -- the cycle run -----------------------------------------------------------------------

    def action_run(self) -> None:
        picker = month_picker("Invoice run: which cycle?", self.today(),
                              detail="Every active customer's invoice for the cycle; preview first.")
        self.app.push_screen(picker, if_answered(self.load_preview))

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Previewing the run")
    def load_preview(self, label: str) -> None:
        self.post_message(PreviewLoaded(label, cycle_preview(self.rt.db, label, self.rt.settings, self.now())))

    def on_preview_loaded(self, message: PreviewLoaded) -> None:
        rows, label = message.rows, message.label
        issue = [r for r in rows if r.to_issue]
        held = [r for r in rows if r.holds and not r.standing_number and r.lines]
        invoiced = [r.customer_code for r in rows if r.standing_number]
        if not issue and not held:
            self.notify(f"cycle {label}: nothing to issue ({len(invoiced)} invoiced already, "
                        f"{len(rows) - len(invoiced)} with nothing to invoice)", severity="warning")
            return
        force = not issue
        chosen = held if force else issue
        total = sum((r.total for r in chosen), Decimal("0"))
        if force:
            question = (f"{len(held)} held: force, € {format_money(total, symbol=False)} in total, "
                        f"dated {self.today():%d-%m-%Y}? (audited)")
        else:
            question = (f"Issue {len(issue)} invoice(s), € {format_money(total, symbol=False)} in total, "
                        f"dated {self.today():%d-%m-%Y}? Numbers are given as each is issued."
                        + (f" {len(held)} held cycle(s) stay out." if held else ""))
        holds = Text("\n".join([*(f"held {r.customer_code}: {'; '.join(r.holds)}" for r in held),
                                 *(f"review {r.customer_code}: {'; '.join(r.review)}" for r in rows
                                   if r.review and not r.standing_number)]), style="red")
        body = Group(preview_table(rows), Text(f"\nalready invoiced: {shortened(invoiced)}", style="dim")
                     if invoiced else Text(""), holds)
        self.app.push_screen(ReviewScreen(f"Invoice run {label}: preview (nothing numbered yet)", body,
                                          question, yes="Force" if force else "Run"),
                             if_answered(lambda _: self.start_run(label, len(chosen), force)))

    def start_run(self, label: str, expected: int, force: bool = False) -> None:
        self.progress = ProgressScreen(f"Invoice run {label}", total=expected)
        self.app.push_screen(self.progress)
        self.run_cycle(label, force)

    @work(thread=True, exclusive=True, exit_on_error=False, group="run", description="The invoice run")
    def run_cycle(self, label: str, force: bool = False) -> None:
        db, worker = self.rt.db, get_current_worker()
        self.require(Action.INVOICES_RUN, label)
        run = invoice_run(self.rt.bus, label, operator=self.rt.operator, issue_date=self.today(),
                          force=force, now=self.now())
        steps = len(run.dispatched)
        if not steps:
            self.post_message(ProgressUpdate(0, 0, f"nothing to issue: {len(run.invoiced)} invoiced already",
                                             finished=True))
            return
        error = None
        for progress in follow(self.rt.bus, run.workflow_id, should_stop=lambda: worker.is_cancelled):
            error = progress.error
            if not progress.finished:  # the run's own words follow at the end
                self.post_message(progress_update(progress))
        outcome = run_outcome(db, run.workflow_id)
        numbers = sorted(number for _code, number in outcome.issued)  # workers number them in any order
        words = f"{len(numbers)} invoice(s) issued" + (f": {numbers[0]} … {numbers[-1]}" if numbers else "")
        if outcome.review:
            words += f"; held for review: {shortened(outcome.review)}"
        if outcome.empty:
            words += f"; nothing to invoice for {shortened(outcome.empty)}"
        if outcome.failed:
            words += f"; failed for {shortened(outcome.failed)} (see Tasks)"
        self.post_message(ProgressUpdate(steps, steps, words, finished=True, failed=bool(outcome.failed),
                                         error=error if outcome.failed else None))

    def on_progress_update(self, message: ProgressUpdate) -> None:
        if self.progress is not None and self.progress.is_attached:
            self.progress.update_progress(message)
        if message.finished:
            self.notify(message.status, severity="error" if message.failed else "information", timeout=10)
            self.load()

    # -- sending -----------------------------------------------------------------------------

    def action_send(self) -> None:
        row = self.selected_invoice()
        if row is None:
            return
        if not row.number:
            self.notify("A draft cannot be sent: it has no number yet", severity="warning")
            return
        self.check_mail(row.id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="detail", description="Checking the mail rules")
    def check_mail(self, invoice_id: int) -> None:
        self.post_message(MailChecked(mail_check(self.rt.db, invoice_id, self.rt.settings, self.today())))

    def on_mail_checked(self, message: MailChecked) -> None:
        check = message.check
        if check.refusal:
            self.notify(f"{check.number} cannot be sent: {check.refusal}", severity="error", timeout=10)
            return
        resend = check.mail_status in ("sent", "failed", "sending")
        if resend:
            question = f"Resend {check.number} to {check.recipient}?"
            detail = (f"This cycle's mail was {check.mail_status} on "
                      f"{local_time(check.mailed_at, self.zone, '%d-%m-%Y %H:%M', zone_name=True)}; it goes out again.")
        else:
            question = f"Send {check.number} to {check.recipient}?"
            detail = "Sent by hand: the invoice-day and auto-send rules do not apply; once per cycle."
        self.app.push_screen(ConfirmScreen(question, detail=detail, yes="Resend" if resend else "Send"),
                             if_answered(lambda _: self.send(check.invoice_id, check.number, resend)))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Sending the invoice")
    def send(self, invoice_id: int, number: str, resend: bool) -> None:
        self.require(Action.INVOICE_SEND, number)
        outcome = send_invoice_mail(self.rt.db, self.rt.settings, invoice_id, today=self.today(),
                                    manual=True, resend=resend)
        with self.rt.db.transaction() as session:
            audit.record(session, operator=self.rt.operator, action=Action.INVOICE_SEND, target=number,
                         result=outcome.status, detail=outcome.reason)
        sent = outcome.status == "sent"
        self.post_message(ActionDone("send", outcome.reason if sent else f"{number} not sent: {outcome.reason}",
                                     ok=sent))

    # -- credit notes ------------------------------------------------------------------------

    def action_credit(self) -> None:
        row = self.selected_invoice()
        if row is None:
            return
        if not row.creditable:
            why = ("a credit note cannot be credited" if row.kind == "credit_note" else
                   f"it is credited already by {row.credit_note_number}" if row.credit_note_number else
                   "only a final invoice can be credited")
            self.notify(f"{row.number or 'draft'}: {why}", severity="warning")
            return
        form = FormScreen(f"Credit note for {row.number} ({row.customer_code}, € {format_money(row.total, symbol=False)})",
                          [Field("reason", "Reason", placeholder="why the invoice is corrected")],
                          detail="The credit note corrects the invoice in full; the reason is kept with it.",
                          validate=lambda values: None if values["reason"].strip() else "give a reason")
        self.app.push_screen(form, if_answered(partial(self.confirm_credit, row)))

    def confirm_credit(self, row: InvoiceRow, values: Values) -> None:
        reason = values["reason"].strip()
        question = f"Credit {row.number} ({row.customer_code}, € {format_money(row.total, symbol=False)}) in full?"
        detail = f"Reason: {reason}\nA credit note with its own number corrects it; the invoice stays."
        self.app.push_screen(ConfirmScreen(question, detail=detail, yes="Credit"),
                             if_answered(lambda _: self.credit(row, reason)))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="The credit note")
    def credit(self, row: InvoiceRow, reason: str) -> None:
        assert row.number is not None
        self.require(Action.INVOICE_CREDIT, row.number)
        number = credit_invoice(self.rt.db, row.number, reason=reason, issue_date=self.today(),
                                settings=self.rt.settings, operator=self.rt.operator)
        self.post_message(ActionDone("credit", f"credit note {number} corrects {row.number}"))

    # -- held for review ---------------------------------------------------------------------

    def held_row(self) -> InvoiceRow | None:
        row = self.selected_invoice()
        if row is not None and row.status != "review":
            self.notify(f"{row.number or 'draft'}: not held for review", severity="warning")
            return None
        return row

    def action_release(self) -> None:
        row = self.held_row()
        if row is None:
            return
        question = f"Issue the held invoice of {row.customer_code} (€ {row.total:,.2f}) with the next number?"
        self.app.push_screen(ConfirmScreen(question, detail="The reasons it was held are kept in the audit log.",
                                           yes="Release"), if_answered(lambda _: self.release(row)))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Releasing")
    def release(self, row: InvoiceRow) -> None:
        number = release_invoice(self.rt.db, row.id, operator=self.rt.operator, issue_date=self.today(),
                                 settings=self.rt.settings)
        self.post_message(ActionDone("release", f"{row.customer_code}: released as {number}"))

    def action_discard(self) -> None:
        row = self.held_row()
        if row is None:
            return
        form = FormScreen(f"Drop the held invoice of {row.customer_code} (€ {row.total:,.2f})",
                          [Field("reason", "Reason", placeholder="why it is not issued")],
                          detail="A dropped invoice is never numbered; runs leave its cycle alone.",
                          validate=lambda values: None if values["reason"].strip() else "give a reason")
        self.app.push_screen(form, if_answered(lambda values: self.drop(row, values["reason"].strip())))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Dropping")
    def drop(self, row: InvoiceRow, reason: str) -> None:
        drop_invoice(self.rt.db, row.id, operator=self.rt.operator, reason=reason)
        self.post_message(ActionDone("drop", f"{row.customer_code}: held invoice dropped"))

    # -- payments ----------------------------------------------------------------------------

    def action_collect(self) -> None:
        """Build the direct-debit batch for open invoices of direct-debit customers due by a date."""
        default = (self.today() + timedelta(days=7)).isoformat()
        form = FormScreen("Direct-debit batch (SEPA pain.008)", [Field("due", "Due on or before", value=default)],
                          detail="Open invoices of direct-debit customers; each is collected once. "
                                 "The file is written under the data dir; nothing is sent.",
                          validate=self.day_error)
        self.app.push_screen(form, if_answered(lambda values: self.collect(date.fromisoformat(values["due"].strip()))))

    @staticmethod
    def day_error(values: Values) -> str | None:
        try:
            date.fromisoformat(values["due"].strip())
        except ValueError:
            return "a date as YYYY-MM-DD"
        return None

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Building the debit batch")
    def collect(self, due_before: date) -> None:
        from core.billing.collections import CollectionError, collect

        try:
            result = collect(self.rt.db, self.rt.settings, due_before=due_before, today=self.today(),
                             operator=self.rt.operator)
        except CollectionError as exc:
            self.post_message(ActionDone("collect", str(exc), ok=False))
            return
        skipped = f"; skipped: {'; '.join(result.skipped)}" if result.skipped else ""
        text = (f"{len(result.items)} invoice(s), {format_money(result.total)} to collect: {result.path}"
                if result.path else "nothing to collect") + skipped
        self.post_message(ActionDone("collect", text))

    def action_match(self) -> None:
        """On the payments view: give an unmatched payment (a bank entry) its invoice number."""
        payment = self.payments.get(self.query_one(KeyedTable).selected_key or "") if self.view == "payments" else None
        if payment is None:
            self.notify("select a payment on the payments view (v) first", timeout=4)
            return
        form = FormScreen(f"Match payment #{payment.id} by hand",
                          [Field("number", "Invoice number", value=payment.invoice_number or "",
                                 placeholder="2026-00012")],
                          detail=f"{payment.paid_on:%d-%m-%Y} {format_money(payment.amount)} from "
                                 f"{payment.counterparty}: '{payment.reference}'")
        self.app.push_screen(form, if_answered(lambda values: self.match(payment.id, values["number"].strip())))

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Matching the payment")
    def match(self, payment_id: int, number: str) -> None:
        match_payment(self.rt.db, payment_id, number, settings=self.rt.settings, operator=self.rt.operator,
                      today=self.today())
        self.post_message(ActionDone("match", f"payment {payment_id} matched to {number}"))

    def action_import_payments(self) -> None:
        form = FormScreen("Import payments from the bank",
                          [Field("path", "CAMT.053 (.xml) or CSV file", placeholder="/path/to/statement.xml")],
                          detail="Each booking is applied once, matched by end-to-end id, betalingskenmerk, "
                                 "invoice number or IBAN and amount.",
                          validate=self.path_error)
        self.app.push_screen(form, if_answered(self.path_given))

    def path_given(self, values: Values) -> None:
        self.import_file(Path(values["path"].strip()))

    @staticmethod
    def path_error(values: Values) -> str | None:
        text = values["path"].strip()
        if not text:
            return "name the bank's CSV file"
        return None if Path(text).expanduser().is_file() else f"no file {text}"

    @work(thread=True, exclusive=False, exit_on_error=False, group="action", description="Importing payments")
    def import_file(self, path: Path) -> None:
        self.require(Action.PAYMENTS_IMPORT, path.name)
        if path.suffix.lower() == ".xml":  # a CAMT.053 bank statement
            from core.billing.statements import import_statement

            statement = import_statement(self.rt.db, path.expanduser(), settings=self.rt.settings,
                                         operator=self.rt.operator, today=self.today())
            self.post_message(ActionDone("import", f"{path.name}: {statement.summary()}"))
            return
        result = import_payments(self.rt.db, path.expanduser(), settings=self.rt.settings,
                                 operator=self.rt.operator, today=self.today())
        self.post_message(PaymentsImported(path, result))

    def on_payments_imported(self, message: PaymentsImported) -> None:
        r = message.result
        summary = (f"applied {len(r.applied)} · duplicates {r.duplicates} · unmatched {len(r.unmatched)} · "
                   f"bad rows {len(r.errors)}")
        table = Table(box=None, padding=(0, 1), header_style="dim", show_header=True)
        for column, justify in (("line", "right"), ("", "left"), ("amount €", "right"), ("detail", "left")):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for p in r.applied:
            table.add_row(str(p.line), Text("applied", style="green"), money(p.amount),
                          f"{p.invoice_number} · {p.counterparty}")
        for p in r.unmatched:
            table.add_row(str(p.line), Text("unmatched", style="yellow"), money(p.amount),
                          f"{p.counterparty} '{p.reference}'")
        for e in r.errors:
            table.add_row(str(e.line), Text("bad row", style="red"), "", e.reason)
        self.notify(f"{message.path.name}: {summary}", severity="warning" if r.errors or r.unmatched
                    else "information", timeout=10)
        self.app.push_screen(TextViewScreen(f"Payments from {message.path.name}",
                                            Group(Text(summary + "\n", style="bold"), table)))
        self.load()

    def on_action_done(self, message: ActionDone) -> None:
        self.notify(message.text, severity="information" if message.ok else "error", timeout=10)
        self.load()
