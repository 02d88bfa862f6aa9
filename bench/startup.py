"""Start-up times (issue 14.3), each the median of N fresh processes, next to its floor.

    expensis --help               target <= 0.3 s   floor: python -c "import click"
    expensis messages list --json target <= 0.5 s   floor: import click, then the same query
                                                           with sqlite3 printed as JSON (the
                                                           command reads through core.quickread,
                                                           without SQLAlchemy)
    console first paint (showcase) target <= 1.2 s  floor: a Textual app with one Static
                                                           painting in the same terminal

Each is timed as installed, bytecode cached (after one warm-up run; PYTHONDONTWRITEBYTECODE
is dropped). First paint is timed under a pseudo-terminal: from spawning the process to the first
frame that shows the dashboard's title.
Run: python bench/startup.py [--repeat 10] [--code /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import resource
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PY = sys.executable
# As installed: bytecode cached (a session's PYTHONDONTWRITEBYTECODE would time the compiler).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
       "PYTHONPATH": str(ROOT), "EXPENSIS_CONFIG": "/nonexistent/none.toml"}

_FLOOR_LIST = """
import sqlite3, sys, json, click
c = sqlite3.connect(sys.argv[1])
rows = c.execute("SELECT * FROM message ORDER BY id DESC LIMIT 50").fetchall()
print(json.dumps([list(map(str, r)) for r in rows]))
"""

_FLOOR_PAINT = """
from textual.app import App
from textual.widgets import Header, Static
class Floor(App):
    TITLE = "Dashboard"
    def compose(self):
        yield Header()
        yield Static("floor")
Floor().run()
"""


class Timing(float):
    """A median wall time that also carries the median CPU time (user + system) of the same
    runs: on a loaded shared machine the CPU seconds vary far less than the wall seconds."""

    cpu: float

    def __new__(cls, wall: list[float], cpu: list[float]) -> Timing:
        timing = super().__new__(cls, statistics.median(wall))
        timing.cpu = statistics.median(cpu)
        return timing


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(args: list[str], repeat: int) -> Timing:
    """Median wall (and CPU) time of `args` run to completion, output discarded."""
    times, cpu = [], []
    subprocess.run(args, env=ENV, cwd=ENV["PYTHONPATH"], stdout=subprocess.DEVNULL, check=True)  # warm-up
    for _ in range(repeat):
        started, cpu_before = time.perf_counter(), _children_cpu()
        subprocess.run(args, env=ENV, cwd=ENV["PYTHONPATH"], stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
        cpu.append(_children_cpu() - cpu_before)
    return Timing(times, cpu)


def first_paint(args: list[str], marker: bytes, timeout: float = 30.0) -> tuple[float, float]:
    """Seconds from spawn until `marker` appears on the pseudo-terminal, and the CPU seconds
    the process had used by then; the process group is then killed (it is ours: pty.fork
    made the child a session leader)."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.execve(args[0], args, {**ENV, "TERM": "xterm-256color", "COLORTERM": "truecolor"})
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    seen = b""
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen = (seen + chunk)[-200_000:]
            if marker in seen:
                painted = time.perf_counter() - started
                os.killpg(pid, signal.SIGSTOP)  # its CPU time up to the paint, not after
                return painted, _cpu_of(pid)
        raise RuntimeError(f"no {marker!r} on screen within {timeout} s: {seen[-500:]!r}")
    finally:
        os.killpg(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def _cpu_of(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def showcase_dir(root: Path) -> Path:
    from core.db import Database, ensure_schema
    from expensis_tui.showcase import build, settings_for

    data = root / "showcase"
    data.mkdir()
    settings = settings_for(data)
    db = Database(settings.database_url)
    ensure_schema(db)
    build(db, settings)
    db.dispose()
    return data


def line(name: str, figure: Timing, floor: Timing, target: float) -> str:
    verdict = "met" if figure <= target else "NOT met"
    return (f"{name:<34} {figure:6.3f} s   floor {floor:6.3f} s   ratio {figure / floor:4.1f}x"
            f"   target <= {target} s: {verdict}\n{'':<34} cpu {figure.cpu:6.3f} s   floor "
            f"{floor.cpu:6.3f} s   ratio {figure.cpu / floor.cpu:4.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="Checkout whose code is timed (e.g. another worktree, for a before).")
    args = parser.parse_args()
    ENV["PYTHONPATH"] = str(args.code)
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
          f"{os.cpu_count()} cores, median of {args.repeat} runs")
    root = Path(tempfile.mkdtemp(prefix="expensis-startup-"))
    try:
        data = showcase_dir(root)
        db_file = data / "expensis.sqlite3"
        cli = [PY, "-m", "expensis_tui", "--data-dir", str(data)]
        python_pass = timed_run([PY, "-c", "pass"], args.repeat)
        print(f"{'python -c pass':<34} {python_pass:6.3f} s   cpu {python_pass.cpu:6.3f} s")
        print(line("expensis --help", timed_run([*cli, "--help"], args.repeat),
                   timed_run([PY, "-c", "import click"], args.repeat), 0.3))
        print(line("expensis messages list --json",
                   timed_run([*cli, "messages", "list", "--json"], args.repeat),
                   timed_run([PY, "-c", _FLOOR_LIST, str(db_file)], args.repeat), 0.5))
        first_paint(cli, b"Dashboard")  # warm-up: bytecode written
        paints = [first_paint(cli, b"Dashboard") for _ in range(args.repeat)]
        floors = [first_paint([PY, "-c", _FLOOR_PAINT], b"Dashboard") for _ in range(args.repeat)]
        print(line("console first paint (showcase)", Timing([w for w, _ in paints], [c for _, c in paints]),
                   Timing([w for w, _ in floors], [c for _, c in floors]), 1.2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
