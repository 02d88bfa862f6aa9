"""`expensis cdr ...`: import CDR files, look at quarantined rows."""

from __future__ import annotations

from pathlib import Path

import click

from core.cdr_checks import CdrLimits
from core.imports import ImportResult, quarantined_rows
from core.models import ImportBatch
from core.workflows.manual import ProviderNameError, dispatch_import_totals, import_cdr_file
from expensis_tui.cli import EXIT_FAILED, EXIT_NOT_FOUND, CliError, emit_json, main, runtime
from providers.base import ProviderError
from providers.csvformat import parse_cdr_csv


@main.group()
def cdr() -> None:
    """Call detail records: import files, inspect quarantine."""


@cdr.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--provider", required=True, help="Provider name the CDRs come from (dedup key).")
@click.option("--totals/--no-totals", default=False,
              help="Dispatch totals for every customer-cycle the file touched.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def cdr_import(ctx: click.Context, file: Path, provider: str, totals: bool, as_json: bool) -> None:
    """Import a generic CSV CDR file (docs/formats/cdr-csv.md). Bad rows go to quarantine.

    Exits 1 only when nothing could be read (a missing column, or no good row at all).
    """
    rt = runtime(ctx)
    shown = {"last": 0}

    def progress(result: ImportResult) -> None:
        if not as_json and result.rows_read - shown["last"] >= 100_000:
            shown["last"] = result.rows_read
            click.echo(f"  … {result.rows_read:,} rows read", err=True)

    with file.open("rb") as stream:
        try:
            # the whole path: the batch says which file it was, and a failure's retry finds it from any directory
            result = import_cdr_file(rt.db, parse_cdr_csv(stream), provider=provider, source=str(file.resolve()),
                                     operator=rt.operator, with_totals=totals, progress=progress,
                                     limits=CdrLimits.from_settings(rt.settings))
        except ProviderNameError as exc:
            raise click.BadParameter(str(exc), param_hint="--provider") from exc
        except ProviderError as exc:
            raise CliError(f"{file.name}: {exc}", EXIT_FAILED) from exc
    dispatched = dispatch_import_totals(rt.bus, result, operator=rt.operator) if totals else 0
    if as_json:
        emit_json({"batch_id": result.batch_id, "rows_read": result.rows_read,
                   "imported": result.imported, "duplicates": result.duplicates,
                   "quarantined": result.quarantined, "corrected": result.corrected,
                   "totals_dispatched": dispatched})
    else:
        click.echo(result.summary())
        if dispatched:
            click.echo(f"totals dispatched for {dispatched} customer-cycle(s)")
        elif result.touched and result.imported + result.corrected:  # duplicates alone change nothing
            click.echo(f"{len(result.touched)} customer-cycle(s) touched; "
                       "run `expensis totals recalc` or import with --totals")
    if result.nothing_read:
        raise CliError(_why_nothing(result, file.name, empty=file.stat().st_size == 0), EXIT_FAILED)


def _why_nothing(result: ImportResult, name: str, *, empty: bool = False) -> str:
    """The one line an import that stored nothing ends with: every row bad, no row, or stopped."""
    if empty:
        return f"nothing could be read from {name}: the file is empty (0 bytes)"
    if result.error is None and result.quarantined:
        return (f"no good row in {name}: all {result.quarantined:,} quarantined; "
                f"`expensis cdr quarantine {result.batch_id}` lists them with line and reason")
    if result.error is None:
        return f"nothing could be read from {name}: it has no data row"
    return f"nothing could be read from {name}"


@cdr.command("quarantine")
@click.argument("batch_id", type=int)
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def cdr_quarantine(ctx: click.Context, batch_id: int, limit: int, as_json: bool) -> None:
    """Show the rows of an import batch that went to quarantine, with line and reason."""
    db = runtime(ctx).db
    with db.reader() as session:
        batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise CliError(f"no import batch {batch_id}", EXIT_NOT_FOUND)
    rows = quarantined_rows(db, batch_id, limit)
    if as_json:
        emit_json([{"line": r.line, "reason": r.reason, "raw": r.raw} for r in rows])
        return
    if not rows:
        click.echo(f"import batch {batch_id}: no quarantined rows")
    for r in rows:
        click.echo(f"line {r.line:>7}: {r.reason}  [{r.raw[:60]}]")
