"""`expensis invoices|payments|balances|revenues ...`: issue, correct, mail, collect, report."""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import click

from core.billing import invoices as inv
from core.billing.batch import batch_pdf, run_batch
from core.billing.i18n import format_money, invoice_line_cells, t, total_labels
from core.billing.mail import local_today, send_invoice_mail
from core.billing.payments import (
    customer_balances,
    import_payments,
    list_payments,
    match_payment,
)
from core.billing.revenues import export_revenues
from core.bus import PermanentError, TransientError
from core.lookup import NotFound, customer_by_code
from core.models import Customer
from core.month import Month
from core.rating.cycles import cycle_for_label
from core.runtime import Runtime
from core.workflows.invoicing import invoice_run
from core.workflows.manual import refresh_balances
from expensis_tui.cli import EXIT_FAILED, EXIT_NOT_FOUND, CliError, emit_json, main, runtime
from expensis_tui.cli.follow import follow_here
from expensis_tui.cli.output import Col, print_table
from expensis_tui.cli.params import MONTH


def parse_day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def customers_of(rt: Runtime, codes: tuple[str, ...]) -> list[Customer]:
    try:
        with rt.db.reader() as s:
            return [customer_by_code(s, code) for code in codes]
    except NotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc


def print_lines(lines: Sequence[Any], amounts: Any, *, reverse_charge: bool) -> None:
    """An invoice's lines, then subtotal, VAT and total in the amount column."""
    vat = "reverse charge" if reverse_charge else f"VAT {amounts.vat_rate.normalize()}%"
    print_table([Col("DESCRIPTION"), Col("QUANTITY", "number"), Col("UNIT"), Col("AMOUNT", "money")],
                [*((line.description, line.quantity, line.unit, line.amount) for line in lines),
                 ("subtotal", None, None, amounts.subtotal), (vat, None, None, amounts.vat),
                 ("total", None, None, amounts.total)])


# -- invoices ----------------------------------------------------------------------------------

@main.group("invoices")
def invoices_group() -> None:
    """Invoices from totals: run, list, show, credit, send, batch."""


@invoices_group.command("run")
@click.option("--cycle", type=MONTH, help="Cycle YYYY-MM to invoice (default: each customer's last ended cycle).")
@click.option("--customer", "codes", multiple=True, help="Only this customer (repeatable).")
@click.option("--preview", is_flag=True, help="Show the amounts and holds; number and store nothing.")
@click.option("--issue-date", help="Invoice date YYYY-MM-DD (default: today).")
@click.option("--send", is_flag=True, help="Mail the invoices (the mail rules still apply).")
@click.option("--force", is_flag=True, help="Invoice cycles that are held as incomplete (audited).")
@click.option("--wait", is_flag=True, help="Run the invoices now and wait for them.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def invoices_run(ctx: click.Context, cycle: Month | None, codes: tuple[str, ...], preview: bool,
                 issue_date: str | None, send: bool, force: bool, wait: bool, as_json: bool) -> None:
    """Invoice complete cycles: one invoice per active customer (idempotent)."""
    rt = runtime(ctx)
    chosen = customers_of(rt, codes) if codes else None
    if preview:
        show_previews(rt, cycle, chosen, as_json)
        return
    run = invoice_run(rt.bus, str(cycle) if cycle is not None else None, operator=rt.operator,
                      customers=[c.id for c in chosen] if chosen else None,
                      issue_date=parse_day(issue_date), send=send, force=force)
    if not as_json:
        click.echo(f"cycle {run.cycle_label}: {len(run.dispatched)} invoice(s) dispatched, "
                   f"{len(run.invoiced)} already invoiced, {len(run.held)} held (workflow {run.workflow_id})")
        for check in run.held:
            click.echo(f"held {check.customer_code} {check.cycle.label}: {'; '.join(check.reasons)}")
        for check in run.forced:
            click.echo(f"forced {check.customer_code} {check.cycle.label}: {'; '.join(check.reasons)}")
        for code, reason in run.nothing:
            click.echo(f"nothing to invoice for {code}: {reason}")
        for code, reason in run.review:
            click.echo(f"held for review {code}: {reason}")
    if wait and run.dispatched:
        follow_here(rt, run.workflow_id, label="cli-wait", quiet=as_json)
    if as_json:
        emit_json({**asdict(run)})
    elif wait:
        print_table([Col("NUMBER"), Col("CUSTOMER"), Col("TOTAL", "money")],
                    [(summary.number, summary.customer_code, summary.total) for summary in
                     inv.list_invoices(rt.db, status=inv.FINAL, limit=len(run.dispatched) or 1)])


def show_previews(rt: Runtime, cycle: Month | None, chosen: list[Customer] | None, as_json: bool) -> None:
    from sqlalchemy import select

    with rt.db.reader() as s:
        targets = chosen or list(s.scalars(select(Customer).where(Customer.active.is_(True))
                                           .order_by(Customer.code)))
    out: list[dict[str, Any]] = []
    for customer in targets:
        start = cycle_for_label(str(cycle), customer.billing_day).start if cycle is not None else None
        preview = inv.preview_invoice(rt.db, customer.id, start, settings=rt.settings, now=rt.bus.clock())
        amounts = preview.amounts
        if as_json:
            out.append({"customer": preview.customer_code, "cycle_start_date": preview.cycle_start_date,
                        "test_mode": preview.test_mode, "invoiced_as": preview.standing_number,
                        "held": list(preview.holds), "review": list(preview.review),
                        "lines": [asdict(line) for line in amounts.lines], "subtotal": amounts.subtotal,
                        "vat_rate": amounts.vat_rate, "vat": amounts.vat, "total": amounts.total,
                        "reverse_charge": amounts.reverse_charge, "credit_applied": preview.credit,
                        "amount_due": preview.amount_due})
            continue
        flag = " TEST" if preview.test_mode else ""
        done = f" (invoiced as {preview.standing_number})" if preview.standing_number else ""
        click.echo(f"{preview.customer_code}{flag} {preview.period}{done}")
        for reason in preview.holds:
            click.echo(f"  HELD: {reason}")
        for reason in preview.review:
            click.echo(f"  REVIEW: {reason}")
        language = preview.language
        for line in amounts.lines:  # in the customer's language, as the invoice will say it
            text, quantity, unit, price, amount = invoice_line_cells(
                line.description, line.quantity, line.unit, line.unit_price, line.amount, language)
            click.echo(f"  {text[:44]:<44} {quantity:>10} {unit:<4} x {price:>11} = {amount:>12}")
        subtotal, vat, total = total_labels(amounts.vat_rate, amounts.reverse_charge, language)
        rows = [(subtotal, amounts.subtotal), (vat, amounts.vat), (total, amounts.total)]
        if preview.credit:  # the customer's credit pays part of it, as the PDF says
            rows += [(t("credit_applied", language), -preview.credit), (t("amount_due", language), preview.amount_due)]
        for label, value in rows:
            click.echo(f"  {label:<77} {format_money(value, language):>12}")
    if as_json:
        emit_json(out)


@invoices_group.command("review")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def invoices_review(ctx: click.Context, as_json: bool) -> None:
    """Invoices held for review, with the reasons (release or drop them)."""
    rt = runtime(ctx)
    held = inv.held_for_review(rt.db)
    if as_json:
        emit_json([asdict(h) for h in held])
        return
    for h in held:
        click.echo(f"{h.invoice_id:>6} {h.customer_code:<12} {h.cycle_start_date} {format_money(h.total)}")
        for reason in h.reasons:
            click.echo(f"         {reason}")


@invoices_group.command("release")
@click.argument("invoice_id", type=int)
@click.option("--issue-date", help="Invoice date YYYY-MM-DD (default: today).")
@click.pass_context
def invoices_release(ctx: click.Context, invoice_id: int, issue_date: str | None) -> None:
    """Issue an invoice held for review (numbered now, audited)."""
    rt = runtime(ctx)
    number = inv.release_invoice(rt.db, invoice_id, operator=rt.operator,
                                 issue_date=parse_day(issue_date) or local_today(rt.settings),
                                 settings=rt.settings)
    click.echo(f"released as {number}")


@invoices_group.command("drop")
@click.argument("invoice_id", type=int)
@click.option("--reason", required=True, help="Why the invoice is not issued.")
@click.pass_context
def invoices_drop(ctx: click.Context, invoice_id: int, reason: str) -> None:
    """Drop an invoice held for review (never numbered, audited)."""
    rt = runtime(ctx)
    inv.drop_invoice(rt.db, invoice_id, operator=rt.operator, reason=reason)
    click.echo(f"invoice {invoice_id} dropped")


@invoices_group.command("corrections")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def invoices_corrections(ctx: click.Context, as_json: bool) -> None:
    """Invoiced cycles whose recalculated totals now give another total (pending corrections)."""
    from core.billing.corrections import pending_corrections

    rt = runtime(ctx)
    pending = pending_corrections(rt.db, rt.settings)
    if as_json:
        emit_json([{**asdict(p), "difference": p.difference} for p in pending])
        return
    for p in pending:
        click.echo(f"{p.number:<16} {p.customer_code:<12} {p.cycle_start_date} invoiced "
                   f"{format_money(p.invoiced_total)} now {format_money(p.current_total)} "
                   f"difference {format_money(p.difference)}")


@invoices_group.command("correct")
@click.argument("number")
@click.option("--reason", required=True, help="Why the invoice is corrected (on the credit note).")
@click.option("--issue-date", help="Date YYYY-MM-DD (default: today).")
@click.pass_context
def invoices_correct(ctx: click.Context, number: str, reason: str, issue_date: str | None) -> None:
    """Issue a pending correction: a credit note of NUMBER plus a new invoice of its cycle."""
    from core.billing.corrections import issue_correction

    rt = runtime(ctx)
    note, new = issue_correction(rt.db, number, reason=reason, operator=rt.operator,
                                 issue_date=parse_day(issue_date) or local_today(rt.settings),
                                 settings=rt.settings)
    click.echo(f"credit note {note}; new invoice {new or 'not issued (see `invoices review`)'}")


@invoices_group.command("list")
@click.option("--customer", "code", help="Only this customer.")
@click.option("--year", type=int)
@click.option("--status", type=click.Choice(["draft", "final"]))
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def invoices_list(ctx: click.Context, code: str | None, year: int | None, status: str | None,
                  limit: int, as_json: bool) -> None:
    """Invoices and credit notes, newest first."""
    rt = runtime(ctx)
    customer_id = customers_of(rt, (code,))[0].id if code else None
    rows = inv.list_invoices(rt.db, customer_id=customer_id, year=year, status=status, limit=limit)
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    print_table([Col("NUMBER"), Col("KIND"), Col("CUSTOMER"), Col("CYCLE", "month"),
                 Col("DATE", "date"), Col("TOTAL", "money")],
                [(r.number or "(draft)", r.kind, r.customer_code, r.cycle_start_date, r.issue_date, r.total)
                 for r in rows])


@invoices_group.command("show")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def invoices_show(ctx: click.Context, number: str, as_json: bool) -> None:
    """One invoice or credit note: lines, totals, PDF (re-rendered if the file is missing)."""
    rt = runtime(ctx)
    try:
        detail = inv.invoice_detail(rt.db, number, rt.settings.issuer.code)
        pdf = inv.ensure_pdf(rt.db, detail.summary.id, rt.settings)
    except inv.InvoiceNotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc
    s, amounts = detail.summary, detail.amounts
    if as_json:
        emit_json({**asdict(s), "pdf_path": str(pdf), "lines": [asdict(line) for line in amounts.lines],
                   "reverse_charge": detail.reverse_charge, "note": detail.note,
                   "credited_invoice": detail.credited_number, "credit_note": detail.credit_note_number})
        return
    click.echo(f"{s.kind.replace('_', ' ')} {s.number}{' (TEST)' if s.test_mode else ''} - "
               f"{s.customer_code} {s.customer_name}")
    click.echo(f"date {s.issue_date}, due {s.due_date}, cycle {s.cycle_start_date}")
    if detail.credited_number:
        click.echo(f"corrects {detail.credited_number}: {detail.note or ''}")
    if detail.credit_note_number:
        click.echo(f"credited by {detail.credit_note_number}")
    print_lines(amounts.lines, amounts, reverse_charge=detail.reverse_charge)
    click.echo(f"PDF: {pdf}")


@invoices_group.command("credit")
@click.argument("number")
@click.option("--reason", required=True, help="Why the invoice is corrected (kept with the credit note).")
@click.option("--issue-date", help="Credit note date YYYY-MM-DD (default: today).")
@click.pass_context
def invoices_credit(ctx: click.Context, number: str, reason: str, issue_date: str | None) -> None:
    """Correct an invoice with a credit note (its own number); the invoice itself stays."""
    rt = runtime(ctx)
    try:
        credit = inv.credit_invoice(rt.db, number, reason=reason,
                                    issue_date=parse_day(issue_date) or local_today(rt.settings),
                                    settings=rt.settings, operator=rt.operator)
    except inv.InvoiceNotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc
    except inv.InvoiceError as exc:
        raise CliError(str(exc)) from exc
    click.echo(f"credit note {credit} corrects {number}")


@invoices_group.command("send")
@click.argument("number")
@click.option("--resend", is_flag=True, help="Send again even if this cycle's mail went out.")
@click.pass_context
def invoices_send(ctx: click.Context, number: str, resend: bool) -> None:
    """Mail an invoice to the customer now (never a test invoice; once unless --resend)."""
    from core.security import audit
    from core.security.roles import Action

    rt = runtime(ctx)
    try:
        with rt.db.reader() as s:
            invoice_id = inv.find_invoice(s, number, rt.settings.issuer.code).id
        outcome = send_invoice_mail(rt.db, rt.settings, invoice_id, today=local_today(rt.settings),
                                    manual=True, resend=resend, operator=rt.operator)
    except inv.InvoiceNotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc
    except (PermanentError, TransientError) as exc:
        raise CliError(f"{number} not sent: {exc}") from exc
    with rt.db.transaction() as s:
        audit.record(s, operator=rt.operator, action=Action.INVOICE_SEND, target=number,
                     result=outcome.status, detail=outcome.reason)
    if outcome.status != "sent":
        raise CliError(f"{number} not sent: {outcome.reason}")
    click.echo(outcome.reason)


@invoices_group.command("batch")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--issue-date", help="Invoice date YYYY-MM-DD (default: today).")
@click.option("--send", is_flag=True, help="Mail each client its monthly ZIP (invoice day only, once).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def invoices_batch(ctx: click.Context, file: Path, issue_date: str | None, send: bool, as_json: bool) -> None:
    """Batch invoicing: one invoice per CSV row, PDFs, a monthly ZIP per client."""
    rt = runtime(ctx)
    day = parse_day(issue_date) or local_today(rt.settings)
    result = run_batch(rt.db, file, settings=rt.settings, issue_date=day, operator=rt.operator,
                       send=send, today=local_today(rt.settings))
    if as_json:
        emit_json({**asdict(result), "zips": [str(z) for z in result.zips]})
    else:
        click.echo(f"{len(result.issued)} invoice(s) issued, {result.skipped} already invoiced this month, "
                   f"{len(result.errors)} bad row(s)")
        if result.issued:
            print_table([Col("NUMBER"), Col("CLIENT"), Col("TOTAL", "money")],
                        [(issued.number, issued.client_id, issued.total) for issued in result.issued])
        for error in result.errors:
            click.echo(f"  line {error.line}: {error.reason}", err=True)
        for zip_path in result.zips:
            click.echo(f"ZIP: {zip_path}")
        for mail in result.mails:
            click.echo(f"mail: {mail}")
    if result.errors:
        ctx.exit(EXIT_FAILED)


@invoices_group.command("batch-pdf")
@click.argument("number")
@click.pass_context
def invoices_batch_pdf(ctx: click.Context, number: str) -> None:
    """Print the path of a batch invoice's PDF, rendered again from its row if the file is missing."""
    rt = runtime(ctx)
    try:
        click.echo(batch_pdf(rt.db, number, rt.settings))
    except inv.InvoiceNotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc
    except inv.InvoiceError as exc:
        raise CliError(str(exc), EXIT_FAILED) from exc


# -- payments, balances, revenues --------------------------------------------------------------

@main.group("payments")
def payments_group() -> None:
    """Payments from the bank: import, list, match by hand."""


@payments_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def payments_import(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Import a bank statement: CAMT.053 (.xml) or the bank CSV; each booking once, matched to invoices."""
    rt = runtime(ctx)
    if file.suffix.lower() == ".xml" or file.read_bytes()[:64].lstrip().startswith(b"<"):
        from core.billing.camt import StatementError
        from core.billing.statements import import_statement
        from expensis_tui.cli.sepa import echo_statement

        try:
            statement = import_statement(rt.db, file, settings=rt.settings, operator=rt.operator,
                                         today=local_today(rt.settings))
        except StatementError as exc:
            raise CliError(str(exc), EXIT_FAILED) from exc
        echo_statement(statement, as_json)
        return
    result = import_payments(rt.db, file, settings=rt.settings, operator=rt.operator,
                             today=local_today(rt.settings))
    if as_json:
        emit_json(asdict(result))
    else:
        click.echo(f"{len(result.applied)} applied, {len(result.unmatched)} unmatched, "
                   f"{result.duplicates} already imported, {len(result.errors)} bad row(s)")
        for p in result.unmatched:
            click.echo(f"  unmatched line {p.line}: {p.paid_on} {format_money(p.amount)} {p.counterparty} "
                       f"'{p.reference}'")
        for error in result.errors:
            click.echo(f"  line {error.line}: {error.reason}", err=True)
    if result.errors:
        ctx.exit(EXIT_FAILED)


@payments_group.command("list")
@click.option("--unmatched", is_flag=True, help="Only payments not matched to an invoice.")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def payments_list(ctx: click.Context, unmatched: bool, limit: int, as_json: bool) -> None:
    rows = list_payments(runtime(ctx).db, unmatched_only=unmatched, limit=limit)
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    print_table([Col("ID", "number"), Col("PAID ON", "date"), Col("AMOUNT", "money"), Col("INVOICE"),
                 Col("COUNTERPARTY"), Col("REFERENCE", shrink=True)],
                [(r.id, r.paid_on, r.amount, r.invoice_number or "(unmatched)", r.counterparty, r.reference)
                 for r in rows])


@payments_group.command("match")
@click.argument("payment_id", type=int)
@click.argument("number")
@click.pass_context
def payments_match(ctx: click.Context, payment_id: int, number: str) -> None:
    """Match a stored payment to an invoice by hand."""
    rt = runtime(ctx)
    try:
        match_payment(rt.db, payment_id, number, settings=rt.settings, operator=rt.operator,
                      today=local_today(rt.settings))
    except inv.InvoiceError as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc
    click.echo(f"payment {payment_id} matched to {number}")


@main.group("balances")
def balances_group() -> None:
    """What each customer was invoiced and paid: paid, partial, unpaid or overdue."""


def print_balances(rows: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    print_table([Col("CUSTOMER"), Col("INVOICED", "money"), Col("PAID", "money"), Col("OPEN", "money"),
                 Col("OVERDUE", "money"), Col("CREDIT", "money"), Col("STATUS")],
                [(b.customer_code, b.invoiced, b.paid, b.open, b.overdue, b.credit, b.status) for b in rows])


@balances_group.command("update")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def balances_update(ctx: click.Context, as_json: bool) -> None:
    """Recompute every balance and store it in the revenue ledger."""
    rt = runtime(ctx)
    print_balances(refresh_balances(rt.db, today=local_today(rt.settings), operator=rt.operator), as_json)


@balances_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def balances_list(ctx: click.Context, as_json: bool) -> None:
    rt = runtime(ctx)
    print_balances(customer_balances(rt.db, local_today(rt.settings)), as_json)


@balances_group.command("refund")
@click.argument("customer")
@click.option("--note", required=True, help="How the credit was paid back (bank reference).")
@click.option("--amount", help="Part of the credit (default: all of it).")
@click.pass_context
def balances_refund(ctx: click.Context, customer: str, note: str, amount: str | None) -> None:
    """Mark a customer's credit (overpaid, credited after payment) refunded (audited)."""
    from core.billing.credit import refund_credit

    rt = runtime(ctx)
    try:
        value = decimal.Decimal(amount) if amount is not None else None
    except ArithmeticError as exc:
        raise click.BadParameter(f"{amount!r} is not an amount") from exc
    try:
        refunded = refund_credit(rt.db, customer, operator=rt.operator, note=note, amount=value)
    except NotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc
    click.echo(f"{customer}: € {refunded} marked refunded")


@main.group("revenues")
def revenues_group() -> None:
    """The accountant's revenue export."""


@revenues_group.command("export")
@click.option("--year", type=int, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="CSV file (default: revenues_YEAR.csv in the exports directory).")
@click.option("--include-batch", is_flag=True, help="Add the batch invoices of the year.")
@click.pass_context
def revenues_export(ctx: click.Context, year: int, output: Path | None, include_batch: bool) -> None:
    """Invoices and credit notes of a year as CSV: number, date, customer, net, VAT, total, paid, status."""
    rt = runtime(ctx)
    path = output or rt.settings.exports_dir / f"revenues_{year}.csv"
    rows = export_revenues(rt.db, year, path, today=local_today(rt.settings), include_batch=include_batch)
    click.echo(f"{rows} row(s) written to {path}")


# SEPA direct debit and reminders are `payments` subcommands too (they import this module).
from expensis_tui.cli import sepa as _sepa  # noqa: E402,F401
