"""The Exports and Invoices screens from the keyboard at 80×24, and the read models behind them.

Each pilot test asserts on the screen and on the database. Workers run in a WorkerPool the
test starts; waits use `workers.wait_for_complete()` and `pilot.pause()`, never sleep.
"""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from email.message import Message as EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from textual.widgets import Label

from core.billing.payments import customer_balances
from core.bus import WorkerPool, run_until_idle
from core.config import SmtpSettings
from core.models import AuditLog, Customer, ExportJob, Invoice, MailLog, Payment
from core.runtime import Runtime
from core.views.billing import (
    balance_page,
    cycle_preview,
    export_page,
    in_words,
    invoice_page,
    payment_page,
)
from expensis_tui.app import ExpensisApp
from expensis_tui.screens.exports import ExportsScreen
from expensis_tui.screens.invoices import InvoicesScreen
from expensis_tui.showcase import OCT, frozen_clock, screen_text, settle
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.form import FormScreen
from expensis_tui.widgets.keyed_table import KeyedTable
from expensis_tui.widgets.month_picker import ChoiceScreen
from expensis_tui.widgets.progress import ProgressScreen
from expensis_tui.widgets.review import ReviewScreen
from expensis_tui.widgets.text_view import TextViewScreen

SIZE = (80, 24)
TODAY = date(2026, 10, 20)  # the showcase's frozen clock


def app_for(rt: Runtime) -> ExpensisApp:
    return ExpensisApp(rt, start_services=False, clock=frozen_clock)


def notifications(app: ExpensisApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def row_detail(app: ExpensisApp) -> str:
    return str(app.screen.query_one("#row-detail", Label).render())


# -- the read models ---------------------------------------------------------------------------

def test_billing_views_page_in_sql_and_agree_with_the_core(rt: Runtime) -> None:
    page = invoice_page(rt.db, TODAY)
    assert [(r.number, r.status) for r in page.rows] == [
        ("2026-00007", "unpaid"), ("2026-00006", "unpaid"), ("2026-00005", "partial"),
        ("2026-00004", "credit note"), ("2026-00003", "credited"), ("2026-00002", "overdue"),
        ("2026-00001", "paid")]
    acme = page.rows[2]
    assert (acme.paid, acme.open, acme.mail_status) == (Decimal("20.00"), Decimal("32.03"), "sent")
    assert page.rows[4].credit_note_number == "2026-00004" and page.rows[3].credited_number == "2026-00003"
    second = invoice_page(rt.db, TODAY, offset=5, limit=5)
    assert ([r.number for r in second.rows], second.total) == (["2026-00002", "2026-00001"], 7)
    assert balance_page(rt.db, TODAY).rows == customer_balances(rt.db, TODAY)
    assert [b.customer_code for b in balance_page(rt.db, TODAY, offset=1, limit=1).rows] == ["BETA"]
    assert [p.invoice_number for p in payment_page(rt.db).rows] == [None, "2026-00005", "2026-00001"]
    assert [j.status for j in export_page(rt.db, limit=2).rows] == ["running", "failed"]
    assert in_words("PermanentError: export job 3: customer 9 is gone") == "export job 3: customer 9 is gone"
    assert in_words("OSError: [Errno 28] No space left") == "OSError: [Errno 28] No space left"
    preview = cycle_preview(rt.db, "2026-09", rt.settings)  # September is invoiced already
    assert [(p.customer_code, p.standing_number, p.to_issue) for p in preview] == [
        ("ACME", "2026-00005", False), ("BETA", "2026-00006", False), ("GAMMA", "2026-00007", False)]


# -- exports -----------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_create_an_excel_export_and_follow_it_to_its_file(rt: Runtime, pool: WorkerPool) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        assert isinstance(app.screen, ExportsScreen)
        await pilot.press("n")
        assert isinstance(app.screen, ChoiceScreen)  # the kind: Excel first
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ChoiceScreen)  # the customer: ACME first
        await pilot.press("enter")
        assert isinstance(app.screen, ChoiceScreen)  # the cycle: this month (2026-10) first
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Create the Excel export of ACME for 2026-10?"
        await pilot.press("y")
        await settle(pilot)  # the creating worker follows the job to its end
        screen = app.screen
        assert isinstance(screen, ExportsScreen)
        table = screen.query_one(KeyedTable)
        assert table.selected_key == "4"  # the cursor stayed where it was
        await pilot.press("up")  # the new job is on top
        assert str(table.get_cell("5", "status")) == "completed"
        with rt.db.reader() as s:
            job = s.get_one(ExportJob, 5)
        assert f"9 rows → {job.path}" in row_detail(app)
        assert any(m.startswith("export job 5 completed: 9 rows") for m in notifications(app))
    assert (job.kind, job.status, job.rows, job.cycle_start_date, job.requested_by) == \
        ("excel", "completed", 9, OCT, "alice")  # ACME's nine October CDRs
    path = Path(job.path or "")
    assert path.is_file() and path.parent == rt.settings.exports_dir and path.suffix == ".xlsx"


@pytest.mark.anyio
async def test_a_failed_export_says_why_in_words(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        await pilot.press("down")  # job 3 failed: the disk was full
        assert "failed: OSError: [Errno 28] No space left on device" in row_detail(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TextViewScreen)
        assert "No space left on device" in screen_text(app)


# -- invoices ----------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_invoice_cycle_run_with_preview_then_confirm(rt: Runtime, pool: WorkerPool) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await settle(pilot)
        assert isinstance(app.screen, InvoicesScreen)
        await pilot.press("x")
        assert isinstance(app.screen, ChoiceScreen)  # the cycle: 2026-10 first
        await pilot.press("enter")
        await settle(pilot)
        review = app.screen
        assert isinstance(review, ReviewScreen)
        await settle(pilot)
        text = screen_text(app)
        # fresh totals: ACME's late call (240 s beyond the bundle: 4 min x 0.20 = 0.80) and
        # BETA's two subscriptions added after its totals (2 x 10.00 fee) are on the invoices:
        # ACME 25.45 + 0.80 = 26.25 + 5.51 VAT = 31.76; BETA 27.00 + 20.00 = 47.00 + 9.87 = 56.87
        for code, total in (("ACME", "31.76"), ("BETA", "56.87"), ("GAMMA", "0.18")):
            assert code in text and total in text
        # the showcase's today is 20 October: cycle 2026-10 has not ended, so every customer is
        # held, and the review says so before anything is numbered; the operator forces the run
        assert "held ACME: cycle 2026-10 runs until 2026-10-31: not ended" in text
        assert review.question.startswith("3 held: force, € 88.81 in total, dated 20-10-2026?")
        assert "BETA          6       47.00   9.87    56.87  held" in text
        with rt.db.reader() as s:  # nothing numbered before the confirmation
            assert s.scalars(select(Invoice).where(Invoice.cycle_start_date == OCT)).all() == []
        await pilot.press("y")
        await settle(pilot)
        progress = app.screen
        assert isinstance(progress, ProgressScreen) and progress.finished
        # BETA (56.87 after 12.10 last time) and GAMMA (0.18 after 33.28) jump more than 50 %
        # from their previous invoices: they wait for review, unnumbered
        assert str(progress.query_one("#progress-status", Label).render()) == \
            "1 invoice(s) issued: 2026-00008 … 2026-00008; held for review: BETA, GAMMA"
        await pilot.press("escape")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        assert "2026-00008" in [str(table.get_row_at(i)[0]) for i in range(3)]
    with rt.db.reader() as s:
        issued = s.execute(select(Customer.code, Invoice.number, Invoice.status, Invoice.issue_date,
                                  Invoice.total, Invoice.pdf_path)
                           .join(Customer, Customer.id == Invoice.customer_id)
                           .where(Invoice.cycle_start_date == OCT).order_by(Customer.code)).all()
    assert [(c, n, st, t) for c, n, st, _d, t, _p in issued] == [
        ("ACME", "2026-00008", "final", Decimal("31.76")), ("BETA", None, "review", Decimal("56.87")),
        ("GAMMA", None, "review", Decimal("0.18"))]  # what the preview said
    issued = [row for row in issued if row[1]]
    assert all(Path(p).is_file() for *_rest, p in issued)


@pytest.mark.anyio
async def test_credit_note_with_a_reason_after_a_refused_send(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await settle(pilot)
        await pilot.press("M")  # 2026-00007, GAMMA: no e-mail address
        await settle(pilot)
        assert "2026-00007 cannot be sent: customer GAMMA has no e-mail address" in notifications(app)
        await pilot.press("C")
        assert isinstance(app.screen, FormScreen)
        await pilot.press("enter")  # no reason: the form says so and stays
        assert "give a reason" in str(app.screen.query_one("#form-error", Label).render())
        await pilot.press(*"billed twice", "enter")
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert confirm.question == "Credit 2026-00007 (GAMMA, € 33.28) in full?"
        assert "Reason: billed twice" in confirm.detail
        await pilot.press("y")
        await settle(pilot)
        assert "credit note 2026-00008 corrects 2026-00007" in notifications(app)
        table = app.screen.query_one(KeyedTable)
        assert [str(c) for c in table.get_row_at(0)][:1] == ["2026-00008"]
        with rt.db.reader() as s:
            original_id = s.scalars(select(Invoice.id).where(Invoice.number == "2026-00007")).one()
        assert str(table.get_cell(str(original_id), "status")) == "credited"
    with rt.db.reader() as s:
        note = s.scalars(select(Invoice).where(Invoice.number == "2026-00008")).one()
        audit = s.execute(select(AuditLog.operator, AuditLog.target, AuditLog.detail)
                          .where(AuditLog.action == "invoice.credit")).all()
    assert (note.kind, note.credited_invoice_id, note.note, note.total) == \
        ("credit_note", original_id, "billed twice", Decimal("-33.28"))
    assert audit == [("alice", "2026-00007 -> 2026-00008", "billed twice")]


BANK_CSV = """Datum;Bedrag;Omschrijving;Naam tegenpartij
19-10-2026;32,03;Factuur 2026-00005 rest;Acme Logistics
19-10-2026;15,00;lidmaatschap;Vereniging
gisteren;10,00;Factuur 2026-00006;Beta Bouw
"""


@pytest.mark.anyio
async def test_payments_import_by_path_with_a_summary(rt: Runtime, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bank.csv").write_text(BANK_CSV, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # a path relative to where the console runs
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await settle(pilot)
        for summary in ("applied 1 · duplicates 0 · unmatched 1 · bad rows 1",
                        "applied 0 · duplicates 2 · unmatched 0 · bad rows 1"):  # the second time: nothing twice
            await pilot.press("i")
            assert isinstance(app.screen, FormScreen)
            await pilot.press(*"bank.csv", "enter")
            await settle(pilot)
            assert isinstance(app.screen, TextViewScreen)
            text = screen_text(app)
            assert summary in text
            await pilot.press("escape")
            await settle(pilot)
        assert "bad date 'gisteren'" in text  # line 4, said in words
        table = app.screen.query_one(KeyedTable)
        with rt.db.reader() as s:
            acme_id = s.scalars(select(Invoice.id).where(Invoice.number == "2026-00005")).one()
        assert str(table.get_cell(str(acme_id), "status")) == "paid"  # 20.00 + 32.03
    with rt.db.reader() as s:
        payments = s.execute(select(Payment.amount, Payment.invoice_id).order_by(Payment.id)).all()
    assert payments[3:] == [(Decimal("32.03"), acme_id), (Decimal("15.00"), None)]


@dataclass
class Inbox:
    messages: list[EmailMessage]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = Inbox([])
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.mark.anyio
async def test_send_then_resend_with_confirmation(rt: Runtime, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    mailing = Runtime(replace(rt.settings, smtp=SmtpSettings(host="127.0.0.1", port=port)))
    try:
        app = ExpensisApp(mailing, start_services=False, clock=frozen_clock)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("8")
            await settle(pilot)
            await pilot.press("down", "M")  # 2026-00006, BETA, never mailed
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            assert app.screen.question == "Send 2026-00006 to admin@betabouw.example?"
            await pilot.press("y")
            await settle(pilot)
            assert "2026-00006 sent to admin@betabouw.example" in notifications(app)
            assert "mail sent" in row_detail(app)
            await pilot.press("M")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            assert app.screen.question == "Resend 2026-00006 to admin@betabouw.example?"
            await pilot.press("y")
            await settle(pilot)
    finally:
        mailing.close()
    assert [m["Subject"] for m in inbox.messages] == ["Factuur 2026-00006 van Expensis B.V."] * 2
    assert all(m.get_payload()[1].get_filename() == "2026-00006.pdf" for m in inbox.messages)  # type: ignore[index]
    with rt.db.reader() as s:
        mail = s.scalars(select(MailLog).where(MailLog.recipient == "admin@betabouw.example")).one()
        audit = s.execute(select(AuditLog.result).where(AuditLog.action == "invoice.send")).scalars().all()
    assert mail.status == "sent" and audit == ["sent", "sent"]


# -- 256 colours -------------------------------------------------------------------------------

@pytest.mark.anyio
@pytest.mark.parametrize("shot", ["addons", "addons-confirm", "exports", "invoices", "invoices-preview"])
async def test_new_screens_are_readable_in_256_colours(shot: str, rt: Runtime) -> None:
    from expensis_tui.screenshots import SHOTS, drive
    from tests.test_tui_snapshots import _contrast_losses

    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await drive(app, SHOTS[shot], pilot)
        assert _contrast_losses(app) == []


# -- the palette -------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_palette_has_the_new_actions_and_runs_them(rt: Runtime) -> None:
    from textual.command import CommandPalette

    from expensis_tui.commands import palette_commands

    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        titles = {c.title for c in palette_commands(app)}
        assert {"addons: activate an add-on on the marked subscriptions",
                "addons: cancel an add-on on the marked subscriptions",
                "exports: create export (kind, customer, cycle)", "invoices: run cycle (preview, then confirm)",
                "invoices: credit note with a reason", "invoices: import payments from a bank CSV",
                "invoices: send or resend the invoice by mail", "go: invoices", "go: add-ons"} <= titles
        assert "invoices: SEPA direct-debit file (pain.008) for open invoices" in titles  # was "sEPA"
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"run cycle")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ChoiceScreen)  # on the Invoices screen, asking for the cycle
        assert isinstance(app.screen_stack[-2], InvoicesScreen)


@pytest.mark.anyio
async def test_an_invoice_held_for_review_is_released_from_the_console(rt: Runtime) -> None:
    from core.workflows.invoicing import invoice_run

    run = invoice_run(rt.bus, "2026-10", operator="alice", issue_date=TODAY, force=True, now=frozen_clock())
    assert len(run.dispatched) == 3
    run_until_idle(rt.bus)
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        top = [(str(table.get_row_at(i)[1]), str(table.get_row_at(i)[-1])) for i in range(2)]
        assert [code for code, _status in top] == ["GAMMA", "BETA"]  # unnumbered first, newest first
        await pilot.press("l")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert any(m == "GAMMA: released as 2026-00009" for m in notifications(app))
    with rt.db.reader() as s:
        audit = s.scalars(select(AuditLog).where(AuditLog.action == "invoice.release")).one()
    assert (audit.operator, audit.target) == ("alice", "2026-00009")


@pytest.mark.anyio
async def test_invoices_show_direct_debit_and_dunning_and_payments_are_matched_by_hand(rt: Runtime) -> None:
    """Issue 16.6: the payment method and reminder stage per invoice; an unmatched bank entry
    gets its invoice from the payments view (m), role-checked and audited."""
    from core.models.billing import Notification

    with rt.db.transaction() as s:
        acme = s.scalars(select(Customer).where(Customer.code == "ACME")).one()
        acme.payment_method, acme.iban, acme.mandate_id = "direct_debit", "NL91ABNA0417164300", "ACME-M1"
        first = s.scalars(select(Invoice).where(Invoice.customer_id == acme.id, Invoice.kind == "invoice")
                          .order_by(Invoice.seq)).first()
        assert first is not None and first.number is not None
        s.add(Notification(kind="reminder", key=f"invoice:{first.id}:stage:2", recipient="ap@acme.test",
                           status="sent"))
        s.add(Payment(fingerprint="bank-entry-unplaced", paid_on=date(2026, 10, 20), amount=Decimal("12.10"),
                      reference="ACME oktober", counterparty="Acme B.V.", invoice_id=None))
        number = first.number
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, InvoicesScreen)
        table = screen.query_one(KeyedTable)
        table.move_cursor(row=table.get_row_index(str(first.id)))
        await settle(pilot)
        assert "DD R2" in screen_text(app)
        assert "direct debit · second reminder sent" in row_detail(app)

        await pilot.press("v", "v")  # the payments view
        await settle(pilot)
        unplaced = next(key for key, p in screen.payments.items() if p.reference == "ACME oktober")
        table.move_cursor(row=table.get_row_index(unplaced))
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        await pilot.press(*number, "enter")
        await settle(pilot)
    with rt.db.reader() as s:
        assert s.scalar(select(Payment.invoice_id).where(Payment.fingerprint == "bank-entry-unplaced")) == first.id
        assert s.scalars(select(AuditLog.action).order_by(AuditLog.id.desc())).first() == "payments.match"


@pytest.mark.anyio
async def test_a_debit_batch_and_a_camt053_statement_from_the_console(rt: Runtime, tmp_path: Path) -> None:
    """Issue 16.3/16.4 in the console: b builds the pain.008 batch (each invoice once, the invoice
    then says 'collection sent'), p imports a CAMT.053 statement that pays it by end-to-end id."""
    from core.config import IssuerSettings, PaymentSettings
    from core.models.payments import CollectionItem
    from tests.test_sepa_payments import ntry, statement, tx

    rt.settings = replace(rt.settings, issuer=replace(IssuerSettings(), iban="NL91ABNA0417164300"),
                          payments=PaymentSettings(creditor_id="NL79ZZZ999999990000"))
    with rt.db.transaction() as s:
        beta = s.scalars(select(Customer).where(Customer.code == "BETA")).one()
        beta.payment_method, beta.iban, beta.mandate_id = "direct_debit", "NL02ABNA0123456789", "BETA-M1"
        beta.mandate_date = date(2026, 1, 10)
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        await pilot.press("ctrl+u", *"2026-12-31", "enter")
        await settle(pilot)
        assert any("to collect:" in n and "pain008-EXP-DD-" in n for n in notifications(app)), notifications(app)
        with rt.db.reader() as s:
            items = s.execute(select(CollectionItem.invoice_id, CollectionItem.end_to_end_id,
                                     CollectionItem.amount)).all()
        assert items and all(a > 0 for _, _, a in items)
        invoice_id, e2e, amount = items[0]
        screen = app.screen
        assert isinstance(screen, InvoicesScreen)
        table = screen.query_one(KeyedTable)
        table.move_cursor(row=table.get_row_index(str(invoice_id)))
        await settle(pilot)
        assert "collection sent (EXP-DD-" in row_detail(app)

        path = tmp_path / "ing.xml"
        path.write_text(statement(ntry("E-1", f"{amount:.2f}", True, tx(e2e=e2e, name="Beta B.V.",
                                                                          iban="NL02ABNA0123456789"))))
        await pilot.press("i")
        await settle(pilot)
        await pilot.press(*str(path), "enter")
        await settle(pilot)
        assert any("ing.xml: 1 matched" in n for n in notifications(app)), notifications(app)
    with rt.db.reader() as s:
        assert s.scalar(select(Payment.invoice_id).where(Payment.end_to_end_id == e2e)) == invoice_id
