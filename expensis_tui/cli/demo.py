"""`expensis demo` and `expensis sandbox serve`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import platformdirs

from core.config import load_settings
from core.runtime import Runtime
from core.workflows.sync import sync_manager_tick
from expensis_tui.cli import EXIT_NOT_FOUND, CliError, main
from expensis_tui.demo import (
    DEMO_MARKER,
    demo_sandbox_port,
    fresh_demo_dir,
    install_demo,
    last_months,
    run_headless,
)
from providers.sandbox import SandboxServer, serve


@main.command("demo")
@click.option("--headless", is_flag=True,
              help="No screen: sync the last two months to completion and print a summary.")
@click.option("--months", default=2, show_default=True, help="Months to sync in --headless mode.")
@click.option("--reopen", is_flag=True,
              help="Open the last demo again (its data kept), its sandbox restarted on the same port.")
@click.pass_context
def demo(ctx: click.Context, headless: bool, months: int, reopen: bool) -> None:
    """A fresh demo data directory, the sandbox providers, and the console on top.

    Without a terminal attached, behaves as --headless. The demo's operators are `demo`
    and you (the OS user), both admin. `expensis demo --reopen` (`make console`) opens it again.
    """
    root = ctx.find_root().obj
    data_dir = Path(root["data_dir"] or Path(platformdirs.user_data_dir("expensis")) / "demo")
    if reopen:
        port = _reopen_port(data_dir)
    else:
        port = 0
        try:
            fresh_demo_dir(data_dir)
        except RuntimeError as exc:
            raise CliError(str(exc)) from exc
    settings = load_settings(data_dir=data_dir, config_file=root["config"] or data_dir / "none.toml",
                             overrides={"operator": root["operator"] or "demo",
                                        "allow_operator_override": True})  # a throwaway database
    runtime = Runtime(settings)
    click.echo(f"demo data directory: {data_dir}", err=True)
    sandbox = SandboxServer(port)
    try:
        sandbox.start()
    except OSError as exc:
        runtime.close()
        raise CliError(f"cannot start the demo's sandbox on port {port} ({exc.strerror}): "
                       "is the demo already open elsewhere?") from exc
    try:
        if reopen:
            sandbox.configure_demo()
        else:
            install_demo(runtime, sandbox)
        click.echo(f"sandbox providers on {sandbox.base_url}; this data directory's console: "
                   f"expensis --data-dir {data_dir} (syncs need the sandbox: `expensis demo --reopen`)",
                   err=True)
        if headless or not (sys.stdin.isatty() and sys.stdout.isatty()):
            summary = run_headless(runtime, last_months(datetime.now(UTC), months))
            click.echo(summary.render())
        else:
            sync_manager_tick(runtime.bus)  # the first syncs start as the console opens
            from expensis_tui.launch import open_console

            open_console(runtime)
    finally:
        sandbox.stop()
        runtime.close()


def _reopen_port(data_dir: Path) -> int:
    """The sandbox port the demo's sync profiles point at (the demo must exist)."""
    if not (data_dir / DEMO_MARKER).exists() or not (data_dir / "expensis.sqlite3").exists():
        raise CliError(f"no demo in {data_dir}: run `expensis demo` (or `make demo`) first", EXIT_NOT_FOUND)
    port = demo_sandbox_port(data_dir)
    if port is None:
        raise CliError(f"the demo in {data_dir} has no sync profiles: run `expensis demo` again")
    return port


@main.group()
def sandbox() -> None:
    """The simulated provider APIs."""


@sandbox.command("serve")
@click.option("--port", default=8765, show_default=True)
@click.option("--no-demo", is_flag=True, help="Start without the demo customers.")
def sandbox_serve(port: int, no_demo: bool) -> None:
    """Serve all seven provider APIs on 127.0.0.1 until Ctrl+C."""
    serve(port, demo=not no_demo)
