"""`expensis apply|export-setup` and the setup listings (customers, subscriptions, ...)."""

from __future__ import annotations

from pathlib import Path

import click

from core.security.secrets import SecretBox, SecretError
from core.setup import SetupError, apply_setup, export_setup
from core.setup.queries import list_customers, list_partners, list_rate_plans, list_subscriptions
from expensis_tui.cli import EXIT_NOT_FOUND, EXIT_UNAVAILABLE, CliError, emit_json, main, runtime
from expensis_tui.cli.output import Col, print_table


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
    print_table([Col("CODE"), Col("NAME"), Col("PARTNER"), Col("LANG"), Col("DAY", "number"),
                 Col("SUBS", "number"), Col("STATE")],
                [(r.code, r.name, r.partner or "-", r.language, r.billing_day, r.subscriptions,
                  "active" if r.active else "inactive") for r in rows])


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
    print_table([Col("NUMBER"), Col("CUSTOMER"), Col("RATE PLAN"), Col("PROVIDER"), Col("START", "date"),
                 Col("END", "date")],
                [(r.number, r.customer, r.rate_plan or "-", r.provider or "-", r.start_date, r.end_date)
                 for r in rows])


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
    print_table([Col("NAME"), Col("FEE", "money"), Col("MIN", "number"), Col("SMS", "number"),
                 Col("MB", "number"), Col("SCHEME"), Col("TARIFFS", "number"), Col("SUBS", "number")],
                [(r.name, r.monthly_fee, r.voice_bundle_minutes, r.sms_bundle, r.data_bundle_mb, r.voice_increment,
                  r.tariffs, r.subscriptions) for r in rows])


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
    print_table([Col("NAME"), Col("CUSTOMERS", "number")], [(r.name, r.customers) for r in rows])
