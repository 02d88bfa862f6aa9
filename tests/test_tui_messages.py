"""The Messages screen (key 9) at 80×24: counts, live filter, bulk retry with a count, pause."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.models import AuditLog, Message, PausedCommand
from core.runtime import Runtime
from expensis_tui.app import ExpensisApp
from expensis_tui.screens.messages import MessagesScreen
from expensis_tui.showcase import frozen_clock, screen_text, settle
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.keyed_table import KeyedTable

pytestmark = pytest.mark.anyio


def failed_count(rt: Runtime) -> int:
    with rt.db.reader() as s:
        return int(s.scalar(select(func.count()).select_from(Message).where(Message.status == "failed")) or 0)


async def test_messages_screen_filters_live_and_retries_what_it_shows(rt: Runtime) -> None:
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    failed = failed_count(rt)
    assert failed >= 2  # the showcase has failed sync steps
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("9")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MessagesScreen)
        text = screen_text(app)
        assert f"failed {failed}" in text and "9 Bus" in text
        table = screen.query_one(KeyedTable)
        assert table.row_count == failed

        await pilot.press("slash", *"credentials")  # live: narrows as the keys arrive
        await settle(pilot)
        assert 0 < table.row_count < failed
        narrowed = table.row_count
        await pilot.press("escape")  # clears the filter
        await settle(pilot)
        assert table.row_count == failed
        await pilot.press("slash", *"credentials", "enter")
        await settle(pilot)
        assert table.row_count == narrowed

        await pilot.press("R")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert f"Retry {narrowed} message(s)" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        assert failed_count(rt) == failed - narrowed
        assert table.row_count == 0  # they left the failed view

        await pilot.press("escape", "escape", "P", "y")  # pause all dispatching
        await settle(pilot)
        assert "ALL DISPATCHING PAUSED" in screen_text(app)
    with rt.db.reader() as s:
        assert s.scalars(select(PausedCommand.command_type)).all() == ["*"]
        actions = [a for (a,) in s.execute(select(AuditLog.action).order_by(AuditLog.id))]
    assert actions[-2:] == ["messages.retry", "messages.pause"]


async def test_the_screen_bar_fits_80_columns_with_nine_screens_and_uses_full_labels_when_wider(rt: Runtime) -> None:
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        lines = screen_text(app).splitlines()
        nav = next(line for line in lines if "1 Dash" in line)
        assert "8 Invoice" in nav and "9 Bus" in nav and nav.rstrip().endswith("? keys")  # nothing cut
    wide = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with wide.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        nav = next(line for line in screen_text(wide).splitlines() if "1 Dash" in line)
        assert "6 Add-ons" in nav and "8 Invoices" in nav and "│ ? keys" in nav  # room for full labels
