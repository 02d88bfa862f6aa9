"""`expensis daemon|schedule|status`: run headless, and see what the scheduler and queue do."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import click

from core.maintenance import last_sync_per_profile
from core.views.failures import count_failures, list_failures
from expensis_tui.cli import emit_json, main, runtime
from expensis_tui.cli.bus import load_plugins
from expensis_tui.cli.output import Col, print_table, when
from scheduler.daemon import configure_logging, run_daemon
from scheduler.jobs import time_zone
from scheduler.service import SchedulerService, SchedulerStatus


def _leader_line(status: SchedulerStatus) -> str:
    if status.leader_holder is None:
        return "no scheduler has run on this database yet"
    if status.leader_live:
        return (f"led by {status.leader_holder}, lease until "
                f"{when(status.leader_expires_at)}")
    return (f"no leader: the lease of {status.leader_holder} expired at "
            f"{when(status.leader_expires_at)}")


@main.command("daemon")
@click.option("--threads", type=int, default=None,
              help="Worker threads (default: the `workers` setting).")
@click.option("--grace", default=30.0, show_default=True,
              help="Seconds to let running handlers finish on SIGTERM before releasing them.")
@click.option("--lease-ttl", type=float, default=None, hidden=True,
              help="Scheduler lease TTL in seconds (default: the scheduler_lease_seconds setting).")
@click.option("--probe-every", type=float, default=None, hidden=True,
              help="Add a `probe` job every N seconds (tests and diagnostics).")
@click.option("--plugin", multiple=True, hidden=True)
@click.pass_context
def daemon(ctx: click.Context, threads: int | None, grace: float, lease_ttl: float | None,
           probe_every: float | None, plugin: tuple[str, ...]) -> None:
    """Run headless: the scheduler (when elected leader) and workers, until SIGTERM/SIGINT."""
    load_plugins(plugin)
    rt = runtime(ctx)
    level = min(logging.getLogger().getEffectiveLevel(), logging.INFO)
    log_file = configure_logging(rt.settings, level)
    click.echo(f"expensis daemon: logging to {log_file}", err=True)
    code = run_daemon(rt, threads=threads or rt.settings.workers, grace=grace,
                      lease_ttl_s=lease_ttl, probe_every_s=probe_every)
    ctx.exit(code)


@main.command("schedule")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def schedule(ctx: click.Context, as_json: bool) -> None:
    """The scheduled jobs with their next run times, and who runs them."""
    rt = runtime(ctx)
    status = SchedulerService(rt).status()
    if as_json:
        data = status.as_dict()
        emit_json({"time_zone": rt.settings.time_zone, "leader": data["leader_holder"],
                   "leader_live": status.leader_live,
                   "leader_expires_at": status.leader_expires_at, "jobs": data["jobs"]})
        return
    tz = time_zone(rt.settings)
    print_table([Col("JOB"), Col("NEXT RUN", "time"), Col("DESCRIPTION", shrink=True)],
                [(name, next_run, status.descriptions.get(name, "")) for name, next_run in status.jobs],
                zone=tz)
    click.echo(f"scheduler: {_leader_line(status)}")


@main.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Scheduler leader, queue depth, open failures and the last sync of every profile."""
    rt = runtime(ctx)
    scheduler = SchedulerService(rt).status()
    counts = rt.bus.counts()
    syncs = last_sync_per_profile(rt.db)
    failed = count_failures(rt.db)
    if as_json:
        emit_json({
            "scheduler": {"leader": scheduler.leader_holder, "leader_live": scheduler.leader_live,
                          "leader_expires_at": scheduler.leader_expires_at,
                          "attached_to": scheduler.attached_to},
            "queue": counts,
            "failed": failed,
            "failures": [f.as_dict() for f in list_failures(rt.db, limit=20)],
            "syncs": [s.as_dict() for s in syncs],
            "at": datetime.now(UTC),
        })
        return
    tz = time_zone(rt.settings)
    click.echo(f"scheduler  {_leader_line(scheduler)}")
    click.echo("queue      " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    if failed:
        click.echo(f"failed     {failed} failure(s) need attention: expensis failures list")
    if not syncs:
        click.echo("syncs      no sync profiles")
        return
    click.echo("")
    print_table([Col("PROFILE"), Col("PROVIDER"), Col("STATUS"), Col("REASON"), Col("UPDATED", "time")],
                [(s.profile, s.provider, s.status or ("never" if s.active else "inactive"), s.reason,
                  s.updated_at) for s in syncs], zone=tz)
