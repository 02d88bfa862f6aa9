"""A worker child process (`expensis worker`), supervised by the console.

The console runs its bus workers in a child process rather than in threads: a
CPU-bound handler (an import of 200,000 CDRs) in the console's own process would
hold the GIL and make key presses wait seconds. The child stops on SIGTERM,
finishing or releasing its message, like any `expensis worker`.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from core.config import Settings
from core.security.files import private_dir, private_file

log = logging.getLogger(__name__)


class WorkerProcess:
    def __init__(self, settings: Settings, threads: int, *, log_file: Path | None = None) -> None:
        self.settings = settings
        self.threads = threads
        self.log_file = log_file or settings.logs / "console-worker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._lock = threading.Lock()

    def command(self) -> list[str]:
        s = self.settings
        argv = [sys.executable, "-m", "expensis_tui", "--db", s.database_url, "--data-dir", str(s.data_dir)]
        if s.config_file is not None:
            argv += ["--config", str(s.config_file)]
        if s.operator:
            argv += ["--operator", s.operator]
        return [*argv, "worker", "--threads", str(self.threads)]

    def start(self) -> WorkerProcess:
        with self._lock:
            if self.alive:
                return self
            private_dir(self.log_file.parent)
            env = dict(os.environ)
            if self.settings.allow_operator_override:  # the child acts as the same operator
                env["EXPENSIS_ALLOW_OPERATOR_OVERRIDE"] = "1"
            with private_file(self.log_file).open("ab") as out:
                self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                                stderr=out, env=env, start_new_session=True)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def ensure_running(self) -> bool:
        """Restart a worker that died; True when a restart was needed."""
        if self.process is not None and not self.alive:
            log.warning("console worker process exited with %s; restarting", self.process.returncode)
            self.restarts += 1
            self.process = None
            self.start()
            return True
        return False

    def stop(self, grace: float = 30.0) -> int | None:
        """SIGTERM, wait `grace` seconds (it finishes or releases its work), then SIGKILL."""
        with self._lock:
            process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return process.returncode if process is not None else None
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(grace + 5)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(5)
