"""Issue 10: a sync that quarantined rows says so everywhere it reports."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from core.bus import Bus, run_until_idle
from core.bus.command import default_registry
from core.bus.deps import HandlerDeps
from core.bus.follow import progress_of
from core.config import load_settings
from core.db import Database, ensure_schema
from core.models import Cdr, ImportBatch, Operator, SyncProfile, SyncTask
from core.security.secrets import SecretBox
from core.setup import apply_setup
from core.workflows.sync import WITH_WARNINGS, start_manual_sync
from providers.sandbox import SandboxServer
from tests.factories import HEADER
from tests.sync_support import make_world
from tests.test_cli_totals import cli

MONTH = "2026-09"
A = "+31610000001"


def test_quarantined_rows_and_reconciliation_show_in_the_task(sqlite_db: Database, sandbox: SandboxServer,
                                                              tmp_path: Path) -> None:
    world = make_world(sqlite_db, sandbox, tmp_path, ["routit"], faults={"routit": {"malformed_rows": 5}})
    with world.db.reader() as s:
        profile = s.scalars(select(SyncProfile.id)).one()
    start = start_manual_sync(world.bus, profile, MONTH, operator="test")
    run_until_idle(world.bus)
    with world.db.reader() as s:
        task = s.get_one(SyncTask, start.task_id)
        held = s.scalar(select(func.count()).select_from(Cdr))
        quarantined = s.scalars(select(ImportBatch.quarantined)).one()
    assert task.status == WITH_WARNINGS and quarantined >= 5
    assert (task.error_message or "").startswith(f"{held:,} imported, {quarantined} quarantined; provider reports")
    progress = progress_of(world.bus, [start.workflow_id])  # done, not failed: warnings only
    assert progress.done and (progress.note or "").endswith(f"; {task.error_message}")


SETUP = """
[[customer]]
code = "LOCAL"
name = "Local files"
rateplan_customer = false
  [[customer.subscription]]
  number = "{number}"
  start_date = 2025-01-01
  [[customer.sync_profile]]
  name = "local-files"
  provider = "csv_file"
  base_url = "{source}"
"""


def csv_source(tmp_path: Path, rows: list[str]) -> Path:
    source = tmp_path / "cdrs"
    source.mkdir()
    (source / f"cdrs-{MONTH}.csv").write_text(",".join(HEADER) + "\n" + "\n".join(rows) + "\n")
    return source


def csv_world(tmp_path: Path, rows: list[str]) -> Path:
    """A data dir whose database has one customer with a csv_file profile over `rows`."""
    source = csv_source(tmp_path, rows)
    data = tmp_path / "data"
    settings = load_settings(data_dir=data)
    db = Database(settings.database_url)
    ensure_schema(db)
    apply_setup(db, SETUP.format(number=A, source=source), secrets=SecretBox.from_settings(settings),
                operator="test")
    with db.transaction() as s:
        s.add(Operator(username="alice", role="operator"))  # the CLI helper's operator
    db.dispose()
    return data


def test_a_csv_file_profile_with_a_bad_row_completes_with_warnings(db: Database, tmp_path: Path) -> None:
    """The 9999 row used to fail the sync on every retry; now it is one quarantined row."""
    source = csv_source(tmp_path, [f"ok1,{A},2026-09-02T10:00:00+02:00,voice,,60,0,0.10",
                                   f"late,{A},9999-12-31T23:59:59+00:00,voice,,60,0,0.10",
                                   f"ok2,{A},2026-09-03T10:00:00+02:00,sms,,0,0,0.05"])
    settings = load_settings(data_dir=tmp_path / "data")
    apply_setup(db, SETUP.format(number=A, source=source), secrets=SecretBox.from_settings(settings),
                operator="test")
    bus = Bus(db, default_registry, backoff_base=0.0, deps=HandlerDeps(settings))
    with db.reader() as s:
        profile = s.scalars(select(SyncProfile.id)).one()
    start = start_manual_sync(bus, profile, MONTH, operator="test")
    run_until_idle(bus)
    with db.reader() as s:
        task = s.get_one(SyncTask, start.task_id)
        batch = s.scalars(select(ImportBatch)).one()
    assert (task.status, task.error_message) == (WITH_WARNINGS, "2 imported, 1 quarantined")
    assert (batch.status, batch.imported, batch.quarantined) == ("completed", 2, 1)


def test_the_cli_says_how_many_were_quarantined(tmp_path: Path) -> None:
    data = csv_world(tmp_path, [f"ok1,{A},2026-09-02T10:00:00+02:00,voice,,60,0,0.10",
                                f"bad,{A},2026-09-02T10:00:00+02:00,voice,,60,0,0.00001"])
    code, out, err = cli(data, "sync", "run", "local-files", "--month", MONTH, "--wait")
    assert code == 0, err
    assert "sync completed with warnings: 1 imported, 1 quarantined" in out
    code, out, _ = cli(data, "sync", "tasks", "--status", WITH_WARNINGS)
    assert code == 0 and "1 imported, 1 quarantined" in out
