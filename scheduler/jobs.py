"""The scheduled jobs, listed in code (DESIGN.md "The scheduler").

Each job is a `JobSpec`: a name, an APScheduler trigger in the configured time
zone, and the function it runs, referenced here (this file lists every job). A job
function takes `(runtime, fire_time)` and returns a one-line summary for the log.

Fire times must be the same in every process, because ticks are deduplicated
on (job, fire_time): interval jobs are anchored on a fixed instant rather than
on the moment a scheduler started, and wall-clock jobs use `WallClockCron`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.billing.dunning import dunning_job
from core.billing.mail import failure_digest_job
from core.billing.payments import balance_update_job
from core.config import Settings
from core.maintenance import due_totals_job, purge_job, reap_stale_imports_job
from core.workflows.invoicing import invoice_run_job
from core.workflows.sync import sync_manager_job

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger(__name__)

JobFunction = Callable[["Runtime", datetime], str]

# Interval jobs fire on multiples of their interval counted from here, in every process.
INTERVAL_ANCHOR = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
DAY = 24 * 3600


class WallClockCron(BaseTrigger):  # type: ignore[misc]
    """A cron schedule on the local wall clock that fires once per matching wall-clock time.

    APScheduler 3.11's CronTrigger fires a 02:30 job twice on the autumn change and
    can return the same fire time forever there (agronholm/apscheduler#1021). This
    trigger matches the cron fields against naive wall-clock time (where there is no
    DST) and only then maps the match to an instant: in the repeated autumn hour the
    first occurrence is used, and a time skipped in spring runs at the same offset
    after the jump (02:30 becomes 03:30 summer time), so a daily job runs every day.
    """

    __slots__ = ("fields", "timezone", "_wall")

    def __init__(self, timezone: tzinfo, **fields: Any) -> None:
        self.fields = fields
        self.timezone = timezone
        self._wall = CronTrigger(timezone=UTC, **fields)  # naive wall time, carried as UTC

    def _to_wall(self, moment: datetime) -> datetime:
        return moment.astimezone(self.timezone).replace(tzinfo=UTC)

    def _instant(self, wall: datetime, lower: datetime) -> datetime | None:
        """The first instant >= lower (UTC) that shows `wall` on the local clock, or stands in for it."""
        naive = wall.replace(tzinfo=None)
        first = naive.replace(tzinfo=self.timezone, fold=0).astimezone(UTC)
        second = naive.replace(tzinfo=self.timezone, fold=1).astimezone(UTC)
        if first.astimezone(self.timezone).replace(tzinfo=None) != naive:
            # Skipped in spring: zoneinfo reads it with the old offset, i.e. as long after the jump.
            candidates = [first]
        else:
            candidates = [first, second] if first != second else [first]
        for candidate in candidates:
            if candidate >= lower:
                return candidate.astimezone(self.timezone)
        return None

    def get_next_fire_time(self, previous_fire_time: datetime | None,
                           now: datetime) -> datetime | None:
        # Aware datetimes sharing a tzinfo compare without their fold: compare in UTC only.
        lower = now.astimezone(UTC)
        start = self._to_wall(lower)
        if previous_fire_time is not None:  # the next after it, even if due already (misfires)
            lower = previous_fire_time.astimezone(UTC) + _MICROSECOND
            start = max(self._to_wall(lower), self._to_wall(previous_fire_time) + _MICROSECOND)
        for _ in range(10_000):
            wall = self._wall.get_next_fire_time(None, start)
            if wall is None:
                return None
            instant = self._instant(wall, lower)
            if instant is not None:
                return instant
            start = wall + _MICROSECOND
        return None

    def __str__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"wall-clock cron[{fields}] in {self.timezone}"

    def __repr__(self) -> str:
        return f"<WallClockCron ({self})>"


def every(tz: tzinfo, **interval: float) -> IntervalTrigger:
    """An interval trigger whose fire times do not depend on when the scheduler started."""
    return IntervalTrigger(start_date=INTERVAL_ANCHOR, timezone=tz, **interval)


@dataclass(frozen=True)
class JobSpec:
    name: str
    trigger: BaseTrigger
    function: JobFunction
    description: str
    misfire_grace_s: int = 300  # a run later than this after its fire time is skipped
    # A new leader runs a fire time missed within this window while no scheduler led
    # (a daily job would otherwise wait a day); 0: the next fire time comes soon enough.
    catch_up_s: int = 0


def last_fire_time(spec: JobSpec, now: datetime) -> datetime | None:
    """The latest fire time in the job's catch-up window before `now`, if it has one."""
    if not spec.catch_up_s:
        return None
    last, moment = None, spec.trigger.get_next_fire_time(None, now - timedelta(seconds=spec.catch_up_s))
    while moment is not None and moment < now:
        last, moment = moment, spec.trigger.get_next_fire_time(moment, moment)
    return last


def time_zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.time_zone or "Europe/Amsterdam")


def job_specs(settings: Settings, *, probe_every_s: float | None = None) -> list[JobSpec]:
    """Every scheduled job, with triggers in the configured time zone."""
    tz = time_zone(settings)
    sync_minutes = max(1, settings.sync_interval_minutes)
    specs = [
        JobSpec("sync_manager", every(tz, minutes=sync_minutes), sync_manager_job,
                "start syncs for due profiles", misfire_grace_s=max(30, sync_minutes * 30)),
        JobSpec("due_totals", every(tz, hours=1), due_totals_job,
                "dispatch requested recalculations that have none in flight", misfire_grace_s=1800),
        JobSpec("stale_import_reaper", every(tz, minutes=15), reap_stale_imports_job,
                "fail import batches stuck running for 2 h", misfire_grace_s=450),
        JobSpec("purge", WallClockCron(tz, hour=3, minute=30), purge_job,
                "delete old exports, rotated logs, finished messages and ticks",
                misfire_grace_s=3600, catch_up_s=DAY),
        JobSpec("invoice_run", WallClockCron(tz, day=settings.invoice_day, hour=6, minute=0),
                invoice_run_job,
                "invoice last month's cycles and mail them (invoice day, 06:00)", misfire_grace_s=6 * 3600,
                catch_up_s=7 * DAY),
        JobSpec("balance_update", WallClockCron(tz, hour=5, minute=0), balance_update_job,
                "recompute balances: paid, partial, unpaid, overdue", misfire_grace_s=3600,
                catch_up_s=DAY),
        JobSpec("failure_digest", every(tz, hours=1), failure_digest_job,
                "one mail listing failed syncs and messages since the last digest", misfire_grace_s=1800),
        JobSpec("dunning", WallClockCron(tz, hour=9, minute=0), dunning_job,
                "payment reminders due today (reminder, second reminder, formal notice)",
                misfire_grace_s=6 * 3600),
    ]
    if probe_every_s:
        specs.append(JobSpec("probe", every(tz, seconds=probe_every_s), probe_job,
                             "liveness probe (tests and diagnostics)", misfire_grace_s=5))
    return specs


def probe_job(runtime: Runtime, fire_time: datetime) -> str:
    return "alive"


def run_spec(spec: JobSpec, runtime: Runtime, fire_time: datetime) -> str:
    """Run one job for one fire time; its one-line summary."""
    return spec.function(runtime, fire_time)
