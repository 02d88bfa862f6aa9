"""`--wait` for every command: run workers here and follow the work with `core.bus.follow`."""

from __future__ import annotations

import click

from core.bus import Progress, WorkerPool, wait_for
from core.bus.follow import Followed
from core.runtime import Runtime
from expensis_tui.cli import EXIT_FAILED, CliError


def follow_here(rt: Runtime, work: Followed, *, label: str, threads: int = 2, quiet: bool = False) -> Progress:
    """Run local workers until `work` ended, printing a line when its progress changes.

    `quiet` prints nothing (for --json). Raises CliError (exit 1) naming the step that failed and its full error.
    """
    shown: list[tuple[object, ...]] = []

    def show(progress: Progress) -> None:
        key = (progress.status, progress.step, progress.step_number, progress.attempt, progress.error,
               progress.note, progress.workflows_ended)
        if quiet or (shown and shown[-1] == key):
            return  # only the wait counted down: not worth a line in a log
        shown.append(key)
        click.echo(f"  {progress.describe()}")
        if progress.error and not progress.finished:
            click.echo(f"    last error: {progress.error}")

    pool = WorkerPool(rt.bus, threads=threads, label=label).start()
    try:
        final = wait_for(rt.bus, work, on_progress=show, poll_seconds=0.5)
    finally:
        pool.stop(grace=30)
    if final.failed:
        raise CliError(failure_line(final), EXIT_FAILED)
    return final


def failure_line(progress: Progress) -> str:
    """The step that failed and its error, whole."""
    many = (f" ({progress.workflows_failed} of {progress.workflows} failed)"
            if progress.workflows > 1 else "")
    return f"failed at {progress.step or 'an unknown step'}{many}: {progress.error or 'no error recorded'}"
