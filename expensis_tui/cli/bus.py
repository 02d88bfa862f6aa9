"""`expensis messages|work|worker`: look at and drive the command bus."""

from __future__ import annotations

import importlib
import logging
import os
import threading

import click

from core.bus import WorkerPool, run_until_idle
from core.bus.bus import STATUSES
from core.bus.queries import get_message, list_messages
from core.operations import discard_message, retry_all_failed, retry_message
from expensis_tui import signals
from expensis_tui.cli import EXIT_NOT_FOUND, CliError, emit_json, main, runtime
from expensis_tui.cli.output import Col, print_table

log = logging.getLogger(__name__)


def load_plugins(modules: tuple[str, ...]) -> None:
    """Extra handler modules (used by tests and site-specific commands)."""
    for name in modules:
        importlib.import_module(name)


@main.group()
def messages() -> None:
    """Commands on the bus: list, show, retry, discard."""


@messages.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only messages with this status.")
@click.option("--type", "command_type", help="Only this command type.")
@click.option("--workflow", help="Only messages of this workflow id.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def messages_list(ctx: click.Context, status: str | None, command_type: str | None,
                  workflow: str | None, limit: int, as_json: bool) -> None:
    """List messages, newest first."""
    rows = list_messages(runtime(ctx).db, status=status, command_type=command_type,
                         workflow_id=workflow, limit=limit)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    print_table([Col("ID", "number"), Col("STATUS"), Col("TRY", "number"), Col("COMMAND"),
                 Col("ERROR", shrink=True)],
                [(r.id, r.status, f"{r.attempts}/{r.max_attempts}", r.command_type,
                  (r.error or "").splitlines()[0] if r.error else "") for r in rows])


@messages.command("show")
@click.argument("message_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def messages_show(ctx: click.Context, message_id: int, as_json: bool) -> None:
    """Show one message with its payload, chain, error and traceback."""
    detail = get_message(runtime(ctx).db, message_id)
    if detail is None:
        raise CliError(f"no message {message_id}", EXIT_NOT_FOUND)
    if as_json:
        emit_json(detail.as_dict())
        return
    r = detail.row
    click.echo(f"message {r.id}  {r.command_type}  [{r.status}]  attempt {r.attempts}/{r.max_attempts}")
    click.echo(f"workflow {r.workflow_id}  parent {detail.parent_id}  created {r.created_at:%Y-%m-%d %H:%M:%S}")
    click.echo(f"payload  {detail.payload}")
    click.echo(f"chain    {' → '.join(detail.chain) or '(end of chain)'}")
    if r.error:
        click.echo(f"error    {r.error}")
    for a in detail.attempts:  # a sync that gave up is `done` (totals went on), its errors are here
        click.echo(f"attempt  {a.attempt} {a.at:%Y-%m-%d %H:%M:%S} UTC {a.outcome}: {a.error or ''}")
    if detail.traceback:
        click.echo(detail.traceback.rstrip())


@messages.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="Retry every failed message.")
@click.pass_context
def messages_retry(ctx: click.Context, message_id: int | None, all_failed: bool) -> None:
    """Queue a failed message again; its chain resumes after it."""
    rt = runtime(ctx)
    if all_failed:
        click.echo(f"{retry_all_failed(rt.bus, operator=rt.operator)} message(s) queued again")
        return
    if message_id is None:
        raise click.UsageError("give a MESSAGE_ID or --all-failed")
    if not retry_message(rt.bus, message_id, operator=rt.operator):
        raise CliError(f"message {message_id} is not a failed message", EXIT_NOT_FOUND)
    click.echo(f"message {message_id} queued again")


@messages.command("discard")
@click.argument("message_id", type=int)
@click.pass_context
def messages_discard(ctx: click.Context, message_id: int) -> None:
    """Drop a failed or waiting message (the rest of its chain is dropped with it)."""
    rt = runtime(ctx)
    if not discard_message(rt.bus, message_id, operator=rt.operator):
        raise CliError(f"message {message_id} is not failed or queued", EXIT_NOT_FOUND)
    click.echo(f"message {message_id} discarded")


@main.command("work")
@click.option("--until-idle", is_flag=True, required=True,
              help="Run until no due message is left (for scripts and tests).")
@click.option("--threads", default=1, show_default=True)
@click.option("--plugin", multiple=True, hidden=True)
@click.pass_context
def work(ctx: click.Context, until_idle: bool, threads: int, plugin: tuple[str, ...]) -> None:
    """Run workers in the foreground until the queue is idle."""
    load_plugins(plugin)
    bus = runtime(ctx).bus
    ran = run_until_idle(bus, threads)
    counts = bus.counts()
    click.echo(f"ran {ran} message(s); failed {counts['failed']}, waiting {counts['queued']}")


@main.command("worker")
@click.option("--threads", default=4, show_default=True)
@click.option("--grace", default=30.0, show_default=True,
              help="Seconds to let running handlers finish on SIGTERM before releasing them.")
@click.option("--plugin", multiple=True, hidden=True)
@click.option("--parent-pipe", type=int, hidden=True,
              help="Read end of a pipe held by the parent (the console): EOF means it is gone.")
@click.pass_context
def worker(ctx: click.Context, threads: int, grace: float, plugin: tuple[str, ...],
           parent_pipe: int | None) -> None:
    """A worker process: runs messages until SIGTERM/SIGINT, then stops cleanly."""
    load_plugins(plugin)
    # Handlers first: a SIGTERM must never catch a running pool with the default action.
    # (Under `python -m expensis_tui` they are already set, and an early request is kept.)
    signals.install()
    stop = signals.stop_requested
    orphaned = threading.Event()
    if parent_pipe is not None:
        threading.Thread(target=_watch_parent, args=(parent_pipe, orphaned, stop), name="parent-watch",
                         daemon=True).start()
    bus = runtime(ctx).bus
    pool = WorkerPool(bus, threads, label="worker").start()
    click.echo(f"worker {pool.name} running {threads} thread(s)", err=True)
    while not stop.wait(0.5):
        pass
    # nobody waits for an orphan: hand running messages back soon, for the next worker
    released = pool.stop(min(grace, ORPHAN_GRACE_S) if orphaned.is_set() else grace)
    click.echo(f"worker stopped{' (its console is gone)' if orphaned.is_set() else ''}; "
               f"released {len(released)} unfinished message(s)", err=True)


ORPHAN_GRACE_S = 2.0


def _watch_parent(fd: int, orphaned: threading.Event, stop: threading.Event) -> None:
    """Block on the parent's pipe; its EOF (the parent ended, however) stops this worker."""
    try:
        while os.read(fd, 64):
            pass
    except OSError:
        pass
    orphaned.set()
    stop.set()
