"""`expensis addons ...`: mobile add-ons through Routit's Nina API (10 requests/minute/customer)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import click

from core.addons import (
    AddonError,
    AddonLogRow,
    addon_log,
    backlog,
    catalogue,
    request_logs,
    routit_profile,
    subscription_addons,
    subscriptions_by_number,
)
from core.bus import Dispatched
from core.lookup import NotFound, customer_by_code
from core.runtime import Runtime
from core.security.secrets import SecretBox
from core.workflows.addons import NinaBusy, refresh_addon_types, request_addon_change
from expensis_tui.cli import EXIT_FAILED, EXIT_NOT_FOUND, CliError, emit_json, main, runtime
from expensis_tui.cli.follow import follow_here
from expensis_tui.cli.output import Col, print_table
from providers.base import ProviderError


@main.group()
def addons() -> None:
    """Mobile add-ons: list, activate, cancel, and the per-customer backlog and log."""


def find_customer(rt: Runtime, code: str) -> tuple[int, str]:
    with rt.db.reader() as s:
        try:
            customer = customer_by_code(s, code)
        except NotFound as exc:
            raise CliError(str(exc), EXIT_NOT_FOUND) from exc
        return customer.id, customer.code


def _zone(rt: Runtime) -> ZoneInfo:
    return ZoneInfo(rt.settings.time_zone)


@addons.command("list")
@click.argument("customer")
@click.option("--refresh", is_flag=True, help="Fetch the add-on catalogue from Nina first.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def addons_list(ctx: click.Context, customer: str, refresh: bool, as_json: bool) -> None:
    """The customer's subscriptions with their add-ons, and the add-on catalogue."""
    rt = runtime(ctx)
    customer_id, code = find_customer(rt, customer)
    if refresh:
        with rt.db.reader() as s:
            profile = routit_profile(s, customer_id)
        if profile is None:
            raise CliError(f"customer {code} has no Routit sync profile", EXIT_NOT_FOUND)
        try:
            count = refresh_addon_types(rt.db, profile, secrets=SecretBox.from_settings(rt.settings),
                                        operator=rt.operator, timeout_s=rt.settings.provider_timeout_s)
        except (NinaBusy, ProviderError) as exc:
            raise CliError(f"could not refresh the catalogue: {exc}", EXIT_FAILED) from exc
        if not as_json:
            click.echo(f"catalogue refreshed: {count} add-on type(s)")
    subs = subscription_addons(rt.db, customer_id)
    types = catalogue(rt.db)
    if as_json:
        emit_json({"customer": code, "subscriptions": [s.as_dict() for s in subs],
                   "catalogue": [{"code": t.code, "name": t.name, "monthly_price": t.monthly_price}
                                 for t in types]})
        return
    print_table([Col("NUMBER"), Col("ACTIVE ADD-ONS", shrink=True)],
                [(sub.number, ", ".join(sub.active) or "-") for sub in subs])
    if types:
        click.echo("\ncatalogue:")
        print_table([Col("CODE"), Col("NAME"), Col("PER MONTH", "money")],
                    [(t.code, t.name, t.monthly_price) for t in types])
    else:
        click.echo("\nno catalogue yet: `expensis addons list CUSTOMER --refresh` fetches it")


def _request(ctx: click.Context, action: str, customer: str, addon: str, numbers: tuple[str, ...],
             wait: bool) -> None:
    rt = runtime(ctx)
    customer_id, code = find_customer(rt, customer)
    try:
        with rt.db.reader() as s:
            ids = subscriptions_by_number(s, customer_id, numbers)
        request = request_addon_change(rt.bus, action, customer_id, ids, addon, operator=rt.operator)
    except AddonError as exc:
        raise CliError(str(exc), EXIT_FAILED) from exc
    click.echo(f"{action} {addon} on {request.subscriptions} subscription(s) of {code}: "
               f"requested (message {request.message_id})")
    if wait:
        _wait(rt, request.handle)


def _wait(rt: Runtime, handle: Dispatched) -> None:
    """Run workers here until every request is answered, printing progress, then the log."""
    try:
        follow_here(rt, handle, label="cli-addons")
    finally:
        rows = request_logs(rt.db, handle.workflow_id)
        if rows:
            _print_log(rows, _zone(rt))


@addons.command("activate")
@click.argument("customer")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--addon", required=True, help="The add-on code (see `expensis addons list`).")
@click.option("--wait", is_flag=True, help="Send the requests now and wait for Nina's answers.")
@click.pass_context
def addons_activate(ctx: click.Context, customer: str, numbers: tuple[str, ...], addon: str,
                    wait: bool) -> None:
    """Activate an add-on on one or more numbers (admin)."""
    _request(ctx, "activate", customer, addon, numbers, wait)


@addons.command("cancel")
@click.argument("customer")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--addon", required=True, help="The add-on code.")
@click.option("--wait", is_flag=True, help="Send the requests now and wait for Nina's answers.")
@click.pass_context
def addons_cancel(ctx: click.Context, customer: str, numbers: tuple[str, ...], addon: str,
                  wait: bool) -> None:
    """Cancel an add-on on one or more numbers (admin)."""
    _request(ctx, "cancel", customer, addon, numbers, wait)


@addons.command("backlog")
@click.argument("customer")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def addons_backlog(ctx: click.Context, customer: str, as_json: bool) -> None:
    """Requests waiting for the customer's Nina rate limit, with when each goes out."""
    rt = runtime(ctx)
    customer_id, code = find_customer(rt, customer)
    rows = backlog(rt.db, customer_id)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    if not rows:
        click.echo(f"no add-on requests waiting for {code}")
        return
    zone = _zone(rt)
    print_table([Col("ID", "number"), Col("ACTION"), Col("ADD-ON"), Col("NUMBER"), Col("STATUS"),
                 Col("GOES OUT", "time"), Col("ERROR", shrink=True)],
                [(r.entry.id, r.entry.action, r.entry.addon_code, r.entry.number, r.entry.status,
                  r.goes_out_at, r.entry.error_message) for r in rows], zone=zone)
    click.echo(f"{len(rows)} request(s) waiting")


def _print_log(rows: list[AddonLogRow], zone: ZoneInfo) -> None:
    print_table([Col("ID", "number"), Col("AT", "time"), Col("ACTION"), Col("ADD-ON"), Col("NUMBER"),
                 Col("STATUS"), Col("REQUEST"), Col("BY"), Col("ERROR", shrink=True)],
                [(e.id, e.finished_at or e.created_at, e.action, e.addon_code, e.number, e.status,
                  e.provider_request_id, e.requested_by, e.error_message) for e in rows], zone=zone)


@addons.command("log")
@click.argument("customer")
@click.option("--limit", default=50, show_default=True)
@click.option("--offset", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def addons_log(ctx: click.Context, customer: str, limit: int, offset: int, as_json: bool) -> None:
    """Every add-on request of the customer and how it ended, newest first."""
    rt = runtime(ctx)
    customer_id, _ = find_customer(rt, customer)
    rows = addon_log(rt.db, customer_id, limit, offset)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    _print_log(rows, _zone(rt))
