"""`expensis`: the command line. Everything the console does can be done from here.

Exit codes scripts can rely on: 0 done, 1 the operation failed, 2 usage error,
3 configuration or database unavailable, 4 not found, 5 not allowed for your role.
This module never imports Textual; only `expensis` without arguments opens the console.
It imports no more than click either: each command's module is imported when that command
runs (COMMANDS below), so `expensis --help` and light commands start fast (issue 14).
"""

from __future__ import annotations

import errno
import importlib
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from core.config import Settings
    from core.runtime import Runtime

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


def _raised_from(exc: BaseException, module: str, name: str) -> bool:
    """Whether `exc` is `module.name`, without importing the module (if it is not loaded,
    nothing can have raised its exception)."""
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(exc, getattr(loaded, name))


def unreachable(exc: BaseException) -> bool:
    """A lost or refused database connection (as opposed to a bug in a statement)."""
    if not _raised_from(exc, "sqlalchemy.exc", "DBAPIError"):
        return False
    from sqlalchemy.exc import InterfaceError  # loaded: a DBAPIError was raised

    return bool(getattr(exc, "connection_invalidated", False) or isinstance(exc, InterfaceError)
                or getattr(getattr(exc, "orig", None), "args", (None,))[:1] in ((2003,), (2006,), (2013,)))


# Each top-level command: the module that defines it and its one-line help, so that
# `expensis --help` lists them without importing any (tests/test_startup.py keeps this
# table equal to what the modules register).
COMMANDS: dict[str, tuple[str, str]] = {
    "addons": ("expensis_tui.cli.addons",
        "Mobile add-ons: list, activate, cancel, and the per-customer backlog and log."),
    "apply": ("expensis_tui.cli.setup",
        "Make partners, rate plans, customers, subscriptions and sync profiles match FILE.toml."),
    "audit": ("expensis_tui.cli.operators",
        "The audit log: every state-changing action, who did it and how it ended."),
    "balances": ("expensis_tui.cli.invoices",
        "What each customer was invoiced and paid: paid, partial, unpaid or overdue."),
    "cdr": ("expensis_tui.cli.cdr", "Call detail records: import files, inspect quarantine."),
    "customers": ("expensis_tui.cli.setup", "Customers of the setup."),
    "daemon": ("expensis_tui.cli.ops",
        "Run headless: the scheduler (when elected leader) and workers, until SIGTERM/SIGINT."),
    "db": ("expensis_tui.cli.admin", "Database schema and connection."),
    "demo": ("expensis_tui.cli.demo",
        "A fresh demo data directory, the sandbox providers, and the console on top."),
    "export": ("expensis_tui.cli.exports",
        "Customer exports, generated as jobs by the workers (files in the exports directory)."),
    "failures": ("expensis_tui.cli.failures",
        "Failed syncs, steps, exports, add-on requests and file imports: list, show, retry."),
    "export-setup": ("expensis_tui.cli.setup",
        "Write the setup in the database as a setup file (credentials stay in the database)."),
    "insights": ("expensis_tui.cli.totals",
        "Billing insights: flatliners, spikes, cost trend, top spenders, margin."),
    "invoices": ("expensis_tui.cli.invoices",
        "Invoices from totals: run, list, show, credit, send, batch."),
    "messages": ("expensis_tui.cli.bus", "Commands on the bus: list, show, retry, discard."),
    "operators": ("expensis_tui.cli.operators",
        "Operators and their roles (viewer < operator < admin)."),
    "partners": ("expensis_tui.cli.setup", "Partners (resellers) of the setup."),
    "payments": ("expensis_tui.cli.invoices",
        "Payments from the bank: import, list, match by hand."),
    "rate-plans": ("expensis_tui.cli.setup", "Rate plans of the setup."),
    "revenues": ("expensis_tui.cli.invoices", "The accountant's revenue export."),
    "sandbox": ("expensis_tui.cli.demo", "The simulated provider APIs."),
    "schedule": ("expensis_tui.cli.ops",
        "The scheduled jobs with their next run times, and who runs them."),
    "status": ("expensis_tui.cli.ops",
        "Scheduler leader, queue depth, open failures and the last sync of every profile."),
    "subscriptions": ("expensis_tui.cli.setup", "Subscriptions (phone numbers) of the setup."),
    "sync": ("expensis_tui.cli.sync",
        "Provider syncs: run the manager, sync a profile by hand, list profiles and tasks."),
    "totals": ("expensis_tui.cli.totals",
        "Billing totals per customer and cycle: show, recalculate, compare versions."),
    "work": ("expensis_tui.cli.bus", "Run workers in the foreground until the queue is idle."),
    "worker": ("expensis_tui.cli.bus",
        "A worker process: runs messages until SIGTERM/SIGINT, then stops cleanly."),
}


class ExpensisGroup(click.Group):
    """Commands loaded on first use; every operator mistake is one line and its exit code,
    wherever it is raised."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(COMMANDS[cmd_name][0])
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from the table: no command module is imported for `--help`."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            command = self.commands.get(name) or click.Command(name, help=COMMANDS[name][1])
            rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if _raised_from(exc, "core.security.roles", "NotAllowed"):
                raise CliError(str(exc), EXIT_NOT_ALLOWED) from exc
            if _raised_from(exc, "core.config", "ConfigError") or _raised_from(
                    exc, "core.db", "DatabaseUnavailable"):
                raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
            message = disk_full(exc)
            if message is not None:
                raise CliError(message, EXIT_FAILED) from exc
            if unreachable(exc):
                from core.db import describe_db_error

                rt = (ctx.obj or {}).get("runtime")
                url = rt.settings.database_url if rt is not None else (ctx.obj or {}).get("db") or ""
                raise CliError(describe_db_error(url, exc), EXIT_UNAVAILABLE) from exc
            raise


def settings(ctx: click.Context) -> Settings:
    """The settings of this invocation (config file, environment and options), read once."""
    from core.config import ConfigError, load_settings

    obj = ctx.find_root().obj
    if obj.get("settings") is None:
        try:
            obj["settings"] = load_settings(
                data_dir=obj["data_dir"], db_url=obj["db"], config_file=obj["config"],
                overrides={"operator": obj["operator"]} if obj["operator"] else None)
        except ConfigError as exc:
            raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    return obj["settings"]  # type: ignore[no-any-return]


def quick_read_allowed(ctx: click.Context) -> bool:
    """Whether a read-only command may skip the runtime (core.quickread): only when the acting
    operator needs no look-up in the database (core.security.roles.acting_operator)."""
    s = settings(ctx)
    return not s.operator or s.allow_operator_override or s.operator == s.os_user


def runtime(ctx: click.Context, *, migrate: bool = True, create: bool = False) -> Runtime:
    """The runtime for this invocation: database checked (schema created when empty) and the
    acting operator allowed. `migrate=False, create=True` is for `db upgrade --create` only."""
    from core.db import DatabaseUnavailable
    from core.runtime import Runtime

    obj = ctx.find_root().obj
    if obj.get("runtime") is None:
        rt = Runtime(settings(ctx), migrate=migrate, create=create)
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
@click.option("--utc", is_flag=True, help="Show times in UTC (default: the configured local time zone).")
@click.pass_context
def main(ctx: click.Context, db: str | None, data_dir: str | None, config: str | None,
         operator: str | None, verbose: int, utc: bool) -> None:
    """Expensis console: telecom billing from the terminal. Without a command, opens the console."""
    logging.basicConfig(level=[logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = {"db": db, "data_dir": data_dir, "config": config, "operator": operator, "runtime": None,
               "settings": None, "utc": utc}
    if ctx.invoked_subcommand is None:
        from expensis_tui.launch import has_terminal, open_console

        if not has_terminal():  # Textual would write escape codes into a pipe or file
            click.echo("expensis: the console needs a terminal; run `expensis daemon` for the headless "
                       "service, or see `expensis --help` for commands", err=True)
            ctx.exit(2)

        open_console(runtime(ctx))


def load_all_commands() -> None:
    """Import every command module (for tools that walk the whole command tree)."""
    for module in sorted({module for module, _ in COMMANDS.values()}):
        importlib.import_module(module)


def run() -> None:
    try:
        main(standalone_mode=True)
    except Exception as exc:
        if not _raised_from(exc, "core.db", "DatabaseUnavailable"):
            raise
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_UNAVAILABLE)
