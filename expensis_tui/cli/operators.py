"""`expensis operators ...` (admin) and `expensis audit list`: who may do what, and who did."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select

from core.models import AuditLog
from core.security.roles import (
    ROLES,
    RoleError,
    UnknownOperator,
    add_operator,
    list_operators,
    remove_operator,
    role_of,
    set_role,
)
from expensis_tui.cli import EXIT_FAILED, EXIT_NOT_FOUND, CliError, emit_json, main, runtime
from expensis_tui.cli.output import Col, print_table


@main.group()
def operators() -> None:
    """Operators and their roles (viewer < operator < admin). Changing them takes an admin."""


@operators.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="viewer", show_default=True)
@click.pass_context
def operators_add(ctx: click.Context, name: str, role: str) -> None:
    """Register an operator. The first one on a database is made admin, whatever --role says."""
    rt = runtime(ctx)
    try:
        added = add_operator(rt.db, name, role, operator=rt.operator)
    except RoleError as exc:
        raise CliError(str(exc), EXIT_FAILED) from exc
    if added.bootstrapped and added.role != added.requested_role:
        click.echo(f"operator {added.username} added as admin: the first operator on this database "
                   f"is made admin (you asked for {added.requested_role})")
    else:
        click.echo(f"operator {added.username} added as {added.role}")


@operators.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def operators_list(ctx: click.Context, as_json: bool) -> None:
    """Registered operators and their roles."""
    rt = runtime(ctx)
    rows = list_operators(rt.db)
    if as_json:
        emit_json([{"username": r.username, "role": r.role, "created_at": r.created_at} for r in rows])
        return
    if not rows:
        click.echo("no operators yet: the first one to change anything becomes admin")
        return
    print_table([Col("OPERATOR"), Col("ROLE"), Col("SINCE", "date")],
                [(r.username, r.role, r.created_at) for r in rows])
    click.echo(f"you are {rt.operator} ({role_of(rt.db, rt.operator)})")


@operators.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_context
def operators_set_role(ctx: click.Context, name: str, role: str) -> None:
    """Give an operator another role (the last admin keeps theirs)."""
    rt = runtime(ctx)
    try:
        previous = set_role(rt.db, name, role, operator=rt.operator)
    except UnknownOperator as exc:
        raise CliError(f"{exc} (add it with `expensis operators add`)", EXIT_NOT_FOUND) from exc
    except RoleError as exc:
        raise CliError(str(exc), EXIT_FAILED) from exc
    click.echo(f"operator {name}: {previous} → {role}")


@operators.command("remove")
@click.argument("name")
@click.pass_context
def operators_remove(ctx: click.Context, name: str) -> None:
    """Remove an operator (afterwards they can only look). The last admin stays."""
    rt = runtime(ctx)
    try:
        remove_operator(rt.db, name, operator=rt.operator)
    except UnknownOperator as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc
    except RoleError as exc:
        raise CliError(str(exc), EXIT_FAILED) from exc
    click.echo(f"operator {name} removed")


@main.group()
def audit() -> None:
    """The audit log: every state-changing action, who did it and how it ended."""


def parse_since(value: str, zone: ZoneInfo) -> datetime:
    """YYYY-MM-DD (midnight in the configured time zone) or an ISO date-time."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not YYYY-MM-DD or an ISO date-time",
                                 param_hint="--since") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


@audit.command("list")
@click.option("--operator", "who", help="Only this operator.")
@click.option("--action", help="Only this action, or a prefix ending in a dot (`addons.`).")
@click.option("--since", help="From this date (YYYY-MM-DD, local) or ISO date-time.")
@click.option("--result", help="Only this result (ok, denied, refused, ...).")
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def audit_list(ctx: click.Context, who: str | None, action: str | None, since: str | None,
               result: str | None, limit: int, as_json: bool) -> None:
    """Audit entries, newest first."""
    rt = runtime(ctx)
    zone = ZoneInfo(rt.settings.time_zone)
    query = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if who:
        query = query.where(AuditLog.operator == who)
    if action:
        query = query.where(AuditLog.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AuditLog.action == action)
    if since:
        query = query.where(AuditLog.at >= parse_since(since, zone))
    if result:
        query = query.where(AuditLog.result == result)
    with rt.db.reader() as s:
        rows = list(s.scalars(query))
    if as_json:
        emit_json([{"id": r.id, "at": r.at, "operator": r.operator, "action": r.action,
                    "target": r.target, "result": r.result, "detail": r.detail} for r in rows])
        return
    print_table([Col("AT", "time"), Col("OPERATOR"), Col("ACTION"), Col("RESULT"), Col("TARGET"),
                 Col("DETAIL", shrink=True)],
                [(r.at, r.operator, r.action, r.result, r.target,
                  (r.detail or "").splitlines()[0] if r.detail else "") for r in rows], zone=zone)
