"""`expensis messages|work|worker`: look at and drive the command bus.

`messages list` is a light command (issue 14.3): it reads through core.quickread, without
SQLAlchemy, so this module imports the bus and its operations inside the commands that
use them (tests/test_startup.py checks what `messages list --json` loads)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
import threading
from typing import TYPE_CHECKING

import click

from core import quickread
from expensis_tui import signals
from expensis_tui.cli import (
    EXIT_NOT_FOUND,
    CliError,
    emit_json,
    main,
    quick_read_allowed,
    runtime,
    settings,
)

if TYPE_CHECKING:
    from core.bus.control import MessageFilter
    from core.runtime import Runtime

log = logging.getLogger(__name__)
EXIT_USAGE = 2


def load_plugins(modules: tuple[str, ...]) -> None:
    """Extra handler modules (used by tests and site-specific commands)."""
    for name in modules:
        importlib.import_module(name)


@main.group()
def messages() -> None:
    """Commands on the bus: list, show, retry, discard."""


@messages.command("list")
@click.option("--status", type=click.Choice(quickread.MESSAGE_STATUSES), help="Only messages with this status.")
@click.option("--type", "command_type", help="Only this command type.")
@click.option("--workflow", help="Only messages of this workflow id.")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def messages_list(ctx: click.Context, status: str | None, command_type: str | None,
                  workflow: str | None, limit: int, as_json: bool) -> None:
    """List messages, newest first."""
    try:
        if not quick_read_allowed(ctx):
            raise quickread.NotQuick("the acting operator is checked in the database")
        rows = quickread.list_messages(settings(ctx), status=status, command_type=command_type,
                                       workflow_id=workflow, limit=limit)
    except quickread.NotQuick as why:  # a new, older or unusual database: the runtime handles it
        log.debug("messages list through the runtime: %s", why)
        from core.bus.queries import list_messages

        rows = list_messages(runtime(ctx).db, status=status, command_type=command_type,
                             workflow_id=workflow, limit=limit)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    from expensis_tui.cli.output import Col, print_table  # times, zones and tables: not for --json

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
    from core.bus.queries import get_message
    from expensis_tui.cli.output import when

    detail = get_message(runtime(ctx).db, message_id)
    if detail is None:
        raise CliError(f"no message {message_id}", EXIT_NOT_FOUND)
    if as_json:
        emit_json(detail.as_dict())
        return
    r = detail.row
    click.echo(f"message {r.id}  {r.command_type}  [{r.status}]  attempt {r.attempts}/{r.max_attempts}")
    click.echo(f"workflow {r.workflow_id}  parent {detail.parent_id}  created {when(r.created_at)}")
    click.echo(f"payload  {detail.payload}")
    click.echo(f"chain    {' → '.join(detail.chain) or '(end of chain)'}")
    if r.error:
        click.echo(f"error    {r.error}")
    for a in detail.attempts:  # a sync that gave up is `done` (totals went on), its errors are here
        click.echo(f"attempt  {a.attempt} {when(a.at)} {a.outcome}: {a.error or ''}")
    if detail.traceback:
        click.echo(detail.traceback.rstrip())


@messages.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--all-failed", is_flag=True, help="Retry every failed message.")
@click.option("--filter", "filter_text", metavar="FILTER",
              help="Retry every failed message matching, e.g. 'type=KpnSp16Sync error=timeout'.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.pass_context
def messages_retry(ctx: click.Context, message_id: int | None, all_failed: bool, filter_text: str | None,
                   yes: bool) -> None:
    """Queue a failed message again (or every one a filter matches); its chain resumes after it."""
    from core.operations import retry_all_failed, retry_matching, retry_message

    rt = runtime(ctx)
    if filter_text is not None:
        selection = parse_filter(filter_text, default_status="failed")
        if confirm_bulk(rt, selection, "retry", yes):
            click.echo(f"{retry_matching(rt.bus, selection, operator=rt.operator)} message(s) queued again")
        return
    if all_failed:
        click.echo(f"{retry_all_failed(rt.bus, operator=rt.operator)} message(s) queued again")
        return
    if message_id is None:
        raise click.UsageError("give a MESSAGE_ID, --filter or --all-failed")
    if not retry_message(rt.bus, message_id, operator=rt.operator):
        raise CliError(f"message {message_id} is not a failed message", EXIT_NOT_FOUND)
    click.echo(f"message {message_id} queued again")


@messages.command("discard")
@click.argument("message_id", type=int, required=False)
@click.option("--filter", "filter_text", metavar="FILTER",
              help="Discard every failed (or status=queued) message matching, e.g. 'type=Export'.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.pass_context
def messages_discard(ctx: click.Context, message_id: int | None, filter_text: str | None, yes: bool) -> None:
    """Drop a failed or waiting message (the rest of its chain is dropped with it)."""
    from core.operations import discard_matching, discard_message

    rt = runtime(ctx)
    if filter_text is not None:
        selection = parse_filter(filter_text, default_status="failed")
        if confirm_bulk(rt, selection, "discard", yes):
            click.echo(f"{discard_matching(rt.bus, selection, operator=rt.operator)} message(s) discarded")
        return
    if message_id is None:
        raise click.UsageError("give a MESSAGE_ID or --filter")
    if not discard_message(rt.bus, message_id, operator=rt.operator):
        raise CliError(f"message {message_id} is not failed or queued", EXIT_NOT_FOUND)
    click.echo(f"message {message_id} discarded")


def parse_filter(text: str, *, default_status: str) -> MessageFilter:
    from core.bus.control import MessageFilter

    words = text if "status=" in text else f"status={default_status} {text}"
    try:
        return MessageFilter.parse(words)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None


def confirm_bulk(rt: Runtime, selection: MessageFilter, verb: str, yes: bool) -> bool:
    """Say how many messages the action touches; ask, unless --yes (no terminal: --yes needed)."""
    from core.bus.control import count_matching

    with rt.db.reader() as session:
        count = count_matching(session, selection)
    if count == 0:
        click.echo(f"no message matches {selection.describe()}")
        return False
    if yes:
        return True
    if not sys.stdin.isatty():
        raise CliError(f"{count} message(s) match {selection.describe()}: add --yes to {verb} them", EXIT_USAGE)
    return click.confirm(f"{verb} {count} message(s) matching {selection.describe()}?", default=False)


@messages.command("pause")
@click.argument("command_type", required=False)
@click.option("--all", "everything", is_flag=True, help="Pause all dispatching: no worker claims anything.")
@click.pass_context
def messages_pause(ctx: click.Context, command_type: str | None, everything: bool) -> None:
    """Stop every worker, on every host, from claiming a command type; its messages stay queued."""
    from core.bus.bus import ALL_TYPES
    from core.operations import pause_command

    rt = runtime(ctx)
    target = pause_target(rt, command_type, everything)
    changed = pause_command(rt.bus, target, operator=rt.operator)
    what = "all command types" if target == ALL_TYPES else target
    click.echo(f"paused {what}" if changed else f"{what} was already paused")


@messages.command("resume")
@click.argument("command_type", required=False)
@click.option("--all", "everything", is_flag=True, help="Resume after `messages pause --all`.")
@click.pass_context
def messages_resume(ctx: click.Context, command_type: str | None, everything: bool) -> None:
    """Let workers claim a paused command type again."""
    from core.bus.bus import ALL_TYPES
    from core.operations import resume_command

    rt = runtime(ctx)
    target = pause_target(rt, command_type, everything)
    what = "all command types" if target == ALL_TYPES else target
    if not resume_command(rt.bus, target, operator=rt.operator):
        raise CliError(f"{what} is not paused", EXIT_NOT_FOUND)
    click.echo(f"resumed {what}")


def pause_target(rt: Runtime, command_type: str | None, everything: bool) -> str:
    from core.bus import default_registry
    from core.bus.bus import ALL_TYPES
    from core.views.messages import overview

    if everything == (command_type is not None):
        raise click.UsageError("give a COMMAND_TYPE or --all")
    known = set(default_registry.commands) | {t.command_type for t in overview(rt.db, rt.bus.clock()).by_type}
    if command_type is not None and command_type not in known:
        raise CliError(f"unknown command type {command_type!r} (see `expensis messages overview`)",
                       EXIT_NOT_FOUND)
    return ALL_TYPES if everything else str(command_type)


@messages.command("overview")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def messages_overview(ctx: click.Context, as_json: bool) -> None:
    """Counts by status and command type, paused types, and done per minute over the last hour."""
    from core.bus.bus import ALL_TYPES
    from core.views.messages import overview
    from expensis_tui.cli.output import when

    rt = runtime(ctx)
    view = overview(rt.db, rt.bus.clock())
    if as_json:
        emit_json({"totals": view.totals, "scheduled": view.scheduled, "paused": [t for t, _, _ in view.paused],
                   "by_type": [{"command_type": t.command_type, "paused": t.paused, **t.counts}
                               for t in view.by_type],
                   "done_per_minute": view.throughput})
        return
    click.echo("  ".join(f"{status} {n}" for status, n in view.totals.items()) + f"  (scheduled {view.scheduled})")
    for paused_type, by, since in view.paused:
        click.echo(f"paused: {'ALL' if paused_type == ALL_TYPES else paused_type} by {by} "
                   f"since {when(since, '%Y-%m-%d %H:%M')}")
    click.echo(f"{'COMMAND':<30} {'QUEUED':>7} {'RUNNING':>7} {'FAILED':>7} {'DONE':>7}")
    for t in view.by_type:
        click.echo(f"{t.command_type + (' (paused)' if t.paused else ''):<30} {t.counts['queued']:>7} "
                   f"{t.counts['running']:>7} {t.counts['failed']:>7} {t.counts['done']:>7}")
    click.echo(f"done in the last hour: {sum(view.throughput)}")


@main.command("work")
@click.option("--until-idle", is_flag=True, required=True,
              help="Run until no due message is left (for scripts and tests).")
@click.option("--threads", default=1, show_default=True)
@click.option("--plugin", multiple=True, hidden=True)
@click.pass_context
def work(ctx: click.Context, until_idle: bool, threads: int, plugin: tuple[str, ...]) -> None:
    """Run workers in the foreground until the queue is idle."""
    from core.bus import run_until_idle

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
    from core.bus import WorkerPool

    load_plugins(plugin)
    # Handlers first: a SIGTERM must never catch a running pool with the default action.
    # (Under `python -m expensis_tui` they are already set, and an early request is kept.)
    signals.install()
    stop = signals.stop_requested
    orphaned = threading.Event()
    asked = [grace]  # the grace the console gives with its stop request (`WorkerProcess.stop`)
    if parent_pipe is not None:
        threading.Thread(target=_watch_parent, args=(parent_pipe, orphaned, stop, asked), name="parent-watch",
                         daemon=True).start()
    bus = runtime(ctx).bus
    pool = WorkerPool(bus, threads, label="worker").start()
    click.echo(f"worker {pool.name} running {threads} thread(s)", err=True)
    while not stop.wait(0.5):
        pass
    # nobody waits for an orphan: hand running messages back soon, for the next worker
    released = pool.stop(min(grace, asked[0], ORPHAN_GRACE_S if orphaned.is_set() else grace))
    click.echo(f"worker stopped{' (its console is gone)' if orphaned.is_set() else ''}; "
               f"released {len(released)} unfinished message(s)", err=True)


ORPHAN_GRACE_S = 2.0


def _watch_parent(fd: int, orphaned: threading.Event, stop: threading.Event, asked: list[float]) -> None:
    """Block on the parent's pipe. A line "stop <grace>" is the console stopping this worker
    (`core.bus.process.WorkerProcess.stop`): `asked` takes the grace, the worker stops. EOF
    (the parent ended, however) stops this worker as an orphan."""
    from core.bus.process import STOP_WORD

    pending = b""
    try:
        while chunk := os.read(fd, 64):
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                word, _, value = line.decode(errors="replace").partition(" ")
                if word == STOP_WORD:
                    with contextlib.suppress(ValueError):
                        asked[0] = max(0.0, float(value))
                    stop.set()
    except OSError:
        pass
    orphaned.set()
    stop.set()
