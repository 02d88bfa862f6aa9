"""`expensis`: the command line. Everything the console does can be done from here.

Exit codes scripts can rely on: 0 done, 1 the operation failed, 2 usage error,
3 configuration or database unavailable, 4 not found, 5 not allowed for your role.
This module never imports Textual; only `expensis` without arguments opens the console.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from typing import Any

import click

from core.config import ConfigError, load_settings
from core.db import DatabaseUnavailable
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


class ExpensisGroup(click.Group):
    """A role refusal from any command is one line and exit code 5, wherever it is raised."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NotAllowed as exc:
            raise CliError(str(exc), EXIT_NOT_ALLOWED) from exc


def runtime(ctx: click.Context) -> Runtime:
    """The runtime for this invocation (database migrated on first use)."""
    obj = ctx.find_root().obj
    if obj.get("runtime") is None:
        try:
            settings = load_settings(data_dir=obj["data_dir"], db_url=obj["db"],
                                     config_file=obj["config"],
                                     overrides={"operator": obj["operator"]} if obj["operator"] else None)
        except ConfigError as exc:
            raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
        rt = Runtime(settings)
        try:
            rt.db  # noqa: B018 - connect and migrate now, so failures surface here
        except DatabaseUnavailable as exc:
            raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
        obj["runtime"] = rt
        ctx.find_root().call_on_close(rt.close)
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
        from expensis_tui.launch import open_console

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
)

for _name in SUBCOMMAND_MODULES:
    importlib.import_module(_name)


def run() -> None:
    try:
        main(standalone_mode=True)
    except DatabaseUnavailable as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_UNAVAILABLE)
