"""Bill shock in the console (issue 17.4): the dashboard shows, in red above everything, each
subscription at 80 % or 100 % of its roaming data cap, and notifies each level once."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from core.config import load_settings
from core.db import Database
from core.runtime import Runtime
from core.security.secrets import SecretBox
from core.setup import apply_setup
from core.views.dashboard import roaming_cap_alerts
from tests.test_bill_shock import MB, NUMBER, SETUP
from tests.test_roaming_setup import import_and_total

SECOND = "+31610000002"


def travellers(db: Database, tmp_path: Path) -> None:
    """Two subscriptions on a €50 cap: €60.00 (120 %) and €42.50 (85 %) of US data at 0.50/MB."""
    second = f'  [[customer.subscription]]\n  number = "{SECOND}"\n  rate_plan = "Travel"\n'
    apply_setup(db, SETUP + second, secrets=SecretBox(SecretBox.generate_key()), operator="test")
    import_and_total(db, tmp_path, [
        ("a-us", "2026-11-03T10:00:00+01:00", "data", "", 0, 120 * MB, "1.00", "1", "US")])
    import_and_total(db, tmp_path, [
        ("b-us", "2026-11-04T10:00:00+01:00", "data", "", 0, 85 * MB, "1.00", "1", "US"),
        ("b-de", "2026-11-05T10:00:00+01:00", "data", "", 0, 900 * MB, "1.00", "1", "DE")], number=SECOND)


def test_the_cap_alerts_come_from_the_bill_shock_records(sqlite_db: Database, tmp_path: Path) -> None:
    assert roaming_cap_alerts(sqlite_db) == []
    travellers(sqlite_db, tmp_path)
    alerts = roaming_cap_alerts(sqlite_db)
    # 120 MB × 0.50 = 60.00 ≥ 50 (100 %); 85 MB × 0.50 = 42.50 ≥ 40 (80 %); EU data never counts.
    assert [(a.customer_code, a.cycle_start, a.number, a.level, a.status.spent) for a in alerts] == [
        ("TRAVEL", date(2026, 11, 1), NUMBER, 100, Decimal("60.0000")),
        ("TRAVEL", date(2026, 11, 1), SECOND, 80, Decimal("42.5000"))]


@pytest.mark.anyio
async def test_the_dashboard_shows_and_notifies_the_caps_reached(sqlite_db: Database, tmp_path: Path) -> None:
    from expensis_tui.app import ExpensisApp

    travellers(sqlite_db, tmp_path)
    url = sqlite_db.engine.url.render_as_string(hide_password=False)
    rt = Runtime(load_settings(data_dir=tmp_path, db_url=url, overrides={"operator": "test"}))
    try:
        app = ExpensisApp(rt, start_services=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            panel = app.screen.query_one("#cap-alerts")
            assert panel.display and panel.region.height == 2 and panel.region.y <= 2  # at the top
            lines = str(panel.render()).splitlines()
            assert lines == [f"⚠ 100% roaming data cap TRAVEL 2026-11 {NUMBER}: € 60.00 of € 50.00",
                             f"⚠ 80% roaming data cap TRAVEL 2026-11 {SECOND}: € 42.50 of € 50.00"]
            toasts = [(n.title, n.message, n.severity) for n in app._notifications]
            # one line each: the console folds a notification's title into its message
            assert toasts == [("", f"Bill shock: TRAVEL {NUMBER}: 100% of the roaming data cap", "error"),
                              ("", f"Bill shock: TRAVEL {SECOND}: 80% of the roaming data cap", "warning")]
            await pilot.press("r")  # a refresh shows the lines again but notifies nothing twice
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert len(app._notifications) == 2 and app.screen.query_one("#cap-alerts").display
    finally:
        rt.close()
