"""The console's worker child ends with the console, however the console ends (real processes, tmux)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from expensis_tui.launch import HANGUP_EXIT_DEADLINE_S

ROOT = Path(__file__).resolve().parent.parent
LEASE_S = 60  # the default bus lease: nothing of the console may outlive it


def tmux_or_skip() -> str:
    found = shutil.which("tmux")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing on CI (.ci/run installs it)")
        pytest.skip("tmux is not installed")
    return found


class Tmux:
    """A private tmux server (its own socket), killed with everything in it at the end."""

    def __init__(self, binary: str) -> None:
        self.name = f"expensis-test-{uuid.uuid4().hex[:8]}"
        self.argv = [binary, "-L", self.name, "-f", "/dev/null"]

    def __call__(self, *args: str) -> str:
        return subprocess.run([*self.argv, *args], check=True, capture_output=True, text=True,
                              timeout=10).stdout.strip()

    def close(self) -> None:
        subprocess.run([*self.argv, "kill-server"], capture_output=True, timeout=10)
        socket_dir = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (socket_dir / self.name).unlink(missing_ok=True)  # kill-server leaves the socket file


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(tmux_or_skip())
    yield server
    server.close()


def processes_using(data_dir: Path) -> dict[int, str]:
    """pid → command line of every process started with this data directory."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(data_dir).encode() in argv:
            found[int(entry.name)] = " ".join(a.decode() for a in argv if a)
    return found


def wait_for(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_console(tmux: Tmux, data_dir: Path) -> tuple[int, int]:
    """The console in an 80×24 tmux session; returns (console pid, worker pid) once both run."""
    command = (f"env PYTHONPATH={ROOT} TERM=xterm-256color "
               f"{sys.executable} -m expensis_tui --data-dir {data_dir}")
    tmux("new-session", "-d", "-s", "console", "-x", "80", "-y", "24", command)
    tmux("set-option", "-t", "console", "remain-on-exit", "on")

    def both() -> tuple[int, int] | None:
        procs = processes_using(data_dir)
        workers = [pid for pid, argv in procs.items() if " worker " in f" {argv} "]
        consoles = [pid for pid, argv in procs.items() if " worker " not in f" {argv} "]
        return (consoles[0], workers[0]) if workers and consoles else None

    return wait_for(both, 60, "the console and its worker process")  # type: ignore[no-any-return]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie has ended; only its parent has not read its status yet
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")


@pytest.mark.parametrize("how", ["closed terminal", "SIGTERM", "SIGHUP", "SIGKILL"])
def test_the_worker_child_ends_with_the_console(tmux: Tmux, tmp_path: Path, how: str) -> None:
    data_dir = tmp_path / "data"
    console, worker = start_console(tmux, data_dir)
    try:
        if how == "closed terminal":
            tmux("kill-session", "-t", "console")  # what a dropped SSH connection does
        else:
            os.kill(console, getattr(signal, how))
        wait_for(lambda: gone(worker), LEASE_S, f"the worker {worker} to end after {how} of the console")
        # after a hangup (the terminal gone) it ends within its short deadline: it once waited
        # 30 s on Textual's writer thread before the general deadline ended it
        within = HANGUP_EXIT_DEADLINE_S + 10 if how in ("closed terminal", "SIGHUP") else LEASE_S
        wait_for(lambda: gone(console), within, f"the console {console} to end after {how}")
        if how in ("SIGTERM", "SIGHUP"):  # the terminal is left as it was: off the alternate screen
            state = wait_for(lambda: (s := tmux("display-message", "-p", "-t", "console",
                                                "#{pane_dead} #{alternate_on}")).startswith("1") and s,
                             10, "the pane to show the console ended")
            assert state == "1 0"
    finally:
        for pid in processes_using(data_dir):  # never leave a process behind, even on failure
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not processes_using(data_dir)


def test_without_a_terminal_the_console_points_to_the_daemon_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "expensis_tui", "--data-dir", str(tmp_path)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2
    assert result.stdout == ""  # no escape codes into the pipe
    assert len(result.stderr.strip().splitlines()) == 1
    assert "expensis daemon" in result.stderr and "--help" in result.stderr


def test_a_hangup_gives_the_console_a_short_deadline_and_sigterm_the_long_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """After SIGHUP (the terminal gone: a dropped SSH connection) the console once lingered
    30 s: Textual's exit blocked on its writer thread (LinuxDriver.close in WriterThread.stop,
    seen in the suite and by hand, now and then) until the signal deadline ended it. A hangup
    has nothing to restore and its services stop before that step: a 5 s deadline."""
    from expensis_tui import launch

    timers: list[tuple[float, tuple[int, ...]]] = []

    class Deadline:
        daemon = False

        def __init__(self, seconds: float, _exit: object, args: tuple[int, ...]) -> None:
            timers.append((seconds, args))

        def start(self) -> None:
            pass

    class GoneApp:
        def call_from_thread(self, *_: object) -> None:
            raise RuntimeError("the app is already gone")

    monkeypatch.setattr(launch.threading, "Timer", Deadline)
    launch._exit_app(GoneApp(), signal.SIGHUP)
    launch._exit_app(GoneApp(), signal.SIGTERM)
    assert timers == [(launch.HANGUP_EXIT_DEADLINE_S, (129,)), (launch.SIGNAL_EXIT_DEADLINE_S, (143,))]
    assert launch.HANGUP_EXIT_DEADLINE_S <= 5 < launch.SIGNAL_EXIT_DEADLINE_S
