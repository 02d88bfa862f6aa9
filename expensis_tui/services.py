"""The embedded scheduler and bus workers of the console, and what it shows about them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from core.bus import WorkerPool
from core.runtime import Runtime
from expensis_tui.messages import SchedulerView

if TYPE_CHECKING:  # APScheduler loads in the start-up worker, after the first paint
    from core.bus.process import WorkerProcess
    from scheduler.service import SchedulerService

log = logging.getLogger(__name__)

def daemon_host(holder: str) -> str:
    """The host part of a lease holder ('host:pid' → 'host')."""
    return holder.rsplit(":", 1)[0] or holder


class Services:
    """Starts and stops the embedded SchedulerService and WorkerPool; safe to call from threads."""

    def __init__(self, runtime: Runtime, clock: Callable[[], datetime]) -> None:
        self.runtime = runtime
        self.clock = clock
        self.scheduler: SchedulerService | None = None
        self.pool: WorkerPool | None = None
        self.process: WorkerProcess | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.scheduler is not None or self.pool is not None or self.process is not None

    def start(self, *, scheduler: bool = True, workers: int | None = None) -> None:
        with self._lock:
            if scheduler and self.scheduler is None:
                from scheduler.service import SchedulerService

                self.scheduler = SchedulerService(self.runtime)
                self.scheduler.step()  # take the lease now if it is free, so the header is right at once
                self.scheduler.start()
            size = workers if workers is not None else self.runtime.settings.workers
            if self.runtime.settings.console_workers == "thread":
                if self.pool is None:
                    self.pool = WorkerPool(self.runtime.bus, size, label="console").start()
            elif self.process is None:  # handlers run in a child process: typing never waits for them
                from core.bus.process import WorkerProcess

                self.process = WorkerProcess(self.runtime.settings, size).start()

    def supervise(self) -> bool:
        """Restart the worker process if it died (called by the console's periodic check)."""
        return self.process.ensure_running() if self.process is not None else False

    def adopt_pool(self, pool: WorkerPool) -> None:
        """Use a pool started elsewhere (tests): it is stopped with the console."""
        self.pool = pool

    def stop(self, grace: float = 30.0) -> list[int]:
        """Stop the scheduler (releasing the lease) and the workers; returns released messages."""
        with self._lock:
            scheduler, self.scheduler = self.scheduler, None
            pool, self.pool = self.pool, None
            process, self.process = self.process, None
        if scheduler is not None:
            try:
                scheduler.stop()
            except Exception:  # the workers must still stop
                log.exception("stopping the scheduler failed")
        if process is not None:
            process.stop(grace)
        return pool.stop(grace) if pool is not None else []

    def view(self) -> SchedulerView:
        """What to show about the scheduler: ours when we lead, else who leads (reads the database)."""
        if self.scheduler is not None:
            status = self.scheduler.status()
            runs = list(status.jobs)
            if status.is_leader:
                return SchedulerView("leader here", runs)
            if status.attached_to:
                return SchedulerView(f"attached to daemon on {status.attached_to}", runs)
            return SchedulerView("waiting for the scheduler lease", runs)
        from core.views.dashboard import scheduler_lease
        from scheduler.service import next_runs

        runs = next_runs(self.runtime.settings, self.clock())
        lease = scheduler_lease(self.runtime.db)
        if lease is not None and lease.expires_at > self.clock():
            return SchedulerView(f"attached to daemon on {daemon_host(lease.holder)}", runs)
        return SchedulerView("no scheduler running here", runs)
