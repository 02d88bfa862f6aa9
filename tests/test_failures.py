"""A sync that gives up is a failure every view shows, and its one retry syncs again without duplicates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.billing import mail
from core.bus import run_until_idle
from core.config import load_settings
from core.db import Database
from core.models import AuditLog, Cdr, Message, SyncProfile, SyncTask
from core.runtime import Runtime
from core.views.failures import count_failures, get_failure, list_failures
from core.workflows.sync import start_manual_sync
from expensis_tui.cli import main
from providers.sandbox import SandboxServer
from tests.sync_support import SyncWorld, make_world
from tests.test_mail import Inbox, start_server, with_smtp

MONTH = "2026-09"
REF = "VODAFONE-REF"


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    controller, inbox = start_server()
    yield inbox
    controller.stop()


def url_of(db: Database) -> str:
    return db.engine.url.render_as_string(hide_password=False)


def failed_sync(db: Database, sandbox: SandboxServer, tmp_path: Path) -> tuple[SyncWorld, int]:
    world = make_world(db, sandbox, tmp_path, ["vodafone"], faults={"vodafone": {"server_error": True}})
    with db.reader() as s:
        profile = s.scalars(select(SyncProfile.id)).one()
    start = start_manual_sync(world.bus, profile, MONTH, operator="test")
    run_until_idle(world.bus)
    with db.reader() as s:
        task = s.get_one(SyncTask, start.task_id)
    assert (task.status, task.totals_anyway) == ("failed", True)  # the chain went on: messages all `done`
    return world, start.task_id


def cli(db: Database, tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--db", url_of(db), "--data-dir", str(tmp_path), "--operator", "test",
                                       *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_a_sync_that_gave_up_is_a_failure_in_status_and_the_failures_list(
        db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world, task_id = failed_sync(db, sandbox, tmp_path)
    with db.reader() as s:
        assert s.scalar(select(func.count()).where(Message.status == "failed")) == 0
    ref = f"sync-{task_id}"

    code, out = cli(db, tmp_path, "status", "--json")
    assert code == 0
    status = json.loads(out)
    assert status["failed"] == 1
    [failure] = status["failures"]
    assert failure["ref"] == ref and "HTTP 500" in failure["error"]
    assert failure["subject"] == "vodafone-profile (VODAFONE 2026-09)"

    code, out = cli(db, tmp_path, "failures", "list")
    assert code == 0 and ref in out and "totals calculated anyway" in out

    detail = get_failure(db, ref)
    assert [a.number for a in detail.attempts] == [1, 2, 3]  # max_attempts in the world is 3
    assert [a.outcome for a in detail.attempts] == ["retrying", "retrying", "gave_up"]
    assert all("HTTP 500" in a.error for a in detail.attempts)
    assert detail.attempts[0].at <= detail.attempts[1].at <= detail.attempts[2].at
    code, out = cli(db, tmp_path, "failures", "show", ref)
    assert code == 0 and "attempts:" in out and out.count("HTTP 500") >= 4
    assert f"expensis failures retry {ref}" in out
    code, out = cli(db, tmp_path, "messages", "show", str(detail.message_ids[1]))  # the VodafoneSync step
    assert code == 0 and "[done]" in out and "gave_up: " in out and out.count("HTTP 500") >= 3


def test_unknown_or_malformed_failure_references(sqlite_db: Database, tmp_path: Path) -> None:
    assert cli(sqlite_db, tmp_path, "failures", "show", "sync-9999")[0] == 4
    assert cli(sqlite_db, tmp_path, "failures", "retry", "sync-9999")[0] == 4
    code, out = cli(sqlite_db, tmp_path, "failures", "show", "banana")
    assert code == 2 and "sync-N" in out


def test_the_digest_mail_lists_the_failed_sync_with_its_error(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path, smtp_server: Inbox) -> None:
    before = datetime.now(UTC) - timedelta(minutes=1)
    _, task_id = failed_sync(sqlite_db, sandbox, tmp_path)
    settings = with_smtp(tmp_path / "mail", smtp_server.port)
    now = datetime.now(UTC) + timedelta(minutes=1)
    assert [f.ref for f in mail.failures_between(sqlite_db, before, now)] == [f"sync-{task_id}"]
    assert mail.send_failure_digest(sqlite_db, settings, now).startswith("digest of 1 failure")
    [digest] = smtp_server.messages
    body = bytes(digest.get_payload(decode=True)).decode()  # type: ignore[arg-type]
    assert f"sync-{task_id}" in body and "HTTP 500" in body and "expensis failures retry" in body


def test_retry_of_a_cleared_fault_completes_with_each_cdr_once(
        db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    world, task_id = failed_sync(db, sandbox, tmp_path)
    sandbox.clear_faults("vodafone", REF)
    code, out = cli(db, tmp_path, "failures", "retry", f"sync-{task_id}", "--wait")
    assert code == 0, out
    assert "completed" in out
    with db.reader() as s:
        task = s.scalars(select(SyncTask).order_by(SyncTask.id.desc())).first()
        assert task is not None and task.id != task_id and task.status == "completed"
        cdrs = s.scalar(select(func.count()).select_from(Cdr))
        distinct = s.scalar(select(func.count(func.distinct(Cdr.provider_ref))))
        audit = s.scalars(select(AuditLog.detail).where(AuditLog.action == "failures.retry")).one()
    assert cdrs == task.expected_cdrs == distinct == 4 * 10  # 4 subscriptions × 10 CDRs (make_world)
    assert f"failed sync task {task_id} retried as task {task.id}" in (audit or "")
    assert count_failures(db) == 0 and list_failures(db) == []
    # the same retry again: the failure is gone (replaced by the new sync)
    assert cli(db, tmp_path, "failures", "retry", f"sync-{task_id}")[0] == 4


@pytest.mark.anyio
async def test_the_dashboard_counts_and_lists_the_failed_sync(
        sqlite_db: Database, sandbox: SandboxServer, tmp_path: Path) -> None:
    from expensis_tui.app import ExpensisApp
    from expensis_tui.screens.failures import FailuresScreen
    from expensis_tui.showcase import screen_text
    from expensis_tui.widgets.keyed_table import KeyedTable
    from expensis_tui.widgets.text_view import TextViewScreen

    _, task_id = failed_sync(sqlite_db, sandbox, tmp_path)
    rt = Runtime(load_settings(data_dir=tmp_path, db_url=url_of(sqlite_db), overrides={"operator": "test"}))
    try:
        app = ExpensisApp(rt, start_services=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            queue = str(app.screen.query_one("#queue-figures").render())
            assert "failed 1" in queue
            table = app.screen.query_one("#failures", KeyedTable)
            assert table.row_count == 1
            row = [str(c) for c in table.get_row_at(0)]
            assert row[0] == f"sync-{task_id}" and "HTTP 500" in row[3]
            await pilot.press("f")  # the failures window: the full error of the selected one, wrapped
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, FailuresScreen)
            error = str(app.screen.query_one("#failure-error").render())
            assert "HTTP 500" in error and "totals calculated with the data already present" in error
            await pilot.press("enter")  # its attempts, with times
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, TextViewScreen)
            text = screen_text(app)
            assert "retrying" in text and "gave_up" in text
    finally:
        rt.close()


def test_a_file_import_that_stored_nothing_is_a_failure_everywhere_and_its_retry_imports_the_corrected_file(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen in an operator's run of broken files: `cdr import` exited 1 and the audit said
    "failed", but `failures list` said "no failures", so an import run by a script at night
    reached no screen and no digest. A file import that stored nothing is now a failure; its
    retry imports the file at the same path again (corrected in place, it replaces the failure)."""
    from tests.factories import HEADER, make_setup, write_cdrs

    make_setup(db)
    before = datetime.now(UTC) - timedelta(minutes=1)
    path = write_cdrs(tmp_path / "night.csv", [("n1", "+31610000001", "2026-10-01T10:00:00+02:00", "voice", "",
                                                60, 0, "0.1")], header=[h for h in HEADER if h != "call_date"])
    assert cli(db, tmp_path, "cdr", "import", str(path), "--provider", "csv_file")[0] == 1
    [failure] = list_failures(db)
    ref = failure.ref
    assert ref.startswith("import-") and failure.subject == "csv_file night.csv"
    assert failure.what == "CDR import stopped" and "call_date" in failure.error
    assert failure.retry == f"import {path} again as csv_file"
    code, out = cli(db, tmp_path, "status", "--json")
    assert json.loads(out)["failed"] == 1 and json.loads(out)["failures"][0]["ref"] == ref
    code, out = cli(db, tmp_path, "failures", "list", "--kind", "import")
    assert code == 0 and ref in out and "csv_file night.csv: CDR import stopped" in out
    code, out = cli(db, tmp_path, "failures", "show", ref)
    assert code == 0 and f"expensis failures retry {ref}" in out
    now = datetime.now(UTC) + timedelta(minutes=1)
    assert [f.ref for f in mail.failures_between(db, before, now)] == [ref]

    # retried as it is: it stops again, says so (exit 1), and the new batch is the open failure
    code, out = cli(db, tmp_path, "failures", "retry", ref)
    assert code == 1 and "night.csv stopped again" in out
    [again] = list_failures(db)
    assert again.ref != ref and again.subject == failure.subject

    # corrected in place: imported, nothing open, the retry audited
    write_cdrs(path, [("n1", "+31610000001", "2026-10-01T10:00:00+02:00", "voice", "", 60, 0, "0.1")])
    code, out = cli(db, tmp_path, "failures", "retry", again.ref)
    assert code == 0 and "imported 1" in out and "touched" in out
    assert count_failures(db) == 0
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Cdr)) == 1
        details = s.scalars(select(AuditLog.detail).where(AuditLog.action == "failures.retry")
                            .order_by(AuditLog.id)).all()
    assert len(details) == 2 and "imported again as batch" in (details[1] or "")

    # every row bad: a failure that points at the quarantine; the file gone: the retry says so.
    # Named relative to the directory the import ran in, the batch keeps the whole path (the
    # console that retries runs elsewhere: seen as "bad.csv is no longer there" while it was).
    bad = write_cdrs(tmp_path / "bad.csv", [("b1", "+31699999999", "2026-10-01T10:00:00+02:00", "voice", "", 1, 0,
                                             "0.1")])
    monkeypatch.chdir(tmp_path)
    assert cli(db, tmp_path, "cdr", "import", "bad.csv", "--provider", "csv_file")[0] == 1
    monkeypatch.chdir(tmp_path.parent)
    [quarantined] = list_failures(db)
    assert quarantined.what == "CDR import stored nothing: all 1 row(s) quarantined"
    assert f"expensis cdr quarantine {quarantined.id}" in quarantined.error
    assert quarantined.retry == f"import {bad} again as csv_file"
    code, out = cli(db, tmp_path, "failures", "retry", quarantined.ref)  # found from another directory
    assert code == 1 and "stored nothing again" in out
    [quarantined] = list_failures(db)
    bad.unlink()
    code, out = cli(db, tmp_path, "failures", "retry", quarantined.ref)
    assert code == 1 and "is no longer there" in out and "expensis cdr import FILE --provider csv_file" in out
