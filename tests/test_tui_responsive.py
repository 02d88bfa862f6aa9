"""A background import of 200,000 CDRs does not stop the console answering keys.

The console runs bus work in a worker process (core/bus/process.py), so the import
here runs the same way: `expensis cdr import` in another process on the same
database. Not a timing benchmark: the assertion is about order. Every key press is
handled (the screen changes) while the import is still running. The file is a named
pipe the test writes: the import works through the first rows while the keys arrive
and cannot end before the last key is answered, however fast the import gets.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.bus.process import WorkerProcess
from core.models import ImportBatch
from core.runtime import Runtime
from expensis_tui.app import ExpensisApp
from expensis_tui.screens.audit import AuditScreen
from expensis_tui.screens.dashboard import DashboardScreen
from expensis_tui.screens.profiles import ProfilesScreen
from expensis_tui.screens.tasks import TasksScreen
from expensis_tui.screens.totals import TotalsScreen
from expensis_tui.showcase import frozen_clock, settle

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
CDRS = 200_000
ROOT = Path(__file__).resolve().parent.parent


def month_lines() -> list[str]:
    start = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(["provider_ref", "number", "call_date", "call_type", "destination", "duration_s",
                  "volume_kb", "provider_cost"])
    for i in range(CDRS):
        out.writerow([f"bg-{i:07d}", "+31610000001", (start + timedelta(seconds=7 * i)).isoformat(),
                      "voice", "+31201234567", 60 + i % 300, 0, "0.0123"])
    return buffer.getvalue().splitlines(keepends=True)


def feed_month(path: Path, held_back: threading.Event) -> threading.Thread:
    """Write the month into the named pipe `path`: all but the last 1,000 rows at once,
    the rest when `held_back` is set (or after 120 s, so a failing test never hangs)."""
    lines = month_lines()
    os.mkfifo(path)

    def feed() -> None:
        with path.open("w") as pipe:
            pipe.writelines(lines[:-1000])
            pipe.flush()
            held_back.wait(120)
            pipe.writelines(lines[-1000:])

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    return thread


def batch_started(rt: Runtime) -> bool:
    with rt.db.reader() as s:
        return s.query(ImportBatch).filter(ImportBatch.source.like("%month.csv")).count() > 0


async def test_keys_are_answered_while_200000_cdrs_import(rt: Runtime, tmp_path: Path) -> None:
    month, keys_answered = tmp_path / "month.csv", threading.Event()
    feeder = feed_month(month, keys_answered)
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        importer = subprocess.Popen(
            [sys.executable, "-m", "expensis_tui", "--db", rt.settings.database_url, "--data-dir",
             str(rt.settings.data_dir), "--operator", rt.operator, "cdr", "import", str(month),
             "--provider", "kpn_sp16"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while not batch_started(rt):
            if importer.poll() is not None:  # it ended before starting: say why, never wait forever
                raise AssertionError(f"the import ended early: {importer.communicate()[1].decode()}")
            await pilot.pause(0.05)
        answered_during_import = 0
        for key, screen in [("2", ProfilesScreen), ("3", TasksScreen), ("4", TotalsScreen),
                            ("5", AuditScreen), ("1", DashboardScreen)] * 2:
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, screen), f"key {key} was not answered"
            if importer.poll() is None:
                answered_during_import += 1
        keys_answered.set()
        out, err = importer.communicate(timeout=120)
        feeder.join(10)
    assert importer.returncode == 0, err
    assert f"imported {CDRS}" in out.decode()
    assert answered_during_import == 10, "the console waited for the import"


def test_the_console_worker_process_runs_messages_and_stops_cleanly(rt: Runtime) -> None:
    from core.bus import WorkerPool  # noqa: F401  (the same handlers run in the child)
    from core.workflows.totals import dispatch_totals

    with rt.db.reader() as s:
        from core.models import Customer

        acme = s.query(Customer).filter_by(code="ACME").one()
    from core.rating.cycles import cycle_for_label

    message = dispatch_totals(rt.bus, acme.id, cycle_for_label("2026-09", acme.billing_day).start)
    worker = WorkerProcess(rt.settings, 1).start()
    try:
        from core.bus import wait_for

        deadline = datetime.now(UTC) + timedelta(seconds=60)
        final = wait_for(rt.bus, message, poll_seconds=0.2, should_stop=lambda: datetime.now(UTC) > deadline)
        assert final.done, final
        worker.process.kill()  # type: ignore[union-attr]  # a crash: the console restarts it
        worker.process.wait()  # type: ignore[union-attr]
        assert worker.ensure_running() and worker.alive and worker.restarts == 1
        while worker.log_file.read_text().count("running 1 thread") < 2:  # the new one is ready
            assert worker.alive
    finally:
        stopped = worker.stop(grace=10)
        assert stopped == 0, f"the worker ended with {stopped}; its log:\n{worker.log_file.read_text()[-4000:]}"
