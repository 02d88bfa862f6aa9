"""CDRs/day on the dashboard counts by the day of the call (local), the import day a second series."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from textual.widgets import Label, Sparkline

from core.db import Database
from core.runtime import Runtime
from core.views.dashboard import cdrs_per_call_day, imports_per_day
from expensis_tui.app import ExpensisApp
from expensis_tui.showcase import NOW, frozen_clock, settle
from tests.factories import make_setup
from tests.test_totals import A, import_rows

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HAND_MADE = [  # (ref, number, call date, type, destination, seconds, KB, cost)
    ("d1", A, "2026-10-05T09:00:00+02:00", "voice", "+31201234567", 60, 0, "0.0100"),
    ("d2", A, "2026-10-08T00:10:00+02:00", "sms", "+31612345678", 0, 0, "0.0010"),  # 7 Oct 22:10 UTC
    ("d3", A, "2026-10-08T23:59:00+02:00", "sms", "+31612345678", 0, 0, "0.0010"),
    ("d4", A, "2026-10-09T23:30:00+00:00", "data", "", 0, 10, "0.0010"),  # 10 Oct 01:30 in Amsterdam
    ("d5", A, "2026-09-20T12:00:00+02:00", "voice", "+31201234567", 60, 0, "0.0100"),  # 20 days before
]


def test_cdrs_count_on_their_local_call_day(db: Database, tmp_path: Path) -> None:
    make_setup(db)
    assert import_rows(db, tmp_path, HAND_MADE).imported == 5  # all in one import, today
    # 14 days ending 9 October: 26 Sep .. 9 Oct; d5 (20 Sep) is older, d4 is 10 October locally
    assert cdrs_per_call_day(db, date(2026, 10, 9), AMSTERDAM) == [0] * 9 + [1, 0, 0, 2, 0]
    assert cdrs_per_call_day(db, date(2026, 10, 10), AMSTERDAM)[-1] == 1
    # by import day, every one of them is "today" and none is on a call day
    assert sum(imports_per_day(db, date(2026, 10, 9), AMSTERDAM)) == 0


@pytest.mark.anyio
async def test_the_dashboard_shows_both_series(rt: Runtime) -> None:
    zone = ZoneInfo(rt.settings.time_zone)
    by_call = cdrs_per_call_day(rt.db, NOW.astimezone(zone).date(), zone)
    by_import = imports_per_day(rt.db, NOW.astimezone(zone).date(), zone)
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert list(app.screen.query_one("#calls", Sparkline).data or []) == by_call
        assert list(app.screen.query_one("#imports", Sparkline).data or []) == by_import
        calls = str(app.screen.query_one("#calls-total", Label).render())
        assert calls == f"by call date {sum(by_call):,} (today {by_call[-1]:,})"
        assert str(app.screen.query_one("#imports-total", Label).render()).startswith("imported ")
