"""The progress window at 80x24: attempt n of m, the wait, the step that failed, the whole error."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Label, Static

from core.bus import Progress
from expensis_tui.showcase import screen_text
from expensis_tui.widgets.progress import ProgressScreen, progress_update

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 10, 20, 9, 0, tzinfo=UTC)
ERROR = ("ProviderUnavailable: KPN Grip answered HTTP 500 Internal Server Error for "
         "/grip/v2/customers/ACME-001/cdrs?month=2026-09&page=3 (gave up after 5 attempts); "
         "totals calculated with the data already present")


class Host(App[None]):
    CSS_PATH = str(Path(__file__).resolve().parent.parent / "expensis_tui" / "app.tcss")


def words(text: str) -> str:
    """The screen's text without borders and line breaks, for checking wrapped text whole."""
    return " ".join(re.sub(r"[│┃▏▕|]", " ", text).split())


async def test_the_window_shows_the_attempt_the_wait_and_the_failed_step_with_its_whole_error() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        window = ProgressScreen("Syncing ACME · kpn_grip · 2026-09")
        await app.push_screen(window)
        await pilot.pause()
        waiting = Progress("retrying", "KpnGripSync", 2, 7, 2, 5, NOW + timedelta(seconds=8),
                           "ProviderUnavailable: HTTP 500", "1,200 CDRs", now=NOW)
        window.update_progress(progress_update(waiting))
        await pilot.pause()
        status = str(window.query_one("#progress-status", Label).render())
        assert "KpnGripSync (step 2 of 7)" in status and "attempt 2 of 5" in status
        assert "next try in 8s" in status and "1,200 CDRs" in status
        assert "last error: ProviderUnavailable: HTTP 500" in words(screen_text(app))

        failed = Progress("failed", "KpnGripSync", None, None, None, None, None, ERROR, "1,200 CDRs", now=NOW)
        window.update_progress(progress_update(failed, done_words="completed"))
        await pilot.pause()
        status = str(window.query_one("#progress-status", Label).render())
        assert status.startswith("failed · KpnGripSync") and window.finished
        error = window.query_one("#progress-error", Static)
        assert error.size.height >= 2 and error.size.width <= 64  # wrapped inside the dialog
        assert f"last error: {ERROR}" in words(screen_text(app))  # every word shown, none cut off


async def test_the_bar_is_drawn_and_moves_with_the_steps() -> None:
    """Its padding took the bar's one row (Textual 8: an auto-height widget's padding counts in its
    height): the window showed three blank rows where the bar belonged, running and finished."""
    from textual.widgets import ProgressBar

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        window = ProgressScreen("Recalculating ACME 2026-10", total=5)
        await app.push_screen(window)
        await pilot.pause()
        assert window.query_one(ProgressBar).size.height == 1
        step = Progress("running", "BillingInsightTotals", 3, 5, 1, 5, None, None, None, now=NOW)
        window.update_progress(progress_update(step))
        await pilot.pause()
        bar = next(line for line in screen_text(app).splitlines() if "%" in line)
        assert "━" in bar and "40%" in bar  # steps 1 and 2 of 5 done
