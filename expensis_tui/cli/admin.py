"""`expensis db ...`: schema management."""

from __future__ import annotations

import click

from core.db import current_revision, head_revision, safe_url
from expensis_tui.cli import main, runtime


@main.group()
def db() -> None:
    """Database schema and connection."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply pending migrations (every command also does this on an empty database)."""
    rt = runtime(ctx)
    click.echo(f"{safe_url(rt.db.url)} at revision {current_revision(rt.db)} (head {head_revision(rt.db)})")


@db.command("status")
@click.pass_context
def db_status(ctx: click.Context) -> None:
    """Show the database URL and schema revision."""
    rt = runtime(ctx)
    click.echo(f"url: {safe_url(rt.db.url)}\nrevision: {current_revision(rt.db)}")
