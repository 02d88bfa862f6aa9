"""The headless daemon: a worker pool, plus the scheduler whenever this process is elected.

Logs go to a rotating file in the log directory and to stderr. SIGTERM or
SIGINT stops it cleanly: the schedule stops (a running job may finish), the
pool finishes or releases its running messages, the lease is released so a
standby daemon takes over at once, and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING

from core.bus import WorkerPool
from core.config import Settings
from core.security.files import PrivateRotatingFileHandler, private_dir
from scheduler.service import SchedulerService

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger(__name__)

LOG_FILE = "expensis-daemon.log"
LOG_MAX_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 5
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("apscheduler", "httpx", "httpcore")  # a line per job run or request is noise


def configure_logging(settings: Settings, level: int = logging.INFO) -> Path:
    """Add the rotating log file (and stderr, if nothing logs there yet); returns the file."""
    private_dir(settings.logs)
    path = settings.logs / LOG_FILE
    root = logging.getLogger()
    if not any(isinstance(h, RotatingFileHandler) and Path(h.baseFilename) == path.resolve()
               for h in root.handlers):
        handler = PrivateRotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                             encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(handler)
    if not any(isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.stderr
               for h in root.handlers):
        stderr = logging.StreamHandler(sys.stderr)
        stderr.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(stderr)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    return path


class Daemon:
    """A worker pool and a scheduler service sharing one runtime."""

    def __init__(self, runtime: Runtime, *, threads: int = 4, grace: float = 30.0,
                 lease_ttl_s: float | None = None, probe_every_s: float | None = None) -> None:
        self.runtime = runtime
        self.threads = threads
        self.grace = grace
        self.pool = WorkerPool(runtime.bus, threads, label="daemon")
        self.scheduler = SchedulerService(runtime, ttl_s=lease_ttl_s, probe_every_s=probe_every_s)

    def start(self) -> Daemon:
        self.pool.start()
        self.scheduler.start()
        log.info("daemon %s running %d worker thread(s); scheduler lease TTL %.0f s",
                 self.scheduler.holder, self.threads, self.scheduler.lease.ttl.total_seconds())
        return self

    def stop(self) -> list[int]:
        """Stop scheduling first (no new work), then the pool; returns the released message ids."""
        log.info("daemon stopping")
        self.scheduler.stop()  # hands the lease back at once: a standby leads within its poll
        released = self.pool.stop(self.grace)
        log.info("daemon stopped; released %d unfinished message(s)", len(released))
        return released

    def run(self, stop: threading.Event) -> int:
        self.start()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()
        return 0


def run_daemon(runtime: Runtime, *, threads: int = 4, grace: float = 30.0,
               lease_ttl_s: float | None = None, probe_every_s: float | None = None) -> int:
    """Run until SIGTERM or SIGINT; returns the exit code (0 after a clean stop)."""
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        if stop.is_set():
            log.info("already stopping (signal %d)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon = Daemon(runtime, threads=threads, grace=grace, lease_ttl_s=lease_ttl_s,
                    probe_every_s=probe_every_s)
    return daemon.run(stop)
