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
from expensis_tui.cli import CliError, main
from expensis_tui.demo import fresh_demo_dir, install_demo, last_months, run_headless
from providers.sandbox import SandboxServer, serve


@main.command("demo")
@click.option("--headless", is_flag=True,
              help="No screen: sync the last two months to completion and print a summary.")
@click.option("--months", default=2, show_default=True, help="Months to sync in --headless mode.")
@click.pass_context
def demo(ctx: click.Context, headless: bool, months: int) -> None:
    """A fresh demo data directory, the sandbox providers, and the console on top.

    Without a terminal attached, behaves as --headless.
    """
    root = ctx.find_root().obj
    data_dir = Path(root["data_dir"] or Path(platformdirs.user_data_dir("expensis")) / "demo")
    try:
        fresh_demo_dir(data_dir)
    except RuntimeError as exc:
        raise CliError(str(exc)) from exc
    settings = load_settings(data_dir=data_dir, config_file=root["config"] or data_dir / "none.toml",
                             overrides={"operator": root["operator"] or "demo",
                                        "allow_operator_override": True})  # a throwaway database
    runtime = Runtime(settings)
    click.echo(f"demo data directory: {data_dir}", err=True)
    with SandboxServer() as sandbox:
        install_demo(runtime, sandbox)
        if headless or not (sys.stdin.isatty() and sys.stdout.isatty()):
            summary = run_headless(runtime, last_months(datetime.now(UTC), months))
            click.echo(summary.render())
        else:
            sync_manager_tick(runtime.bus)  # the first syncs start as the console opens
            from expensis_tui.launch import open_console

            open_console(runtime)
    runtime.close()


@main.group()
def sandbox() -> None:
    """The simulated provider APIs."""


@sandbox.command("serve")
@click.option("--port", default=8765, show_default=True)
@click.option("--no-demo", is_flag=True, help="Start without the demo customers.")
def sandbox_serve(port: int, no_demo: bool) -> None:
    """Serve all seven provider APIs on 127.0.0.1 until Ctrl+C."""
    serve(port, demo=not no_demo)
