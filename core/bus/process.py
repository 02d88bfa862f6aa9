"""A worker child process (`expensis worker`), supervised by the console.

The console runs its bus workers in a child process rather than in threads: a
CPU-bound handler (an import of 200,000 CDRs) in the console's own process would
hold the GIL and make key presses wait seconds. The console stops it with a word on
the pipe below ("stop <grace>"), and it finishes or releases its message within that
grace; like any `expensis worker` it also stops on SIGTERM, with its own `--grace`.

The child also watches its parent: it inherits the read end of a pipe whose write end
only the console holds. However the console ends (quit, SIGTERM, SIGHUP, SIGKILL, a
closed terminal), the kernel closes that write end and the child reads EOF, releases
its messages and exits. (prctl(PR_SET_PDEATHSIG) would not do: it fires when the
*thread* that started the child ends, and the console starts it from a worker thread.)
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

STOP_WORD = "stop"  # "stop <grace seconds>\n" on the pipe: the console's stop request (`expensis worker`)


class WorkerProcess:
    def __init__(self, settings: Settings, threads: int, *, log_file: Path | None = None) -> None:
        self.settings = settings
        self.threads = threads
        self.log_file = log_file or settings.logs / "console-worker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._lock = threading.Lock()
        self._parent_pipe: int | None = None  # the write end; never written, closed when we end

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
            self._close_pipe()
            read_end, write_end = os.pipe()  # both non-inheritable; pass_fds hands on the read end only
            try:
                with private_file(self.log_file).open("ab") as out:
                    self.process = subprocess.Popen(
                        [*self.command(), "--parent-pipe", str(read_end)], stdin=subprocess.DEVNULL,
                        stdout=out, stderr=out, env=env, start_new_session=True, pass_fds=(read_end,))
            except BaseException:
                os.close(write_end)
                raise
            finally:
                os.close(read_end)
            self._parent_pipe = write_end
        return self

    def _close_pipe(self) -> None:
        if self._parent_pipe is not None:
            os.close(self._parent_pipe)
            self._parent_pipe = None

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
        """Ask the child to stop within `grace` through its pipe (SIGTERM if the pipe is gone),
        wait `grace` + 5 s (it finishes or releases its work within `grace`), then SIGKILL.

        A SIGTERM alone would let the child wait its own `--grace` (30 s) for a running
        handler, and a console quitting with less patience would kill it, leaving the message
        claimed until its lease expired. Not both: the signal could overtake the word in the
        pipe, and the child would stop with its own grace after all.
        """
        with self._lock:
            process, self.process = self.process, None
        try:
            if process is None or process.poll() is not None:
                return process.returncode if process is not None else None
            try:
                if self._parent_pipe is None:
                    raise OSError("no pipe to the child")
                os.write(self._parent_pipe, f"{STOP_WORD} {max(grace, 0.0)}\n".encode())
            except OSError:  # the child closed its end (it is going already): signal it
                process.send_signal(signal.SIGTERM)
            try:
                return process.wait(grace + 5)
            except subprocess.TimeoutExpired:
                process.kill()
                return process.wait(5)
        finally:
            with self._lock:
                if self.process is None:
                    self._close_pipe()
