"""`expensis export ...`: customer reports as export jobs (Excel/CSV) and the job list."""

from __future__ import annotations

from dataclasses import asdict

import click

from core.lookup import NotFound, customer_by_code, cycle_start
from core.month import Month
from core.views.billing import export_jobs
from core.workflows.exports import ExportStart, start_export
from expensis_tui.cli import EXIT_FAILED, EXIT_NOT_FOUND, CliError, emit_json, main, runtime
from expensis_tui.cli.follow import follow_here
from expensis_tui.cli.output import Col, print_table
from expensis_tui.cli.params import MONTH

#: CLI name -> export kind
EXPORTS = {
    "excel": ("excel", "CDRs with rated amounts, one sheet per call type, and totals (xlsx)."),
    "csv": ("csv", "The same CDRs as one CSV file."),
    "usage": ("usage", "Customer usage report: usage, fee and amount per subscription (xlsx)."),
    "insights": ("insights", "Billing insight report: insights and margin per subscription (xlsx)."),
    "cost-centres": ("cost_centres", "Cost-centre settings and totals for the month (xlsx)."),
}


@main.group("export")
def export_group() -> None:
    """Customer exports, generated as jobs by the workers (files in the exports directory)."""


def _make(name: str, kind: str, help_text: str) -> None:
    @export_group.command(name, help=help_text)
    @click.argument("customer")
    @click.option("--cycle", required=True, type=MONTH, help="Cycle YYYY-MM.")
    @click.option("--mail", "notify", help="Mail this address when the file is ready.")
    @click.option("--wait", is_flag=True, help="Run the export now and wait for the file.")
    @click.pass_context
    def command(ctx: click.Context, customer: str, cycle: Month, notify: str | None, wait: bool) -> None:
        rt = runtime(ctx)
        try:
            with rt.db.reader() as s:
                row = customer_by_code(s, customer)
                customer_id, start = row.id, cycle_start(row, cycle)
        except NotFound as exc:
            raise CliError(str(exc), EXIT_NOT_FOUND) from exc
        started = start_export(rt.bus, kind, customer_id, start, operator=rt.operator, notify_email=notify)
        click.echo(f"export job {started.job_id} ({name}) queued")
        if wait:
            wait_job(ctx, started)


for _name, (_kind, _help) in EXPORTS.items():
    _make(_name, _kind, _help)


def wait_job(ctx: click.Context, started: ExportStart) -> None:
    rt = runtime(ctx)
    try:
        follow_here(rt, started.handle, label="cli-export", threads=1)
    except CliError as exc:
        raise CliError(f"export job {started.job_id} {exc.message}", EXIT_FAILED) from exc
    job = export_jobs(rt.db, job_id=started.job_id)[0]
    click.echo(f"{job.rows} row(s) written to {job.path}")


@export_group.command("jobs")
@click.option("--limit", default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def export_jobs_command(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Recent export jobs with their status, progress and file."""
    jobs = export_jobs(runtime(ctx).db, limit=limit)
    if as_json:
        emit_json([asdict(j) for j in jobs])
        return
    print_table([Col("JOB", "number"), Col("KIND"), Col("CUSTOMER"), Col("CYCLE", "month"), Col("STATUS"),
                 Col("ROWS", "number"), Col("FILE / ERROR", shrink=True)],
                [(j.id, j.kind, j.customer_code, j.cycle_start_date, j.status,
                  f"{j.rows:,}/{j.total_rows:,}" if j.total_rows and j.status == "running" else j.rows,
                  j.path or j.error_message) for j in jobs])
