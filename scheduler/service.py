"""The scheduler service: APScheduler 3.x running only in the elected leader.

A background thread takes or renews the lease every ttl/3 seconds. While this
process leads, a `BackgroundScheduler` (memory job store, jobs from
`scheduler.jobs`) runs the jobs; when the lease is lost it is shut down at once.
Before a job runs for a fire time, a `scheduler_tick` row is inserted in a
transaction that also checks the lease epoch is still ours: UNIQUE(job,
fire_time) means even two leaders enqueue a tick at most once, and a leader
that was fenced off does nothing. A tick is recorded before its job runs, so a
crash mid-job loses that run; every job is a catch-up scan, and the next tick
does what the lost one did not.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError

from core.clock import Clock, system_clock
from core.config import Settings
from core.db import Database
from core.models import SchedulerTick
from scheduler.jobs import JobSpec, job_specs, last_fire_time, run_spec, time_zone
from scheduler.lease import L, LeaderLease

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger(__name__)
TICKS = cast(Table, SchedulerTick.__table__)

TickOutcome = Literal["recorded", "duplicate", "fenced"]


def record_tick(db: Database, lease: LeaderLease, job: str, fire_time: datetime) -> TickOutcome:
    """Claim (job, fire_time) for this leader; only a "recorded" tick may run its job."""
    epoch = lease.epoch
    if epoch is None:
        return "fenced"
    try:
        with db.engine.begin() as conn:
            # The lease row is locked (MariaDB) or the database is (SQLite's BEGIN IMMEDIATE),
            # so a takeover cannot commit between this check and the insert.
            current = select(L.c.holder, L.c.epoch).where(L.c.name == lease.name)
            if db.is_mysql:
                current = current.with_for_update()
            row = conn.execute(current).first()
            if row is None or row.holder != lease.holder or row.epoch != epoch:
                return "fenced"
            conn.execute(insert(TICKS).values(job=job, fire_time=fire_time, holder=lease.holder,
                                              epoch=epoch))
    except IntegrityError:
        return "duplicate"
    return "recorded"


@dataclass(frozen=True)
class JobRun:
    """What happened to one fire time of one job (for in-process listeners and the log)."""

    job: str
    fire_time: datetime
    outcome: Literal["done", "failed", "duplicate", "fenced"]
    summary: str = ""
    seconds: float = 0.0


@dataclass(frozen=True)
class SchedulerStatus:
    is_leader: bool
    leader_holder: str | None
    leader_expires_at: datetime | None
    jobs: list[tuple[str, datetime | None]]
    holder: str = ""  # this process
    leader_live: bool = False
    epoch: int | None = None
    descriptions: dict[str, str] = field(default_factory=dict)

    @property
    def attached_to(self) -> str | None:
        """The host whose scheduler we follow, when another process leads."""
        if self.is_leader or not self.leader_live or self.leader_holder is None:
            return None
        return self.leader_holder.rsplit(":", 1)[0]

    def describe(self) -> str:
        if self.is_leader:
            return f"scheduler leader (epoch {self.epoch})"
        if self.attached_to is not None:
            return f"attached to daemon on {self.attached_to} ({self.leader_holder})"
        return "no scheduler running"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["jobs"] = [{"name": n, "next_run_time": t, "description": self.descriptions.get(n, "")}
                        for n, t in self.jobs]
        del data["descriptions"]
        data["attached_to"] = self.attached_to
        return data


def next_runs(settings: Settings, now: datetime,
              specs: Sequence[JobSpec] | None = None) -> list[tuple[str, datetime | None]]:
    """Each job's next fire time after `now`, from the trigger definitions alone."""
    tz = time_zone(settings)
    result = []
    for spec in specs if specs is not None else job_specs(settings):
        when = spec.trigger.get_next_fire_time(None, now)
        result.append((spec.name, when.astimezone(tz) if when is not None else None))
    return result


class _Scheduled:
    """A job as the executor runs it: the function also gets the fire time it is run for."""

    def __init__(self, job: Any, fire_time: datetime) -> None:
        self.id = job.id
        self._jobstore_alias = job._jobstore_alias
        self.misfire_grace_time = job.misfire_grace_time
        self.func = job.func
        self.args = tuple(job.args)
        self.kwargs = {**job.kwargs, "fire_time": fire_time}
        self._label = str(job)

    def __str__(self) -> str:
        return self._label


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 is untyped
    """APScheduler's background scheduler, whose loop survives a shutdown that races it.

    `shutdown()` empties the job store while the loop may be about to remove a date job it
    has just handed to the executor (the catch-up run); APScheduler 3 then raises
    JobLookupError in its thread, a traceback in the log for an orderly stop. A job missing
    once the scheduler has stopped is what the stop meant; any other lookup error stands.
    """

    def remove_job(self, job_id: str, jobstore: str | None = None) -> None:
        try:
            super().remove_job(job_id, jobstore)
        except JobLookupError:
            if self.state != STATE_STOPPED:
                raise


class FireTimeExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """APScheduler 3 does not tell a job which fire time it runs for; ticks are keyed on it."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        # Jobs coalesce: missed fire times collapse into one run for the latest of them.
        super()._do_submit_job(_Scheduled(job, run_times[-1]), run_times[-1:])


class SchedulerService:
    """Takes part in the leader election and runs the schedule while this process leads."""

    def __init__(self, runtime: Runtime, *, clock: Clock | None = None, holder: str | None = None,
                 ttl_s: float | None = None, specs: Sequence[JobSpec] | None = None,
                 probe_every_s: float | None = None, standby_poll_s: float | None = None) -> None:
        self.runtime = runtime
        self.specs = list(specs) if specs is not None else job_specs(
            runtime.settings, probe_every_s=probe_every_s)
        ttl = ttl_s if ttl_s is not None else runtime.settings.scheduler_lease_seconds
        self.lease = LeaderLease(runtime.db, holder=holder, ttl_s=ttl, clock=clock)
        self.clock: Clock = clock or system_clock  # catch-up and status read this clock, never the OS one
        self.interval = max(0.1, ttl / 3)  # the leader renews this often
        # A standby only reads the lease row this often, so a lease handed back by a clean stop
        # is taken within this time rather than within ttl/3.
        poll = standby_poll_s if standby_poll_s is not None else runtime.settings.standby_poll_seconds
        self.standby_poll = max(0.05, min(poll, self.interval))
        self._by_name = {spec.name: spec for spec in self.specs}
        self._scheduler: BackgroundScheduler | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._renewed_at = 0.0  # monotonic time of the last successful acquire/renew
        self._listeners: list[Callable[[JobRun], None]] = []
        self.caught_up = threading.Event()  # set when the catch-up run after a promotion has ended

    @property
    def holder(self) -> str:
        return self.lease.holder

    @property
    def is_leader(self) -> bool:
        return self.lease.held and self._scheduler is not None

    def add_listener(self, listener: Callable[[JobRun], None]) -> None:
        """Called (from a scheduler thread) after every fire time this process handled."""
        self._listeners.append(listener)

    # -- the lease loop ---------------------------------------------------------------------

    def start(self) -> SchedulerService:
        """Start the lease loop in a background thread; returns at once."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="scheduler-lease", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while True:
            leading = self.step()
            if self._stopping.wait(self.interval if leading else self.standby_poll):
                return

    def step(self) -> bool:
        """One round: renew our lease or try to take it; returns whether we lead afterwards."""
        with self._lock:
            try:
                if self.lease.held:
                    if self.lease.renew():
                        self._renewed_at = time.monotonic()
                        if self._scheduler is None:
                            self._promote()
                    else:
                        log.warning("scheduler lease taken over by another process; "
                                    "stopping the schedule here")
                        self._demote()
                elif self._lease_free() and self.lease.try_acquire():
                    self._renewed_at = time.monotonic()
                    log.info("elected scheduler leader as %s (epoch %s)", self.holder, self.lease.epoch)
                    self._promote()
            except Exception as exc:  # the database is away: keep trying, give up leading in time
                log.warning("scheduler lease: %s", exc)
                if self.lease.held and time.monotonic() - self._renewed_at > self.lease.ttl.total_seconds():
                    log.warning("could not renew the scheduler lease in time; stopping the schedule")
                    self.lease.forget()
                    self._demote()
            return self.is_leader

    def _lease_free(self) -> bool:
        """Whether taking the lease is worth a write: nobody else holds it live (a cheap read)."""
        info = self.lease.current()
        return info is None or not info.live or info.holder == self.holder

    def _promote(self) -> None:
        self.caught_up.clear()
        tz = time_zone(self.runtime.settings)
        scheduler = _Scheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": FireTimeExecutor(max_workers=max(1, len(self.specs)))},
            job_defaults={"coalesce": True, "max_instances": 1},
            timezone=tz,
        )
        for spec in self.specs:
            scheduler.add_job(self._fire, trigger=spec.trigger, args=[spec.name], id=spec.name,
                              name=spec.name, misfire_grace_time=spec.misfire_grace_s,
                              coalesce=True, max_instances=1)
        scheduler.add_job(self._catch_up_job, trigger="date", id="catch-up", name="catch-up")
        scheduler.start()
        self._scheduler = scheduler

    def _demote(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)  # a job still running finds its next tick fenced

    def stop(self, wait: bool = True) -> None:
        """Stop scheduling, let a running job finish (if `wait`), and release the lease."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.interval + 30)
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
            if scheduler is not None:
                scheduler.shutdown(wait=wait)
            try:
                self.lease.release()
            except Exception as exc:  # it lapses by itself after the TTL
                log.warning("could not release the scheduler lease: %s", exc)
                self.lease.forget()

    # -- ticks ------------------------------------------------------------------------------

    def fire(self, name: str, fire_time: datetime) -> JobRun:
        """Record the tick for (job, fire_time) and, if it is ours to run, run the job."""
        spec = self._by_name[name]
        local = fire_time.astimezone(time_zone(self.runtime.settings))
        outcome = record_tick(self.runtime.db, self.lease, name, fire_time)
        if outcome == "duplicate":
            run = JobRun(name, fire_time, "duplicate", "already run by another scheduler")
            log.info("%s %s: %s", name, f"{local:%Y-%m-%d %H:%M:%S %Z}", run.summary)
        elif outcome == "fenced":
            run = JobRun(name, fire_time, "fenced", "not run: this process no longer leads")
            log.warning("%s %s: %s", name, f"{local:%Y-%m-%d %H:%M:%S %Z}", run.summary)
        else:
            started = time.monotonic()
            try:
                summary = run_spec(spec, self.runtime, fire_time)
            except Exception as exc:
                run = JobRun(name, fire_time, "failed", f"{type(exc).__name__}: {exc}",
                             time.monotonic() - started)
                log.exception("%s %s: failed", name, f"{local:%Y-%m-%d %H:%M:%S %Z}")
            else:
                run = JobRun(name, fire_time, "done", summary, time.monotonic() - started)
                log.info("%s %s: %s (%.1f s)", name, f"{local:%Y-%m-%d %H:%M:%S %Z}", summary,
                         run.seconds)
        for listener in list(self._listeners):
            try:
                listener(run)
            except Exception:  # a listener must not break the schedule
                log.exception("scheduler listener failed")
        return run

    def _fire(self, name: str, fire_time: datetime | None = None) -> None:
        # FireTimeExecutor always passes fire_time; the default only satisfies add_job's check.
        if fire_time is None:
            raise RuntimeError(f"job {name} was run without its fire time")
        self.fire(name, fire_time)

    def catch_up(self, now: datetime | None = None) -> list[JobRun]:
        """Run the fire times missed while no scheduler led, for jobs that allow it.

        A job is caught up only if it ran before the missed time (a fresh install does
        not issue last month's invoices on its first start) and nobody ran that time.
        """
        now = now or self.clock()
        runs = []
        for spec in self.specs:
            missed = last_fire_time(spec, now)
            if missed is None or not self._missed(spec.name, missed):
                continue
            log.info("%s: catching up %s, missed while no scheduler led", spec.name,
                     f"{missed.astimezone(time_zone(self.runtime.settings)):%Y-%m-%d %H:%M %Z}")
            runs.append(self.fire(spec.name, missed))
        return runs

    def _missed(self, job: str, fire_time: datetime) -> bool:
        """No tick for `fire_time`, but one for an earlier time: the schedule was live and lapsed."""
        with self.runtime.db.reader() as session:
            latest = session.execute(select(TICKS.c.fire_time).where(TICKS.c.job == job)
                                     .where(TICKS.c.fire_time <= fire_time)
                                     .order_by(TICKS.c.fire_time.desc()).limit(1)).scalar()
        return latest is not None and latest < fire_time

    def _catch_up_job(self, fire_time: datetime | None = None) -> None:
        try:
            self.catch_up()
        finally:
            self.caught_up.set()

    # -- reading ----------------------------------------------------------------------------

    def status(self) -> SchedulerStatus:
        """Who leads, until when, and each job's next run (for the console and `expensis status`)."""
        info = self.lease.current()
        tz = time_zone(self.runtime.settings)
        scheduler = self._scheduler
        if scheduler is not None and self.lease.held:
            by_id = {job.id: job.next_run_time for job in scheduler.get_jobs()}
            jobs = [(s.name, by_id[s.name].astimezone(tz) if by_id.get(s.name) else None)
                    for s in self.specs]
        else:
            jobs = next_runs(self.runtime.settings, self.clock(), self.specs)
        return SchedulerStatus(
            is_leader=self.is_leader,
            leader_holder=info.holder if info else None,
            leader_expires_at=info.expires_at if info else None,
            jobs=jobs,
            holder=self.holder,
            leader_live=bool(info and info.live),
            epoch=self.lease.epoch,
            descriptions={s.name: s.description for s in self.specs},
        )
