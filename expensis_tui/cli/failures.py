"""`expensis failures list|show|retry`: every workflow that ended badly, and its one retry."""

from __future__ import annotations

import click
from sqlalchemy import select

from core.bus import run_until_idle
from core.models import SyncTask
from core.views.failures import KINDS, FailureDetail, UnknownFailure, get_failure, list_failures
from core.workflows.failures import CannotRetry, retry_failure
from core.workflows.sync import WITH_WARNINGS, SyncBusy
from expensis_tui.cli import EXIT_NOT_FOUND, CliError, emit_json, main, runtime
from expensis_tui.cli.bus import load_plugins
from expensis_tui.cli.output import when


@main.group()
def failures() -> None:
    """Failed syncs, steps, exports, add-on requests and file imports: list, show, retry."""


@failures.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only failures of this kind.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def failures_list(ctx: click.Context, kind: str | None, limit: int, as_json: bool) -> None:
    """Open failures, newest first."""
    rows = list_failures(runtime(ctx).db, limit=limit, kind=kind)
    if as_json:
        emit_json([f.as_dict() for f in rows])
        return
    if not rows:
        click.echo("no failures")
        return
    for f in rows:
        error = (f.error.splitlines() or [""])[0]
        click.echo(f"{f.ref:<12} {when(f.failed_at, '%Y-%m-%d %H:%M')}  {f.subject}: {f.what}")
        click.echo(f"{'':<12} {error}")
    click.echo("\nSee one in full: expensis failures show REF; retry it: expensis failures retry REF")


def _detail(ctx: click.Context, ref: str) -> FailureDetail:
    try:
        return get_failure(runtime(ctx).db, ref)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    except UnknownFailure as exc:
        raise CliError(str(exc), EXIT_NOT_FOUND) from exc


@failures.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def failures_show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """One failure: its full error, its attempts with their times, and what retry will do."""
    detail = _detail(ctx, ref)
    if as_json:
        emit_json(detail.as_dict())
        return
    f = detail.failure
    click.echo(f"{f.ref}  {f.subject}: {f.what}")
    click.echo(f"failed at  {when(f.failed_at)}")
    if detail.workflow_id:
        click.echo(f"workflow   {detail.workflow_id} (messages {', '.join(map(str, detail.message_ids))})")
    click.echo("error:")
    for line in f.error.splitlines() or ["(none recorded)"]:
        click.echo(f"  {line}")
    if detail.attempts:
        click.echo("attempts:")
        for a in detail.attempts:
            click.echo(f"  {a.number}  {when(a.at)}  {a.outcome:<8} {a.error}")
    click.echo(f"retry      {f.retry}: expensis failures retry {f.ref}")


@failures.command("retry")
@click.argument("ref")
@click.option("--wait", is_flag=True, help="Run the bus here until the retry has finished.")
@click.option("--plugin", "plugins", multiple=True, hidden=True)
@click.pass_context
def failures_retry(ctx: click.Context, ref: str, wait: bool, plugins: tuple[str, ...]) -> None:
    """Do the right retry: a failed sync becomes a new sync of the same profile and month."""
    load_plugins(plugins)
    _detail(ctx, ref)
    rt = runtime(ctx)
    try:
        started = retry_failure(rt.bus, ref, operator=rt.operator)
    except (SyncBusy, CannotRetry) as exc:
        raise CliError(str(exc)) from exc
    if started.failed:
        raise CliError(started.summary)
    click.echo(started.summary)
    if wait:
        run_until_idle(rt.bus)
        if started.sync_task_id is not None:
            with rt.db.reader() as session:
                status = session.scalar(select(SyncTask.status).where(SyncTask.id == started.sync_task_id))
            click.echo(f"sync task {started.sync_task_id}: {status}")
            if status not in ("completed", WITH_WARNINGS):
                raise CliError(f"the retry failed too: expensis failures show sync-{started.sync_task_id}")
