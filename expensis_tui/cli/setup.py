"""`expensis apply|export-setup` and the setup listings (customers, subscriptions, ...)."""

from __future__ import annotations

from pathlib import Path

import click

from core.security.secrets import SecretBox, SecretError
from core.setup import SetupError, apply_setup, export_setup
from core.setup.queries import list_customers, list_partners, list_rate_plans, list_subscriptions
from core.setup.report import plain_decimal
from expensis_tui.cli import EXIT_NOT_FOUND, EXIT_UNAVAILABLE, CliError, emit_json, main, runtime


@main.command("apply")
@click.argument("setup_file", metavar="FILE.toml",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.pass_context
def apply(ctx: click.Context, setup_file: Path, dry_run: bool, as_json: bool) -> None:
    """Make partners, rate plans, customers, subscriptions and sync profiles match FILE.toml.

    One transaction: everything is applied, or nothing when the file has an error.
    Format: docs/formats/setup.md.
    """
    try:
        text = setup_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{setup_file}: cannot read: {exc}") from exc
    rt = runtime(ctx)
    try:
        secrets = SecretBox.from_settings(rt.settings)
    except SecretError as exc:
        raise CliError(str(exc), EXIT_UNAVAILABLE) from exc
    try:
        report = apply_setup(rt.db, text, secrets=secrets, operator=rt.operator, dry_run=dry_run)
    except SetupError as exc:
        raise CliError(f"{setup_file}: {exc}") from exc
    if as_json:
        emit_json(report.as_dict())
    else:
        click.echo(report.render())


@main.command("export-setup")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@click.pass_context
def export_setup_command(ctx: click.Context, output: Path | None) -> None:
    """Write the setup in the database as a setup file (credentials stay in the database)."""
    text = export_setup(runtime(ctx).db)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{output}: cannot write: {exc.strerror}") from exc
    click.echo(f"setup written to {output}", err=True)


def _json_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(func)


@main.group()
def customers() -> None:
    """Customers of the setup."""


@customers.command("list")
@_json_option
@click.pass_context
def customers_list(ctx: click.Context, as_json: bool) -> None:
    """List customers by code."""
    rows = list_customers(runtime(ctx).db)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    click.echo(f"{'CODE':<16} {'NAME':<30} {'PARTNER':<24} {'LANG':<4} {'DAY':>3} {'SUBS':>5}  STATE")
    for r in rows:
        state = "active" if r.active else "inactive"
        click.echo(f"{r.code:<16} {r.name[:30]:<30} {(r.partner or '-')[:24]:<24} {r.language:<4} "
                   f"{r.billing_day:>3} {r.subscriptions:>5}  {state}")


@main.group()
def subscriptions() -> None:
    """Subscriptions (phone numbers) of the setup."""


@subscriptions.command("list")
@click.option("--customer", "customer_code", metavar="CODE", help="Only this customer's.")
@_json_option
@click.pass_context
def subscriptions_list(ctx: click.Context, customer_code: str | None, as_json: bool) -> None:
    """List subscriptions by customer and number."""
    rows = list_subscriptions(runtime(ctx).db, customer_code)
    if rows is None:
        raise CliError(f"no customer {customer_code!r}", EXIT_NOT_FOUND)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    click.echo(f"{'NUMBER':<16} {'CUSTOMER':<16} {'RATE PLAN':<24} {'PROVIDER':<14} {'START':<10} END")
    for r in rows:
        click.echo(f"{r.number:<16} {r.customer:<16} {(r.rate_plan or '-')[:24]:<24} "
                   f"{r.provider or '-':<14} {r.start_date or '-'!s:<10} {r.end_date or '-'}")


@main.group("rate-plans")
def rate_plans() -> None:
    """Rate plans of the setup."""


@rate_plans.command("list")
@_json_option
@click.pass_context
def rate_plans_list(ctx: click.Context, as_json: bool) -> None:
    """List rate plans by name."""
    rows = list_rate_plans(runtime(ctx).db)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    click.echo(f"{'NAME':<30} {'FEE':>10} {'MIN':>6} {'SMS':>6} {'MB':>7} {'SCHEME':>7} {'TARIFFS':>8} "
               f"{'SUBS':>6}")
    for r in rows:
        click.echo(f"{r.name[:30]:<30} {plain_decimal(r.monthly_fee):>10} {r.voice_bundle_minutes:>6} "
                   f"{r.sms_bundle:>6} {r.data_bundle_mb:>7} {r.voice_increment:>7} {r.tariffs:>8} "
                   f"{r.subscriptions:>6}")


@main.group()
def partners() -> None:
    """Partners (resellers) of the setup."""


@partners.command("list")
@_json_option
@click.pass_context
def partners_list(ctx: click.Context, as_json: bool) -> None:
    """List partners by name."""
    rows = list_partners(runtime(ctx).db)
    if as_json:
        emit_json([r.as_dict() for r in rows])
        return
    click.echo(f"{'NAME':<40} {'CUSTOMERS':>9}")
    for r in rows:
        click.echo(f"{r.name[:40]:<40} {r.customers:>9}")
