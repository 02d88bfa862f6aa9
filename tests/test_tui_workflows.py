"""The user-triggered workflows of seed 003, driven from the keyboard at 80×24.

Each test asserts on what the screen shows and on the database afterwards. Workers run in
a WorkerPool the test starts (the app's own services stay off); waits use
`workers.wait_for_complete()` and `pilot.pause()`, never sleep.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from sqlalchemy import func, select
from textual.widgets import Input, Label, ProgressBar
from textual.worker import WorkerCancelled

from core.bus import WorkerPool, run_until_idle
from core.models import (
    AuditLog,
    Customer,
    CustomerStatus,
    Message,
    SyncProfile,
    SyncTask,
    TotalHistory,
)
from core.runtime import Runtime
from core.workflows.totals import DispatchTotals
from expensis_tui.app import ExpensisApp
from expensis_tui.screens.failures import FailuresScreen
from expensis_tui.screens.tasks import TasksScreen
from expensis_tui.screens.totals import TotalsScreen
from expensis_tui.showcase import NOW, OCT, frozen_clock, screen_text, settle
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.form import FormScreen
from expensis_tui.widgets.keyed_table import KeyedTable
from expensis_tui.widgets.month_picker import ChoiceScreen
from expensis_tui.widgets.progress import ProgressScreen

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


def app_for(rt: Runtime) -> ExpensisApp:
    return ExpensisApp(rt, start_services=False, clock=frozen_clock)


async def quit_and_wait(app: ExpensisApp, pilot) -> None:  # type: ignore[no-untyped-def]
    """Ctrl+Q, then wait for the shutdown worker. It ends by calling app.exit(), which cancels
    every worker (itself included) once the services have stopped; callers assert the outcome."""
    await pilot.press("ctrl+q")
    with contextlib.suppress(WorkerCancelled):
        await app.workers.wait_for_complete([w for w in app.workers if w.group == "stop"])


def status_line(app: ExpensisApp) -> str:
    return str(app.screen.query_one("#status-line", Label).render())


async def choose_acme(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("4", "g", *"ACME", "enter", "enter")  # cycle is prefilled: 2026-10 (frozen clock)
    await settle(pilot)


async def test_recalculation_with_confirm(rt: Runtime, pool: WorkerPool) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await choose_acme(pilot)
        assert isinstance(app.screen, TotalsScreen)
        assert "ACME 2026-10: version 2" in status_line(app)
        await pilot.press("h")
        assert isinstance(app.screen, ConfirmScreen)
        question = str(app.screen.query_one(".dialog-title", Label).render())
        assert question == "Recalculate the totals of ACME for 2026-10?"
        await pilot.press("y")
        await settle(pilot)
        progress = app.screen
        assert isinstance(progress, ProgressScreen) and progress.finished
        assert progress.query_one(ProgressBar).percentage == 1
        assert "recalculated" in str(progress.query_one("#progress-status", Label).render())
        await pilot.press("escape")
        await settle(pilot)
        assert "ACME 2026-10: version 3" in status_line(app)
        # the late call (4 min on +31610000002) is in the refreshed totals: 21 + 4 minutes
        assert "25:00 min" in [str(c) for c in app.screen.query_one(KeyedTable).get_column("usage")]
    with rt.db.reader() as s:
        status = s.scalars(select(CustomerStatus).join(Customer, Customer.id == CustomerStatus.customer_id)
                           .where(Customer.code == "ACME", CustomerStatus.cycle_start_date == OCT)).one()
        assert (status.totals_version, status.recalc_requested) == (3, False)
        assert 2 in set(s.scalars(select(TotalHistory.version).where(TotalHistory.customer_id == status.customer_id)))
        assert s.scalars(select(AuditLog.target).where(AuditLog.action == "totals.recalculate",
                                                       AuditLog.operator == "alice")).all() == ["ACME 2026-10"]


async def test_a_few_letters_complete_the_customer_code(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)  # the codes are read in a worker
        await pilot.press("g", "a", "c")
        await settle(pilot)
        assert status_line(app).startswith("ACME · ") and "→ completes the code" in status_line(app)
        await pilot.press("right")  # accept the completion
        assert app.screen.query_one("#customer", Input).value == "ACME"
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert "ACME 2026-10: version 2" in status_line(app)

        await pilot.press("g", "ctrl+u", *"zz")
        await settle(pilot)
        assert status_line(app) == "no customer code starts with 'zz'"
        await pilot.press("ctrl+u", *"acme", "enter", "enter")  # lower case, not completed: found anyway
        await settle(pilot)
        assert "ACME 2026-10: version 2" in status_line(app)


async def test_the_tasks_list_filter_finds_a_customer_by_a_few_letters(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, TasksScreen)
        await pilot.press("slash", "a", "c")  # the list's filter (the one every list has)
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        shown = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert shown and all(row[1] == "ACME" for row in shown)


async def test_cancelled_confirmation_changes_nothing(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await choose_acme(pilot)
        await pilot.press("h")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, TotalsScreen)
    with rt.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.status == "queued")) == 1


async def test_partner_recalculation_with_progress(rt: Runtime, pool: WorkerPool) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "H")
        assert isinstance(app.screen, FormScreen)
        await pilot.press(*"Partner A", "enter")  # partner, then From (prefilled 2026-10)
        await pilot.press("ctrl+u", *"2026-08", "enter", "enter")  # From 2026-08, To 2026-10, save
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        title = str(app.screen.query_one(".dialog-title", Label).render())
        assert "2 customer(s) × 3 month(s) = 6 recalculation(s)" in title
        await pilot.press("y")
        await settle(pilot)
        progress = app.screen
        assert isinstance(progress, ProgressScreen) and progress.finished
        bar = progress.query_one(ProgressBar)
        assert (bar.total, bar.progress, bar.percentage) == (6, 6, 1)
        assert "6 of 6 done" in str(progress.query_one("#progress-status", Label).render())
    with rt.db.reader() as s:
        ids = dict(s.execute(select(Customer.code, Customer.id)).all())
        payloads = [json.loads(p) for p in s.scalars(
            select(Message.payload).where(Message.command_type == DispatchTotals.type_name()))]
        states = set(s.scalars(select(Message.status).where(Message.created_at > NOW)))
    partner = [(p["customer_id"], p["cycle_start_date"]) for p in payloads
               if p["trigger"] == "partner-recalculation"]
    assert sorted(partner) == sorted((ids[c], m) for c in ("ACME", "BETA")
                                     for m in ("2026-08-01", "2026-09-01", "2026-10-01"))
    assert states == {"done"}


async def test_retry_of_a_failed_step(rt: Runtime) -> None:
    missing = 99
    rt.bus.dispatch(DispatchTotals(missing, OCT, "test"))
    run_until_idle(rt.bus)
    with rt.db.reader() as s:
        failed = s.scalars(select(Message).where(Message.command_type == DispatchTotals.type_name(),
                                                 Message.status == "failed")).one()
    assert "no customer with id 99" in (failed.error or "")
    with rt.db.transaction() as s:  # the operator fixes the cause, then retries
        s.add(Customer(id=missing, code="DELTA", name="Delta", rateplan_customer=False))
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "v", "F")  # Tasks → workflow steps → status: failed
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        assert table.selected_key == str(failed.id)
        assert "no customer with id 99" in str(app.screen.query_one("#row-detail", Label).render())
        await pilot.press("R")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        with rt.db.reader() as s:
            assert s.get_one(Message, failed.id).status == "queued"
        run_until_idle(rt.bus)  # a worker runs it (and the chain it starts)
        await settle(pilot)
        assert isinstance(app.screen, TasksScreen)
        assert str(failed.id) not in app.screen.steps  # no longer in the failed filter
    with rt.db.reader() as s:
        message = s.get_one(Message, failed.id)
        assert (message.status, message.attempts) == ("done", 1)
        assert s.scalars(select(AuditLog.action).where(AuditLog.target.like(f"message {failed.id} %"))).all() \
            == ["messages.retry"]


async def test_manual_sync_from_the_profile_screen(rt: Runtime, pool: WorkerPool) -> None:
    from core.security.secrets import SecretBox
    from providers.sandbox.server import SandboxServer

    with SandboxServer() as sandbox:
        customer = sandbox.configure_customer("kpn_sp16", "ACME-001", subscriptions=2, cdrs_per_subscription=5)
        with rt.db.transaction() as s:
            profile = s.scalars(select(SyncProfile).where(SyncProfile.name == "acme-kpn")).one()
            profile.base_url = sandbox.url_for("kpn_sp16")
            profile.credentials_encrypted = SecretBox.from_settings(rt.settings).encrypt(customer.credentials)
            profile_id = profile.id
        app = app_for(rt)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")  # Sync profiles; acme-kpn is the first row
            await settle(pilot)
            await pilot.press("x")
            assert isinstance(app.screen, ChoiceScreen)  # the month picker, this month first
            await pilot.press("enter")
            await settle(pilot)
            progress = app.screen
            assert isinstance(progress, ProgressScreen) and progress.finished
            assert "completed" in str(progress.query_one("#progress-status", Label).render())
    with rt.db.reader() as s:
        task = s.scalars(select(SyncTask).where(SyncTask.sync_profile_id == profile_id)
                         .order_by(SyncTask.id.desc())).first()
        assert task is not None and task.trigger == "manual" and task.status == "completed"
        assert task.cycle_start_date == OCT


async def test_deactivate_profile_with_confirm(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        first = table.selected_key
        assert first is not None and "yes" in [str(c) for c in table.get_row(first)]
        await pilot.press("o")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert str(table.get_row(first)[2]) == "no"
    with rt.db.reader() as s:
        assert s.get_one(SyncProfile, int(first)).active is False
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "profile.deactivate",
                                                 AuditLog.target == "acme-kpn")).one()
        assert entry.operator == "alice"


async def test_edit_schedule_and_masked_credentials(rt: Runtime) -> None:
    from core.security.secrets import SecretBox

    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, FormScreen)
        await pilot.press("ctrl+u", *"90", "enter", "ctrl+u", *"2026-10-21 06:30", "enter")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        fields = list(form.query(Input))
        assert [f.id for f in fields] == ["field-password", "field-username"]
        assert all(f.password and f.value == "" for f in fields)  # nothing shown, nothing prefilled
        await pilot.press(*"s3cret", "enter", "enter")  # new password; username unchanged
        await settle(pilot)
        assert "s3cret" not in screen_text(app) and "s3cret" not in app.export_screenshot()
    with rt.db.reader() as s:
        profile = s.scalars(select(SyncProfile).where(SyncProfile.name == "acme-kpn")).one()
        assert profile.interval_minutes == 90
        assert profile.next_sync_date is not None
        assert profile.next_sync_date.isoformat() == "2026-10-21T04:30:00+00:00"  # 06:30 in Amsterdam
        assert SecretBox.from_settings(rt.settings).decrypt(profile.credentials_encrypted or b"") == \
            {"username": "acme-api", "password": "s3cret"}
        details = dict(s.execute(select(AuditLog.action, AuditLog.detail)
                                 .where(AuditLog.operator == "alice", AuditLog.target == "acme-kpn")).all())
    assert details["profile.credentials"] == "changed: password"
    assert "every 90 min" in (details["profile.schedule"] or "")
    assert all("s3cret" not in (d or "") for d in details.values())


async def test_task_detail_shows_error_and_chain(rt: Runtime) -> None:
    from expensis_tui.widgets.text_view import TextViewScreen

    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "F")  # sync tasks, status failed
        await settle(pilot)
        await pilot.press("down", "enter")  # the second failed task: GAMMA, invalid credentials
        await settle(pilot)
        assert isinstance(app.screen, TextViewScreen)
        shot = screen_text(app)
        assert "invalid_credentials" in shot and "SyncProfile" in shot and "ProviderSync" in shot


async def test_help_lists_the_keys_of_the_screen(rt: Runtime) -> None:
    from expensis_tui.widgets.help import HelpScreen

    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "question_mark")
        assert isinstance(app.screen, HelpScreen)
        shot = screen_text(app)
        assert "Retry failed step" in shot and "Filter by status" in shot
        await pilot.press("escape")
        assert isinstance(app.screen, TasksScreen)


async def test_palette_lists_every_action_by_area(rt: Runtime) -> None:
    from textual.command import CommandPalette

    from expensis_tui.commands import palette_commands

    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        titles = {c.title for c in palette_commands(app)}
        assert {"sync: start manual sync", "totals: recalculate (Herbereken data)", "tasks: retry failed step",
                "totals: partner recalculation over months", "totals: choose customer and cycle",
                "go: tasks"} <= titles
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"retry failed")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TasksScreen)  # the palette took us to the screen of the action


async def test_embedded_services_start_and_stop_on_quit(rt: Runtime) -> None:
    from datetime import UTC, datetime

    from core.models import SchedulerLease

    app = ExpensisApp(rt, clock=frozen_clock, stop_grace=5)  # start_services defaults to True
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        services = app.services
        worker, scheduler = services.process, services.scheduler
        assert worker is not None and worker.alive and scheduler is not None  # a child `expensis worker`
        child = worker.process
        assert scheduler.is_leader  # the showcase daemon's lease has lapsed: the console leads
        assert app.sub_title == "alice · leader here"
        await quit_and_wait(app, pilot)
        assert app.stopping
    assert services.process is None and services.scheduler is None
    assert child is not None and child.returncode == 0  # SIGTERM: it finished or released its work
    with rt.db.reader() as s:
        lease = s.scalars(select(SchedulerLease)).one()
    assert lease.holder == scheduler.holder and lease.expires_at < datetime.now(UTC)  # released


async def test_attached_to_a_daemon_that_leads(rt: Runtime) -> None:
    from datetime import UTC, datetime, timedelta

    from core.models import SchedulerLease

    with rt.db.transaction() as s:  # a daemon on billing-02 holds a live lease
        lease = s.get_one(SchedulerLease, "scheduler")
        lease.holder, lease.expires_at = "billing-02:777", datetime.now(UTC) + timedelta(hours=1)
    app = ExpensisApp(rt, clock=frozen_clock, stop_grace=5)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.services.scheduler is not None and not app.services.scheduler.is_leader
        assert app.sub_title == "alice · attached to daemon on billing-02"
        assert "attached to daemon on billing-02" in screen_text(app)
        await quit_and_wait(app, pilot)
    with rt.db.reader() as s:
        assert s.get_one(SchedulerLease, "scheduler").holder == "billing-02:777"  # the daemon keeps it


async def test_errors_are_notifications_in_words(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "g", *"NOPE", "enter", "enter")
        await settle(pilot)
        messages = [str(n.message) for n in app._notifications]
        assert messages == ["Finding the customer and cycle failed: no customer with code 'NOPE'"]
        assert isinstance(app.screen, TotalsScreen)  # the console carries on


async def test_dashboard_leads_to_the_failures(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "queued 1  running 1" in text and "failed 2" in text
        assert "attached to daemon on billing-01" in text  # the showcase lease is live at NOW
        await pilot.press("f")
        await settle(pilot)
        screen = app.screen  # the failures window: failures, not failed messages (DESIGN "Failures")
        assert isinstance(screen, FailuresScreen)
        assert [str(screen.query_one(KeyedTable).get_row_at(i)[0]) for i in range(2)] == ["export-3", "sync-4"]
        assert "No space left on device" in screen_text(app)  # the selected one's error, in full


async def test_totals_act_only_on_the_customer_shown(rt: Runtime, pool: WorkerPool) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await choose_acme(pilot)
        assert "ACME 2026-10: version 2" in status_line(app)
        await pilot.press("g", "ctrl+u", *"GAMMA", "escape")  # typed, never loaded
        await settle(pilot)
        assert app.screen.query_one(KeyedTable).has_class("stale")
        await pilot.press("h")
        await settle(pilot)
        assert isinstance(app.screen, TotalsScreen)  # no "Recalculate ACME?" under a field saying GAMMA
        assert any("press Enter" in str(n.message) for n in app._notifications)
        await pilot.press("g", "enter", "enter")  # now load GAMMA
        await settle(pilot)
        assert not app.screen.query_one(KeyedTable).has_class("stale")
        await pilot.press("h")
        assert isinstance(app.screen, ConfirmScreen)
        assert str(app.screen.query_one(".dialog-title", Label).render()) == \
            "Recalculate the totals of GAMMA for 2026-10?"
        await pilot.press("n")
