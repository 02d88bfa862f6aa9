"""`expensis db ...`: schema management."""

from __future__ import annotations

import click

from core.db import current_revision, safe_url
from core.workflows.manual import upgrade_schema
from expensis_tui.cli import main, runtime


@main.group()
def db() -> None:
    """Database schema and connection."""


@db.command("upgrade")
@click.option("--create", is_flag=True,
              help="Create the directory of a SQLite database that does not exist yet.")
@click.pass_context
def db_upgrade(ctx: click.Context, create: bool) -> None:
    """Apply pending migrations (admin; every command creates the schema of an empty database)."""
    rt = runtime(ctx, migrate=False, create=create)
    before, head = upgrade_schema(rt.db, operator=lambda: rt.operator)
    state = f"upgraded from {before}" if before and before != head else "created" if before is None else "up to date"
    click.echo(f"{safe_url(rt.db.url)} at revision {current_revision(rt.db)} (head {head}): {state}")


@db.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the database URL and schema revision."""
    rt = runtime(ctx)
    click.echo(f"url: {safe_url(rt.db.url)}\nrevision: {current_revision(rt.db)}")
