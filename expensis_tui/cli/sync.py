"""`expensis sync ...`: the sync manager, manual syncs, profiles and tasks."""

from __future__ import annotations

from typing import get_args

import click
from sqlalchemy import func, select

from core.models import Customer, SyncProfile, SyncTask
from core.models.sync import SyncTaskStatus
from core.month import Month
from core.workflows.manual import run_sync_manager
from core.workflows.sync import WITH_WARNINGS, SyncBusy, start_manual_sync
from expensis_tui.cli import EXIT_FAILED, EXIT_NOT_FOUND, CliError, emit_json, main, runtime
from expensis_tui.cli.follow import follow_here
from expensis_tui.cli.output import Col, print_table
from expensis_tui.cli.params import MONTH


@main.group()
def sync() -> None:
    """Provider syncs: run the manager, sync a profile by hand, list profiles and tasks."""


@sync.command("manager")
@click.pass_context
def sync_manager(ctx: click.Context) -> None:
    """One sync-manager tick by hand: create and dispatch syncs for due profiles."""
    rt = runtime(ctx)
    created = run_sync_manager(rt.bus, operator=rt.operator)
    click.echo(f"{len(created)} sync task(s) created" + (f": {', '.join(map(str, created))}" if created else ""))


def find_profile(ctx: click.Context, name: str) -> SyncProfile:
    with runtime(ctx).db.reader() as s:
        profile = s.scalars(select(SyncProfile).where(SyncProfile.name == name)).first()
        if profile is None and name.isdigit():
            profile = s.get(SyncProfile, int(name))
    if profile is None:
        raise CliError(f"no sync profile named {name!r}", EXIT_NOT_FOUND)
    return profile


@sync.command("run")
@click.argument("profile")
@click.option("--month", required=True, type=MONTH, help="Month YYYY-MM to sync.")
@click.option("--wait", is_flag=True, help="Run it now and print progress until done.")
@click.pass_context
def sync_run(ctx: click.Context, profile: str, month: Month, wait: bool) -> None:
    """Manual sync of one profile for one month."""
    rt = runtime(ctx)
    row = find_profile(ctx, profile)
    try:
        start = start_manual_sync(rt.bus, row.id, str(month), operator=rt.operator)
    except SyncBusy as exc:
        raise CliError(str(exc), EXIT_FAILED) from exc
    click.echo(f"sync task {start.task_id} for {row.name} {month} dispatched")
    if not wait:
        return
    final = follow_here(rt, start.handle, label="cli-sync")
    with rt.db.reader() as s:
        task = s.get_one(SyncTask, start.task_id)
    outcome = "completed with warnings" if task.status == WITH_WARNINGS else "completed"
    click.echo(f"sync {outcome}: {task.error_message or final.note or 'nothing received'}")


@sync.command("profiles")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sync_profiles(ctx: click.Context, as_json: bool) -> None:
    """Sync profiles with their customer, provider, schedule and last status."""
    with runtime(ctx).db.reader() as s:
        last = (select(SyncTask.sync_profile_id, func.max(SyncTask.id).label("task_id"))
                .group_by(SyncTask.sync_profile_id).subquery())
        rows = s.execute(
            select(SyncProfile.id, SyncProfile.name, Customer.code, SyncProfile.provider, SyncProfile.active,
                   SyncProfile.next_sync_date, SyncTask.status, SyncTask.reason)
            .join(Customer, Customer.id == SyncProfile.customer_id)
            .outerjoin(last, last.c.sync_profile_id == SyncProfile.id)
            .outerjoin(SyncTask, SyncTask.id == last.c.task_id)
            .order_by(SyncProfile.name)).all()
    data = [{"id": r[0], "name": r[1], "customer": r[2], "provider": r[3], "active": r[4],
             "next_sync": r[5], "last_status": r[6], "last_reason": r[7]} for r in rows]
    if as_json:
        emit_json(data)
        return
    print_table([Col("PROFILE"), Col("CUSTOMER"), Col("PROVIDER"), Col("STATE"), Col("NEXT SYNC", "time"),
                 Col("LAST STATUS"), Col("REASON")],
                [(d["name"], d["customer"], d["provider"], "active" if d["active"] else "off",
                  d["next_sync"] or "now", d["last_status"] or "-", d["last_reason"]) for d in data],
                zone=runtime(ctx).settings.time_zone)


@sync.command("tasks")
@click.option("--status", type=click.Choice(get_args(SyncTaskStatus)))
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def sync_tasks(ctx: click.Context, status: str | None, limit: int, as_json: bool) -> None:
    """Sync tasks, newest first."""
    query = (select(SyncTask, SyncProfile.name).join(SyncProfile, SyncProfile.id == SyncTask.sync_profile_id)
             .order_by(SyncTask.id.desc()).limit(limit))
    if status:
        query = query.where(SyncTask.status == status)
    with runtime(ctx).db.reader() as s:
        rows = s.execute(query).all()
    data = [{"id": t.id, "profile": name, "cycle_start_date": t.cycle_start_date, "status": t.status,
             "reason": t.reason, "retries": t.retries, "received_cdrs": t.received_cdrs,
             "expected_cdrs": t.expected_cdrs, "totals_anyway": t.totals_anyway,
             "provider_invoice_total": t.provider_invoice_total, "provider_cost_total": t.provider_cost_total,
             "error": t.error_message, "updated_at": t.updated_at} for t, name in rows]
    if as_json:
        emit_json(data)
        return
    print_table([Col("ID", "number"), Col("PROFILE"), Col("CYCLE START", "date"), Col("STATUS"),
                 Col("REASON"), Col("CDRS", "number"), Col("ERROR", shrink=True)],
                [(d["id"], d["profile"], d["cycle_start_date"], d["status"], d["reason"],
                  d["received_cdrs"] or 0, d["error"]) for d in data])
