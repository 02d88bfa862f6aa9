"""The scheduler: APScheduler 3.x jobs run by the elected leader, and the headless daemon.

`SchedulerService` takes part in the leader election (`scheduler.lease`) and runs
the jobs of `scheduler.jobs` while this process leads; `scheduler.daemon` adds a
worker pool and signal handling. Never imports Textual or the console.
"""

from scheduler.jobs import JobSpec, WallClockCron, job_specs
from scheduler.lease import LeaderLease, LeaseInfo
from scheduler.service import JobRun, SchedulerService, SchedulerStatus, next_runs, record_tick

__all__ = [
    "JobRun", "JobSpec", "LeaderLease", "LeaseInfo", "SchedulerService", "SchedulerStatus",
    "WallClockCron", "job_specs", "next_runs", "record_tick",
]
