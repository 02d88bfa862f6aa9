"""`expensis payments collect|reminders ...`: SEPA direct debit batches and reminders.

`payments import` (in cli/invoices.py) reads CAMT.053 statements as well as the bank CSV.
"""

from __future__ import annotations

from dataclasses import asdict

import click
from sqlalchemy import select

from core.billing.bank import format_reference, payment_reference
from core.billing.collections import CollectionError, collect
from core.billing.dunning import reminder_stages, run_dunning, stage_label
from core.billing.i18n import format_money as money
from core.billing.mail import local_today
from core.billing.payments import invoice_balances
from core.billing.statements import StatementImport
from core.models import Customer
from expensis_tui.cli import EXIT_FAILED, CliError, emit_json, runtime
from expensis_tui.cli.invoices import parse_day, payments_group


@payments_group.command("collect")
@click.option("--due-before", "due_before", required=True, metavar="DATE",
              help="Collect the open invoices due on or before this date (YYYY-MM-DD).")
@click.option("--dry-run", is_flag=True, help="List what would be collected; write nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def payments_collect(ctx: click.Context, due_before: str, dry_run: bool, as_json: bool) -> None:
    """Build one SEPA direct-debit file (pain.008) for the open invoices of direct-debit customers."""
    rt = runtime(ctx)
    day = parse_day(due_before)
    assert day is not None
    try:
        result = collect(rt.db, rt.settings, due_before=day, today=local_today(rt.settings),
                         operator=rt.operator, dry_run=dry_run)
    except CollectionError as exc:
        raise CliError(str(exc), EXIT_FAILED) from exc
    if as_json:
        emit_json({"batch_id": result.batch_id, "path": str(result.path) if result.path else None,
                   "total": result.total, "items": [asdict(i) for i in result.items],
                   "skipped": list(result.skipped)})
        return
    for item in result.items:
        click.echo(f"  {item.number:<12} {item.customer_code:<10} {money(item.amount)} {item.sequence_type} "
                   f"collect on {item.collection_date}")
    for reason in result.skipped:
        click.echo(f"  skipped {reason}")
    if dry_run:
        click.echo(f"dry run: {len(result.items)} invoice(s), {money(result.total)} would be collected")
    elif result.path is None:
        click.echo("nothing to collect")
    else:
        click.echo(f"{len(result.items)} invoice(s), {money(result.total)}: {result.path}")
        click.echo("upload this file to the bank; the invoices are marked as collection sent")


def echo_statement(result: StatementImport, as_json: bool) -> None:
    if as_json:
        emit_json({"applied": [asdict(a) for a in result.applied], "returned": [asdict(a) for a in result.returned],
                   "unmatched": [asdict(a) for a in result.unmatched], "duplicates": result.duplicates,
                   "ignored": result.ignored})
        return
    click.echo(result.summary())
    for a in result.applied:
        click.echo(f"  {a.entry.booked_on} {money(a.entry.amount)} → {a.invoice_number} (by {a.matched_by})")
    for a in result.returned:
        click.echo(f"  {a.entry.booked_on} {money(a.entry.amount)} returned {a.entry.return_reason}: "
                   f"{a.invoice_number} is open again")
    for a in result.unmatched:
        click.echo(f"  unmatched {a.entry.booked_on} {money(a.entry.amount)} {a.entry.counterparty} "
                   f"'{a.entry.remittance or a.entry.structured_ref or ''}' (match with: expensis payments match)")


@payments_group.command("reminders")
@click.option("--send", is_flag=True, help="Send the reminders due today now (the daily job does this).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def payments_reminders(ctx: click.Context, send: bool, as_json: bool) -> None:
    """Open invoices with their payment reference and dunning stage; --send sends today's reminders."""
    rt = runtime(ctx)
    today = local_today(rt.settings)
    if send:
        from core.security import roles

        roles.authorize(rt.db, rt.operator, roles.Action.PAYMENTS_REMIND, target="reminders")
        run = run_dunning(rt.db, rt.settings, today=today)
        for sent in run.sent:
            click.echo(f"  {sent.invoice_number} {sent.customer_code}: {sent.stage.replace('_', ' ')} "
                       f"sent to {sent.recipient}")
        click.echo(run.summary())
        return
    with rt.db.reader() as session:
        balances = [b for b in invoice_balances(session, today) if b.open > 0]
        stages = reminder_stages(session, [b.invoice_id for b in balances])
        methods = {int(cid): str(method) for cid, method in session.execute(
            select(Customer.id, Customer.payment_method))}
    rows = [{"number": b.number, "customer_id": b.customer_id, "due_date": b.due_date, "open": b.open,
             "status": b.status, "payment_reference": payment_reference(b.invoice_id),
             "payment_method": methods.get(b.customer_id, "transfer"),
             "dunning": stage_label(stages.get(b.invoice_id, 0))} for b in balances]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        click.echo(f"  {r['number']:<12} due {r['due_date']} {money(r['open'])} {r['status']:<8} "
                   f"{r['payment_method']:<12} {format_reference(str(r['payment_reference']))}  {r['dunning']}")
    if not rows:
        click.echo("no open invoices")
