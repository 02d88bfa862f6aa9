"""`expensis totals ...` and `expensis insights ...`: show, recalculate, compare."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from decimal import Decimal

import click

from core.billing.i18n import format_money
from core.insights import list_insights
from core.lookup import NotFound, customer_by_code, cycle_start, partner_by_name, partner_customers
from core.month import Month
from core.runtime import Runtime
from core.totals import (
    CycleNotBegun,
    TotalRow,
    diff_totals,
    partner_totals,
    preview_recalculation,
    totals_version,
    version_history,
)
from core.workflows.totals import (
    request_partner_recalculation,
    request_recalculation,
)
from expensis_tui.cli import EXIT_NOT_FOUND, CliError, emit_json, main, runtime
from expensis_tui.cli.follow import follow_here
from expensis_tui.cli.output import Col, print_table
from expensis_tui.cli.params import MONTH


def resolve(rt: Runtime, code: str, label: Month) -> tuple[int, str, date]:
    try:
        with rt.db.reader() as s:
            customer = customer_by_code(s, code)
            return customer.id, customer.code, cycle_start(customer, label)
    except NotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc


def numbers(rt: Runtime, customer_id: int) -> dict[int, str]:
    from sqlalchemy import select

    from core.models import Subscription

    with rt.db.reader() as s:
        return dict(s.execute(select(Subscription.id, Subscription.number)
                              .where(Subscription.customer_id == customer_id)).all())


def print_totals(rows: list[TotalRow], names: dict[int, str]) -> None:
    total = sum((r.rated_amount for r in rows), start=Decimal(0))
    print_table([Col("SUBSCRIPTION"), Col("TYPE"), Col("COUNT", "number"), Col("SECONDS", "number"),
                 Col("KB", "number"), Col("PROVIDER", "money"), Col("RATED", "money")],
                [*((names.get(r.subscription_id, r.subscription_id), r.call_type, r.count, r.duration_s,
                    r.volume_kb, r.provider_cost, r.rated_amount) for r in rows),
                 ("TOTAL", None, None, None, None, None, total)])


@main.group()
def totals() -> None:
    """Billing totals per customer and cycle: show, recalculate, compare versions."""


@totals.command("show")
@click.argument("customer")
@click.option("--cycle", required=True, type=MONTH, help="Cycle as YYYY-MM.")
@click.option("--version", type=int, help="An archived version from history.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def totals_show(ctx: click.Context, customer: str, cycle: Month, version: int | None, as_json: bool) -> None:
    """Totals by subscription and call type for one customer-cycle."""
    rt = runtime(ctx)
    customer_id, code, start = resolve(rt, customer, cycle)
    rows = totals_version(rt.db, customer_id, start, version)
    names = numbers(rt, customer_id)
    if as_json:
        emit_json([{**asdict(r), "number": names.get(r.subscription_id)} for r in rows])
        return
    click.echo(f"{code} cycle {cycle} (starts {start})" + (f", version {version}" if version else "")
               + invoiced_note(rt, customer_id, start))
    print_totals(rows, names)


def invoiced_note(rt: Runtime, customer_id: int, start: date) -> str:
    """", invoiced as 2026-00012" for an invoiced cycle (a recalculation then is a pending correction)."""
    from core.billing.corrections import invoiced_as

    with rt.db.reader() as s:
        number = invoiced_as(s, customer_id, start)
    return f", invoiced as {number}" if number else ""


@totals.command("history")
@click.argument("customer")
@click.option("--cycle", required=True, type=MONTH)
@click.option("--compare", nargs=2, type=int, metavar="OLD NEW", help="Show what changed between versions.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def totals_history(ctx: click.Context, customer: str, cycle: Month, compare: tuple[int, int] | None,
                   as_json: bool) -> None:
    """Every version of a customer-cycle's totals (date, cause, total; the current one marked);
    --compare A B shows what changed per line between any two, the current one included."""
    rt = runtime(ctx)
    customer_id, code, start = resolve(rt, customer, cycle)
    head = {"customer": code, "cycle": str(cycle), "cycle_start_date": start}
    if not compare:
        history = version_history(rt.db, customer_id, start)
        if as_json:
            emit_json({**head, "versions": [
                {"version": v.version, "state": "current" if v.current else "archived", "at": v.at,
                 "cause": v.cause, "rated_total": v.rated_total} for v in history]})
            return
        click.echo(f"{code} {cycle}: {len(history)} version(s)" + ("" if history else ", no totals yet"))
        print_table([Col("VERSION", "number"), Col("STATE"), Col("CALCULATED", "time"), Col("CAUSE", shrink=True),
                     Col("TOTAL", "money")],
                    [(v.version, "current" if v.current else "archived", v.at, v.cause or "—", v.rated_total)
                     for v in history], zone=rt.settings.time_zone)
        return
    known = {v.version for v in version_history(rt.db, customer_id, start)}
    missing = [str(v) for v in compare if v not in known]
    if missing:
        raise CliError(f"{code} {cycle} has no version {', '.join(missing)} "
                       f"(versions: {', '.join(map(str, sorted(known))) or 'none'})", EXIT_NOT_FOUND)
    old = totals_version(rt.db, customer_id, start, compare[0])
    new = totals_version(rt.db, customer_id, start, compare[1])
    diffs = diff_totals(old, new)
    names = numbers(rt, customer_id)
    if as_json:
        emit_json({**head, "old": compare[0], "new": compare[1],
                   "net_change": sum((d.amount_change for d in diffs), Decimal(0)),
                   "changes": [{"subscription_id": d.subscription_id, "number": names.get(d.subscription_id),
                                "call_type": d.call_type, "old": asdict(d.old) if d.old else None,
                                "new": asdict(d.new) if d.new else None, "amount_change": d.amount_change}
                               for d in diffs]})
        return
    print_diff(diffs, names)


def print_diff(diffs: list, names: dict[int, str]) -> None:  # type: ignore[type-arg]
    if not diffs:
        click.echo("no differences")
        return
    print_table([Col("SUBSCRIPTION"), Col("TYPE"), Col("OLD", "money4"), Col("NEW", "money4"),
                 Col("CHANGE", "money4")],
                [(names.get(d.subscription_id, d.subscription_id), d.call_type,
                  d.old.rated_amount if d.old else None, d.new.rated_amount if d.new else None,
                  d.amount_change) for d in diffs])
    click.echo(f"net change € {format_money(sum(d.amount_change for d in diffs), places=4, symbol=False)}")


@totals.command("recalc")
@click.argument("customer", required=False)
@click.option("--cycle", type=MONTH, help="Cycle YYYY-MM (with CUSTOMER).")
@click.option("--partner", help="Recalculate every active customer of this partner.")
@click.option("--from", "first", type=MONTH, help="First month YYYY-MM (with --partner).")
@click.option("--to", "last", type=MONTH, help="Last month YYYY-MM (with --partner).")
@click.option("--wait", is_flag=True, help="Run the workflow now and wait for it to finish.")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.pass_context
def totals_recalc(ctx: click.Context, customer: str | None, cycle: Month | None, partner: str | None,
                  first: Month | None, last: Month | None, wait: bool, dry_run: bool) -> None:
    """"Herbereken data": recalculate a customer-cycle, or a partner over a month range."""
    dry = dry_run
    rt = runtime(ctx)
    if partner:
        if not (first and last) or customer:
            raise click.UsageError("--partner needs --from and --to, and no CUSTOMER")
        recalc_partner(rt, partner, first, last, wait, dry)
        return
    if not (customer and cycle):
        raise click.UsageError("give CUSTOMER --cycle YYYY-MM, or --partner P --from M --to M")
    customer_id, code, start = resolve(rt, customer, cycle)
    try:
        if dry:
            print_diff(preview_recalculation(rt.db, customer_id, start), numbers(rt, customer_id))
            return
        handle = request_recalculation(rt.bus, customer_id, start, operator=rt.operator)
    except CycleNotBegun as exc:
        raise click.BadParameter(str(exc), param_hint="--cycle") from None
    click.echo(f"recalculation of {code} {cycle} dispatched (workflow {handle.workflow_id})")
    if note := invoiced_note(rt, customer_id, start):
        click.echo(f"the cycle is{note.lstrip(',')}: nothing is re-issued; a changed total is listed by "
                   f"`expensis invoices corrections`")
    if wait:
        follow_here(rt, handle, label="cli-wait")
        print_totals(totals_version(rt.db, customer_id, start), numbers(rt, customer_id))


def recalc_partner(rt: Runtime, partner: str, first: Month, last: Month, wait: bool, dry: bool) -> None:
    if last < first:
        raise click.BadParameter(f"{last} is before {first}", param_hint="--to")
    labels = [str(month) for month in first.through(last)]
    try:
        with rt.db.reader() as s:
            p = partner_by_name(s, partner)
            customers = [(c.id, c.code, cycle_start(c, label)) for c in partner_customers(s, p.id)
                         for label in labels]
    except NotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc
    if dry:
        try:
            previews = [(code, start, preview_recalculation(rt.db, customer_id, start))
                        for customer_id, code, start in customers]
        except CycleNotBegun as exc:
            raise click.BadParameter(str(exc), param_hint="--to") from None
        print_table([Col("CUSTOMER"), Col("CYCLE", "month"), Col("CHANGES", "number"), Col("NET", "money4")],
                    [(code, start, len(diffs), sum((d.amount_change for d in diffs), start=Decimal(0)))
                     for code, start, diffs in previews])
        return
    try:
        recalculations = request_partner_recalculation(rt.bus, p.id, labels, operator=rt.operator)
    except CycleNotBegun as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    click.echo(f"{len(recalculations)} recalculation(s) dispatched for {partner}")
    if wait:
        follow_here(rt, [r.workflow_id for r in recalculations], label="cli-wait")


@totals.command("partner")
@click.argument("partner")
@click.option("--cycle", required=True, type=MONTH, help="Month YYYY-MM.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def totals_partner(ctx: click.Context, partner: str, cycle: Month, as_json: bool) -> None:
    """A partner's totals across its customers for one month, per call type."""
    rt = runtime(ctx)
    try:
        with rt.db.reader() as s:
            p = partner_by_name(s, partner)
            starts = {cycle_start(c, cycle) for c in partner_customers(s, p.id)}
    except NotFound as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc
    rows = [row for start in sorted(starts) for row in partner_totals(rt.db, p.id, start)]
    if as_json:
        emit_json([asdict(r) for r in rows])
        return
    print_table([Col("TYPE"), Col("CUSTOMERS", "number"), Col("COUNT", "number"), Col("PROVIDER", "money"),
                 Col("RATED", "money")],
                [(r.call_type, r.customers, r.count, r.provider_cost, r.rated_amount) for r in rows])


@main.group("insights")
def insights_group() -> None:
    """Billing insights: flatliners, spikes, cost trend, top spenders, margin."""


@insights_group.command("show")
@click.argument("customer")
@click.option("--cycle", required=True, type=MONTH)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def insights_show(ctx: click.Context, customer: str, cycle: Month, as_json: bool) -> None:
    """Insights for one customer-cycle."""
    rt = runtime(ctx)
    customer_id, _code, start = resolve(rt, customer, cycle)
    with rt.db.reader() as s:
        found = [(i.kind, i.severity, i.message, i.score) for i in list_insights(s, customer_id, start)]
    if as_json:
        emit_json([{"kind": k, "severity": sv, "message": m, "score": sc} for k, sv, m, sc in found])
        return
    for kind, severity, message, _score in found:
        click.echo(f"[{severity:<4}] {kind:<12} {message}")
