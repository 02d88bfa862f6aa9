"""`expensis`: the command line. Everything the console does can be done from here.

Exit codes scripts can rely on: 0 done, 1 the operation failed, 2 usage error,
3 configuration or database unavailable, 4 not found, 5 not allowed for your role.
This module never imports Textual; only `expensis` without arguments opens the console.
"""

from __future__ import annotations

import errno
import importlib
import json
import logging
import sys
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, InterfaceError

from core.config import ConfigError, load_settings
from core.db import DatabaseUnavailable, describe_db_error
from core.runtime import Runtime
from core.security.roles import NotAllowed

EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_NOT_FOUND, EXIT_NOT_ALLOWED = 1, 3, 4, 5


class CliError(click.ClickException):
    """One clear line for the operator and a meaningful exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it a class attribute

    def show(self, file: Any = None) -> None:
        click.secho(f"error: {self.format_message()}", fg="red", err=True)


def disk_full(exc: BaseException) -> str | None:
    """One line when `exc` (or what caused it) is a full disk, else None."""
    seen: BaseException | None = exc
    while seen is not None:
        orig = getattr(seen, "orig", None) or seen
        text = str(orig).lower()
        if (isinstance(orig, OSError) and orig.errno == errno.ENOSPC) or "disk is full" in text \
                or "disk full" in text or getattr(orig, "args", (None,))[:1] in ((1021,), (1114,)):
            return f"disk full ({orig}): what was committed before it is kept; free some space and run it again"
        seen = seen.__cause__ or seen.__context__
    return None


def unreachable(exc: BaseException) -> bool:
    """A lost or refused database connection (as opposed to a bug in a statement)."""
    return isinstance(exc, DBAPIError) and (exc.connection_invalidated or isinstance(exc, InterfaceError)
                                            or getattr(exc.orig, "args", (None,))[:1] in ((2003,), (2006,), (2013,)))


class ExpensisGroup(click.Group):
    """Every operator mistake is one line and its exit code, wherever it is raised."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except NotAllowed as exc:
            raise CliError(str(exc), EXIT_NOT_ALLOWED) from exc
        except (ConfigError, DatabaseUnavailable) as exc:
            raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
        except Exception as exc:
            message = disk_full(exc)
            if message is not None:
                raise CliError(message, EXIT_FAILED) from exc
            if unreachable(exc):
                rt = (ctx.obj or {}).get("runtime")
                url = rt.settings.database_url if rt is not None else (ctx.obj or {}).get("db") or ""
                raise CliError(describe_db_error(url, exc), EXIT_UNAVAILABLE) from exc
            raise


def runtime(ctx: click.Context, *, migrate: bool = True, create: bool = False) -> Runtime:
    """The runtime for this invocation: database checked (schema created when empty) and the
    acting operator allowed. `migrate=False, create=True` is for `db upgrade --create` only."""
    obj = ctx.find_root().obj
    if obj.get("runtime") is None:
        try:
            settings = load_settings(data_dir=obj["data_dir"], db_url=obj["db"],
                                     config_file=obj["config"],
                                     overrides={"operator": obj["operator"]} if obj["operator"] else None)
        except ConfigError as exc:
            raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
        rt = Runtime(settings, migrate=migrate, create=create)
        try:
            rt.db  # noqa: B018 - connect and migrate now, so failures surface here
        except DatabaseUnavailable as exc:
            raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
        obj["runtime"] = rt
        ctx.find_root().call_on_close(rt.close)
        if migrate:
            rt.operator  # noqa: B018 - refuse a --operator this OS user may not use (exit 5)
    return obj["runtime"]  # type: ignore[no-any-return]


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group(cls=ExpensisGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="EXPENSIS_DB_URL", help="Database URL (default: SQLite in the data dir).")
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="EXPENSIS_DATA_DIR",
              help="Data directory (database, exports, invoices, logs).")
@click.option("--config", type=click.Path(dir_okay=False), envvar="EXPENSIS_CONFIG",
              help="Config file (default: config.toml in the user config dir).")
@click.option("--operator", envvar="EXPENSIS_OPERATOR", help="Act as this operator (default: OS user).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, db: str | None, data_dir: str | None, config: str | None,
         operator: str | None, verbose: int) -> None:
    """Expensis console: telecom billing from the terminal. Without a command, opens the console."""
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = {"db": db, "data_dir": data_dir, "config": config, "operator": operator, "runtime": None}
    if ctx.invoked_subcommand is None:
        from expensis_tui.launch import has_terminal, open_console

        if not has_terminal():  # Textual would write escape codes into a pipe or file
            click.echo("expensis: the console needs a terminal; run `expensis daemon` for the headless "
                       "service, or see `expensis --help` for commands", err=True)
            ctx.exit(2)

        open_console(runtime(ctx))


SUBCOMMAND_MODULES = (
    "expensis_tui.cli.bus",
    "expensis_tui.cli.admin",
    "expensis_tui.cli.cdr",
    "expensis_tui.cli.totals",
    "expensis_tui.cli.setup",
    "expensis_tui.cli.sync",
    "expensis_tui.cli.demo",
    "expensis_tui.cli.ops",
    "expensis_tui.cli.exports",
    "expensis_tui.cli.invoices",
    "expensis_tui.cli.operators",
    "expensis_tui.cli.addons",
    "expensis_tui.cli.failures",
)

for _name in SUBCOMMAND_MODULES:
    importlib.import_module(_name)


def run() -> None:
    try:
        main(standalone_mode=True)
    except DatabaseUnavailable as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_UNAVAILABLE)
