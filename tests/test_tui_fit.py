"""The console at the edges of the terminal: below 80×24 a notice instead of a cut layout, and
notifications that stay on one line, out of the way of the status line, footer and windows."""

from __future__ import annotations

import pytest
from textual.widgets import Footer
from textual.widgets._toast import Toast

from core.runtime import Runtime
from expensis_tui.app import ExpensisApp
from expensis_tui.screens.dashboard import DashboardScreen
from expensis_tui.screens.totals import TotalsScreen
from expensis_tui.showcase import frozen_clock, screen_text, settle
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.too_small import TooSmallScreen

pytestmark = pytest.mark.anyio


async def test_a_small_terminal_shows_a_notice_and_the_screen_comes_back(rt: Runtime) -> None:
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.resize_terminal(60, 20)
        await settle(pilot)
        assert isinstance(app.screen, TooSmallScreen)
        text = screen_text(app)
        assert "needs 80×24" in text and "this terminal is 60×20" in text
        await pilot.press("4")  # no screen switch behind the notice
        await settle(pilot)
        await pilot.resize_terminal(70, 30)
        await settle(pilot)
        assert "this terminal is 70×30" in screen_text(app)
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert "needs 80×24" not in screen_text(app)


async def test_starting_in_a_small_terminal_shows_the_notice(rt: Runtime) -> None:
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)


def toasts(app: ExpensisApp) -> list[Toast]:
    return list(app.screen.query(Toast))


async def test_notifications_are_one_line_above_the_work_and_errors_stay(rt: Runtime) -> None:
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("4")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TotalsScreen)
        status = screen.query_one("#status-line")
        footer = screen.query_one(Footer)
        app.notify("export job 7 completed: 12,345 rows → /srv/expensis/exports/a-rather-long-name-"
                   "for-a-file.xlsx\nsecond line", title="Export")
        await settle(pilot)
        (toast,) = toasts(app)
        assert toast.region.height == 1  # one line, title included
        assert toast._notification.message.startswith("Export: export job 7 completed")
        assert toast.region.y == 0 and "\n" not in toast._notification.message
        assert not toast.region.overlaps(status.region) and not toast.region.overlaps(footer.region)

        for n in range(3):  # a burst of notices: the newest replaces the earlier ones
            app.notify(f"notice {n}")
        await settle(pilot)
        assert [t._notification.message for t in toasts(app)] == ["notice 2"]

        app.notify("the recalculation failed: database is locked", severity="error")
        app.notify("a later notice")
        await settle(pilot)
        messages = [t._notification.message for t in toasts(app)]
        assert "the recalculation failed: database is locked" in messages
        error = next(t for t in toasts(app) if t._notification.severity == "error")
        assert error._notification.time_left == float("inf")  # stays until dismissed

        app.push_screen(ConfirmScreen("Recalculate?", yes="Recalculate"))
        await settle(pilot)
        app.notify("something happened", severity="warning")
        await settle(pilot)
        dialog = app.screen.query_one(".dialog")
        assert all(not t.region.overlaps(dialog.region) for t in toasts(app))
        await pilot.press("escape")  # first Esc: the error goes, the window stays
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert not any(t._notification.severity == "error" for t in toasts(app))
        await pilot.press("escape")  # then Esc means what it meant: the window closes
        await settle(pilot)
        assert isinstance(app.screen, TotalsScreen)


async def test_n_shows_every_notice_in_full_newest_first(rt: Runtime) -> None:
    """A toast is one line, cut at 80 columns ("The fields say ACME 2026-13 but BAKKERIJ 2026-10 i…",
    seen at 80x24): N shows what the last ones said, whole, and the palette has it too."""
    from expensis_tui.commands import palette_commands
    from expensis_tui.widgets.text_view import TextViewScreen

    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        long_error = ("Finding the customer and cycle failed: '2026-13' is not a cycle (use YYYY-MM): month must be in "
                      "1..12; the totals shown are still those of BAKKERIJ 2026-10")
        app.notify("export job 7 completed", title="Export")
        app.notify(long_error, severity="error")
        await settle(pilot)
        (shown,) = [t for t in toasts(app) if t._notification.severity == "error"]
        assert shown.region.height == 1  # the toast stays one line
        await pilot.press("N")
        await settle(pilot)
        await pilot.pause(0.2)
        assert isinstance(app.screen, TextViewScreen)
        body = app.screen.query_one("#text-static")
        text = str(body.render())
        assert f"error: {long_error}" in text and body.size.height >= 3  # every word, wrapped in the window
        assert "of BAKKERIJ 2026-10" in screen_text(app)  # its last words on screen too
        assert text.index("error: Finding") < text.index("information: Export: export job 7")  # newest first
        await pilot.press("escape")  # the error toast goes first (Esc dismisses errors), then the window
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, TextViewScreen)
        assert any(c.title == "console: the last notices in full" for c in palette_commands(app))


async def test_the_footer_s_palette_key_ends_at_the_last_column_on_every_screen(rt: Runtime) -> None:
    """Seen at 80x24 over tmux: "^p palettea" on the Bus screen, "^p palettem" on Invoices. The
    compact footer's right margin also held the docked palette key a column short of the edge,
    and the bindings that overflow behind it showed through in the last column."""
    from textual.widgets._footer import FooterKey

    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in "123456789":
            await pilot.press(key)
            await settle(pilot)
            footer = app.screen.query_one(Footer)
            (palette,) = [k for k in footer.query(FooterKey) if k.has_class("-command-palette")]
            assert palette.region.right == footer.region.right == 80, (key, type(app.screen).__name__)
            # and every key shown ends before it (seen cut: "g Custome▏" on Totals, "k Ca▏" on Add-ons,
            # "l Relea▏" on Invoices, "p Pause/resum▏" on Bus)
            cut = [f"{k.key_display} {k.description}" for k in footer.query(FooterKey)
                   if not k.has_class("-command-palette") and k.region.right > palette.region.x]
            assert cut == [], (type(app.screen).__name__, cut)
