"""The console's read models (core/views) and profile actions (core/profiles): paged in SQL,
filtered, masked, audited; and the table screens with 100,000 rows underneath."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, insert, select

from core import profiles
from core.bus import WorkerPool, wait_for
from core.db import Database
from core.models import AuditLog, Customer, ImportBatch, Message, SyncProfile, SyncTask
from core.runtime import Runtime
from core.security.secrets import SecretBox
from core.views.audit import list_audit
from core.views.dashboard import imports_per_day, latest_failures, provider_syncs, scheduler_lease
from core.views.paging import MAX_PAGE_SIZE
from core.views.profiles import list_profiles, profile_detail
from core.views.tasks import list_steps, list_tasks, step_detail, task_detail
from core.views.totals import partner_plan, resolve_cycle, totals_overview
from core.workflows.totals import DispatchTotals
from expensis_tui.showcase import NOW, OCT, build, settings_for

BIG = 20_000  # a hundred times the largest page (MAX_PAGE_SIZE): what is read is cut in SQL
ZONE = ZoneInfo("Europe/Amsterdam")


@contextmanager
def recorded(db: Database) -> Iterator[list[str]]:
    """The SQL statements run on `db` inside the block."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


# -- listings --------------------------------------------------------------------------------

def test_tasks_page_with_current_step_and_filters(rt: Runtime) -> None:
    page = list_tasks(rt.db)
    assert [t.id for t in page.rows] == [5, 4, 3, 2, 1] and page.total == 5
    gamma = next(t for t in page.rows if t.id == 3)
    assert (gamma.customer_code, gamma.status, gamma.reason) == ("GAMMA", "failed", "invalid_credentials")
    assert (gamma.step, gamma.step_status, gamma.attempts) == ("ProviderSync", "failed", 1)
    assert [t.id for t in list_tasks(rt.db, status="failed").rows] == [4, 3]
    assert [t.id for t in list_tasks(rt.db, provider="tmobile").rows] == [5, 3]
    assert [t.id for t in list_tasks(rt.db, customer="AC").rows] == [4, 1]
    assert list_tasks(rt.db, offset=4, limit=2).rows[0].id == 1
    detail = task_detail(rt.db, 3)
    assert detail is not None and detail.failed_step is not None
    assert [s.command_type for s in detail.steps] == ["SyncProfile", "ProviderSync"]


def test_steps_page_filters_and_detail(rt: Runtime) -> None:
    failed = list_steps(rt.db, status="failed")
    assert [(s.command_type, s.subject) for s in failed.rows] == [
        ("ProviderSync", "ACME 2026-10"), ("ProviderSync", "GAMMA 2026-10")]
    assert list_steps(rt.db, customer="BETA").total == 2 + 5  # its sync steps and its totals workflow (rating and totals one step)
    assert all("Totals" in s.command_type for s in list_steps(rt.db, command="totals").rows)
    detail = step_detail(rt.db, failed.rows[1].id)
    assert detail is not None and detail.step.error == "PermanentError: provider refused the credentials (HTTP 401)"
    assert [s.status for s in detail.workflow] == ["done", "failed"]


def test_profiles_search_and_masked_detail(rt: Runtime) -> None:
    page = list_profiles(rt.db)
    assert [(p.customer_code, p.provider) for p in page.rows] == [
        ("ACME", "kpn_sp16"), ("ACME", "vodafone"), ("BETA", "routit"), ("GAMMA", "tmobile_calvi")]
    assert page.rows[0].last_status == "completed" and page.rows[1].last_reason == "timeout"
    assert [p.name for p in list_profiles(rt.db, search="Bouw").rows] == ["beta-routit"]
    assert list_profiles(rt.db, search="%").total == 0  # wildcards are literal
    detail = profile_detail(rt.db, page.rows[0].id, SecretBox.from_settings(rt.settings))
    assert detail is not None
    assert detail.credentials == {"password": "****", "username": "****"}
    assert "not-shown" not in repr(detail)
    assert [t.status for t in detail.recent] == ["completed"]
    unreadable = profile_detail(rt.db, page.rows[0].id, SecretBox(SecretBox.generate_key()))
    assert unreadable is not None and unreadable.credentials == {}
    assert "cannot be decrypted" in unreadable.credentials_note


def test_audit_filters(rt: Runtime) -> None:
    assert list_audit(rt.db).total == 6
    assert [r.action for r in list_audit(rt.db, operator="bob").rows] == ["totals.recalculate", "setup.apply"]
    assert [r.operator for r in list_audit(rt.db, action="profile.").rows] == ["carol", "alice", "alice"]
    assert [r.action for r in list_audit(rt.db, text="gamma").rows] == ["profile.schedule", "profile.credentials"]


def test_dashboard_figures(rt: Runtime) -> None:
    syncs = {p.provider: p for p in provider_syncs(rt.db)}
    assert (syncs["vodafone"].profiles, syncs["vodafone"].active, syncs["vodafone"].last_status) == (1, 0, "failed")
    assert syncs["tmobile_calvi"].last_status == "pending"  # its latest task
    per_day = imports_per_day(rt.db, NOW.astimezone(ZONE).date(), ZONE)
    assert len(per_day) == 14 and sum(per_day) > 0
    with rt.db.transaction() as s:  # 23:30 UTC on the 19th is the 20th in Amsterdam
        s.add(ImportBatch(provider="x", source="late", imported=7,
                          created_at=datetime(2026, 10, 19, 23, 30, tzinfo=UTC)))
    assert imports_per_day(rt.db, date(2026, 10, 20), ZONE)[-1] == per_day[-1] + 7
    # failures, not failed messages: gamma's failed sync and the refused add-on were replaced by newer ones
    assert [f.ref for f in latest_failures(rt.db)] == ["export-3", "sync-4"]
    lease = scheduler_lease(rt.db)
    assert lease is not None and lease.holder == "billing-01:4242"


def test_totals_overview_and_partner_plan(rt: Runtime) -> None:
    cycle = resolve_cycle(rt.db, "ACME", "2026-10")
    overview = totals_overview(rt.db, cycle)
    assert (overview.version, overview.status, overview.history) == (2, "ready", [1, 2])
    assert {line.call_type for line in overview.lines} == {"voice", "sms", "data", "fee"}
    assert any(i.kind == "margin" for i in overview.insights)
    plan = partner_plan(rt.db, "Partner A", "2026-09", "2026-10")
    assert [(code, start.isoformat()) for _, code, start in plan.items] == [
        ("ACME", "2026-09-01"), ("BETA", "2026-09-01"), ("ACME", "2026-10-01"), ("BETA", "2026-10-01")]


def test_follow_workflows_reports_progress_to_the_end(rt: Runtime) -> None:
    ids = dict(rt.db.reader().__enter__().execute(select(Customer.code, Customer.id)).all())
    ok = rt.bus.dispatch(DispatchTotals(ids["ACME"], OCT, "test"))
    bad = rt.bus.dispatch(DispatchTotals(404, OCT, "test"))
    seen = []
    pool = WorkerPool(rt.bus, 2, poll_interval=0.05, label="test").start()
    try:
        final = wait_for(rt.bus, [ok, bad], on_progress=seen.append, poll_seconds=0.5)
    finally:
        pool.stop(grace=10)
    # one of two failed: the pair ended, and failed (one definition for one workflow or many)
    assert (final.workflows, final.workflows_ended, final.workflows_failed, final.status) == (2, 2, 1, "failed")
    assert final.step == "DispatchTotals" and final.error
    assert seen[0].workflows_ended <= seen[-1].workflows_ended and seen[-1] == final


# -- profile actions -------------------------------------------------------------------------

def profile_id(db: Database, name: str) -> int:
    with db.reader() as s:
        return int(s.scalars(select(SyncProfile.id).where(SyncProfile.name == name)).one())


def test_profile_actions_are_audited_and_never_log_secrets(rt: Runtime) -> None:
    box = SecretBox.from_settings(rt.settings)
    pid = profile_id(rt.db, "beta-routit")
    assert profiles.set_active(rt.db, pid, False, operator="dave") is True
    assert profiles.set_active(rt.db, pid, False, operator="dave") is False
    when = datetime(2026, 10, 22, 6, 0, tzinfo=UTC)
    profiles.update_schedule(rt.db, pid, 30, when, operator="dave")
    assert profiles.update_credentials(rt.db, pid, {"password": "hunter2", "username": ""}, secrets=box,
                                       operator="dave") == ["password"]
    assert profiles.update_credentials(rt.db, pid, {"api_key": "k-123"}, secrets=box, operator="dave") == ["api_key"]
    with rt.db.reader() as s:
        profile = s.get_one(SyncProfile, pid)
        entries = s.execute(select(AuditLog.action, AuditLog.detail).where(AuditLog.operator == "dave")
                            .order_by(AuditLog.id)).all()
        assert (profile.active, profile.interval_minutes, profile.next_sync_date) == (False, 30, when)
        token = profile.credentials_encrypted
    assert box.decrypt(token or b"") == {"username": "beta-api", "password": "hunter2", "api_key": "k-123"}
    assert [a for a, _ in entries] == ["profile.deactivate", "profile.deactivate", "profile.schedule",
                                       "profile.credentials", "profile.credentials"]
    assert entries[1][1] == "no change"
    assert all("hunter2" not in (d or "") and "k-123" not in (d or "") for _, d in entries)


def test_profile_actions_refuse_bad_input(rt: Runtime) -> None:
    pid = profile_id(rt.db, "acme-kpn")
    with pytest.raises(profiles.ProfileError, match="interval must be"):
        profiles.update_schedule(rt.db, pid, 2, None, operator="dave")
    with pytest.raises(profiles.ProfileError, match="time zone"):
        profiles.update_schedule(rt.db, pid, 60, datetime(2026, 10, 22, 6, 0), operator="dave")
    with pytest.raises(profiles.ProfileError, match="no sync profile with id 999"):
        profiles.set_active(rt.db, 999, True, operator="dave")
    with pytest.raises(profiles.ProfileError, match="needs a name"):
        profiles.update_credentials(rt.db, pid, {" ": "x"}, secrets=SecretBox.from_settings(rt.settings),
                                    operator="dave")
    assert profiles.can(profiles.PROFILE_CREDENTIALS, "admin")
    assert not profiles.can(profiles.PROFILE_CREDENTIALS, "operator")
    assert profiles.can(profiles.PROFILE_CREDENTIALS, None)  # role not read yet: core decides
    with pytest.raises(profiles.NotAllowed, match="vera is a viewer; profile deactivations need the admin role"):
        profiles.set_active(rt.db, pid, False, operator="vera")


# -- 100,000 rows ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """A showcase database with BIG sync tasks, messages and audit entries (built once)."""
    root = tmp_path_factory.mktemp("big")
    shutil.copyfile(sqlite_template, root / "expensis.sqlite3")
    runtime = Runtime(settings_for(root))
    build(runtime.db, runtime.settings)
    db = runtime.db
    with db.reader() as s:
        profile_ids = [(p, c) for p, c in s.execute(select(SyncProfile.id, SyncProfile.customer_id))]
    start = NOW - timedelta(days=400)
    statuses = ("completed", "completed", "completed", "failed", "processing")
    with db.engine.begin() as conn:
        conn.execute(insert(SyncTask), [
            {"sync_profile_id": profile_ids[i % 4][0], "customer_id": profile_ids[i % 4][1],
             "cycle_start_date": OCT, "status": statuses[i % 5], "trigger": "schedule",
             "workflow_id": f"big-{i}", "created_at": start + timedelta(minutes=i),
             "updated_at": start + timedelta(minutes=i)} for i in range(BIG)])
        conn.execute(insert(Message), [
            {"command_id": f"big-{i}", "command_type": "KpnSp16Sync", "payload": '{"customer_id": 1}',
             "chain": "[]", "workflow_id": f"big-{i}", "status": "done" if i % 7 else "failed",
             "attempts": 1, "max_attempts": 5, "available_at": start, "created_at": start + timedelta(minutes=i),
             "error": None if i % 7 else "PermanentError: bad row"} for i in range(BIG)])
        conn.execute(insert(AuditLog), [
            {"at": start + timedelta(minutes=i), "operator": f"op{i % 9}", "action": "sync.start",
             "target": f"profile {i}", "result": "ok"} for i in range(BIG)])
    runtime.close()
    return root


@pytest.fixture
def big(big_db: Path, tmp_path: Path) -> Iterator[Runtime]:
    shutil.copyfile(big_db / "expensis.sqlite3", tmp_path / "expensis.sqlite3")
    runtime = Runtime(settings_for(tmp_path))
    yield runtime
    runtime.close()


def assert_paged(statements: list[str]) -> int:
    """Every statement that reads a big table is a count, an aggregate, bounded by the ids of
    one page, or cut with LIMIT. Returns how many statements read a big table."""
    checked = 0
    for sql in statements:
        if not any(f"FROM {t}" in sql for t in ("sync_task", "message", "audit_log")):
            continue
        checked += 1
        if "count(*)" in sql or "GROUP BY" in sql or "message.workflow_id IN (" in sql:
            continue
        assert "LIMIT" in sql, sql
    return checked


def test_listings_of_big_tables_are_cut_in_sql(big: Runtime) -> None:
    with recorded(big.db) as statements:
        tasks = list_tasks(big.db, offset=BIG // 2, limit=50)
        steps = list_steps(big.db, status="failed", limit=50)
        audit = list_audit(big.db, operator="op3", limit=50)
        capped = list_audit(big.db, limit=10_000)
    assert tasks.total == BIG + 5 and len(tasks.rows) == 50 and tasks.has_next and tasks.has_previous
    assert steps.total == len(range(0, BIG, 7)) + 2 and len(steps.rows) == 50
    assert audit.total == len(range(3, BIG, 9)) and len(audit.rows) == 50
    assert len(capped.rows) == MAX_PAGE_SIZE  # nobody loads a whole table by asking for it
    # tasks: count, page, the page's steps, their customers; steps: 3; audit: 2 each: none per row
    assert len(statements) <= 4 + 3 + 2 + 2
    assert assert_paged(statements) >= 8


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_table_screens_stay_paged_with_big_tables(big: Runtime, anyio_backend: str) -> None:
    from expensis_tui.app import ExpensisApp
    from expensis_tui.showcase import frozen_clock, settle
    from expensis_tui.widgets.keyed_table import KeyedTable

    app = ExpensisApp(big, start_services=False, clock=frozen_clock)
    with recorded(big.db) as statements:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            for screen_key in ("3", "5"):  # Tasks, Audit
                await pilot.press(screen_key)
                await settle(pilot)
                table = app.screen.query_one(KeyedTable)
                assert table.row_count == 50
                first = table.selected_key
                await pilot.press("right_square_bracket")  # the next page, read in SQL
                await settle(pilot)
                assert table.row_count == 50 and table.selected_key != first
            await pilot.press("3", "v")  # workflow steps: BIG messages
            await settle(pilot)
            assert app.screen.query_one(KeyedTable).row_count == 50
            assert f"of {BIG // 1000}," in str(app.screen.query_one("#status-line").render())
    assert assert_paged(statements) >= 6
