"""Every console list behaves alike (issue 15 items 1-3) and no typed key is lost (issue 12
item 7): `/` filters live, Esc restores, `s` sorts and flips, `:` jumps, widths follow the
content and the terminal, one key map across screens, keys typed at machine speed land."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from typing import Any

import pytest
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Input

from core.runtime import Runtime
from expensis_tui.app import ExpensisApp, screen_classes
from expensis_tui.screens.failures import FailuresScreen
from expensis_tui.screens.tasks import TasksScreen
from expensis_tui.screens.totals import TotalsScreen
from expensis_tui.showcase import frozen_clock, screen_text, settle
from expensis_tui.widgets.form import FormScreen
from expensis_tui.widgets.keyed_table import KeyedTable, ListHeader
from expensis_tui.widgets.text_view import TextViewScreen

pytestmark = pytest.mark.anyio
SIZES = [(80, 24), (120, 40)]


def app_for(rt: Runtime) -> ExpensisApp:
    return ExpensisApp(rt, start_services=False, clock=frozen_clock)


def rows(table: KeyedTable) -> list[str]:
    return [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def show_acme_totals(pilot: Any) -> None:
    """Totals of ACME 2026-10 (it has an archived version), however the screen is reached."""
    await pilot.press("4")
    await settle(pilot)
    pilot.app.screen.choose("ACME", "2026-10")
    await settle(pilot)


def type_fast(app: App[Any], *keys: str) -> None:
    """Keys as a terminal delivers them when typed at machine speed: all queued at once,
    nothing waits for a screen to mount or a worker to finish between them."""
    for key in keys:
        character = key if len(key) == 1 else {"space": " "}.get(key)
        app.post_message(events.Key(key, character))


@pytest.mark.parametrize("size", SIZES)
async def test_slash_filters_live_as_keys_arrive_and_escape_restores(rt: Runtime, size: tuple[int, int]) -> None:
    app = app_for(rt)
    async with app.run_test(size=size) as pilot:
        await pilot.press("3")  # sync tasks: ACME, BETA, GAMMA over four providers
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        everything = rows(table)
        assert len(everything) >= 4
        header = app.screen.query_one(ListHeader)
        assert not header.display

        counts = []
        await pilot.press("slash")
        for key in "acme voda":  # two words, ANDed, case-insensitive, searched in SQL over every page
            await pilot.press("space" if key == " " else key)
            await settle(pilot)  # each key reads the list again
            counts.append(table.row_count)
        assert counts == sorted(counts, reverse=True)  # each key narrows (or keeps) the list
        assert 1 <= counts[-1] < counts[3] < len(everything)  # "acme" narrows, "voda" narrows further
        assert all("acme" in r.casefold() and "voda" in r.casefold() for r in rows(table))
        assert header.display and "acme voda" in screen_text(app)

        await pilot.press("enter", "escape")  # kept, then cleared: everything is back
        assert rows(table) == everything
        assert not header.display


@pytest.mark.parametrize("size", SIZES)
async def test_s_sorts_by_a_column_and_again_flips_it(rt: Runtime, size: tuple[int, int]) -> None:
    app = app_for(rt)
    async with app.run_test(size=size) as pilot:
        await pilot.press("3")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        ids = [int(str(table.get_row_at(i)[0])) for i in range(table.row_count)]
        await pilot.press("s")
        assert [int(str(table.get_row_at(i)[0])) for i in range(table.row_count)] == sorted(ids)
        assert "# ▲" in screen_text(app)
        await pilot.press("s")
        assert [int(str(table.get_row_at(i)[0])) for i in range(table.row_count)] == sorted(ids, reverse=True)
        assert "# ▼" in screen_text(app)
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.press("end")
        assert table.cursor_row == table.row_count - 1


@pytest.mark.parametrize("size", SIZES)
async def test_colon_jumps_to_totals_of_a_customer_and_month(rt: Runtime, size: tuple[int, int]) -> None:
    app = app_for(rt)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"totals ACME 2026-10", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, TotalsScreen)
        assert screen.cycle is not None and (screen.cycle.code, screen.cycle.label) == ("ACME", "2026-10")
        assert screen.query_one(KeyedTable).row_count > 0
        assert "ACME 2026-10: version" in screen_text(app)

        await pilot.press("colon", *"tasks failed", "enter")
        await settle(pilot)
        tasks = app.screen
        assert isinstance(tasks, TasksScreen) and tasks.status == "failed"
        assert all("failed" in r for r in rows(tasks.query_one(KeyedTable)))


async def test_a_colon_jump_to_other_totals_loads_them_where_totals_are_shown(rt: Runtime) -> None:
    """Seen at 80x24: with ACME's totals on screen, `:totals BETA 2026-10` put BETA in the
    fields but left ACME's rows and status line (the screen's reload as the jump window
    closed cancelled the look-up of BETA), and `h` then refused to act."""
    app = app_for(rt)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_acme_totals(pilot)
        screen = app.screen
        assert isinstance(screen, TotalsScreen) and "ACME 2026-10: version" in screen_text(app)
        await pilot.press("colon", *"totals BETA 2026-10", "enter")
        await settle(pilot)
        assert app.screen is screen
        assert screen.cycle is not None and (screen.cycle.code, screen.cycle.label) == ("BETA", "2026-10")
        assert "BETA 2026-10: version" in screen_text(app) and "ACME 2026-10: version" not in screen_text(app)
        assert screen.need_cycle() is screen.cycle  # the fields and the rows agree: actions may act


class OneList(App[None]):
    def __init__(self, columns: list[Any]) -> None:
        super().__init__()
        self.columns = columns

    def compose(self) -> ComposeResult:
        yield KeyedTable(self.columns, id="list")


@pytest.mark.parametrize("size", SIZES)
async def test_column_widths_grow_with_longer_content_and_use_the_room_there_is(size: tuple[int, int]) -> None:
    app = OneList([("name", "Name"), ("status", "Status", 9), ("error", "Error")])
    async with app.run_test(size=size) as pilot:
        table = app.query_one(KeyedTable)
        table.show_rows([("1", ("Bakkerij de Vries", "pending", "")), ("2", ("ACME", "pending", ""))])
        await pilot.pause()
        table.show_rows([("1", ("Bakkerij de Vries Brood en Banket", Text("completed", style="green"), "")),
                         ("2", ("ACME", "processing", "no answer within 30 s after 5 attempts " * 2))])
        await pilot.pause()
        text = screen_text(app)
        assert "completed " in text and "processing " in text  # never `complet`
        assert "Bakkerij de Vries Brood en Banket" in text  # the name has room at 80 and 120
        widths = [c.width for c in table.ordered_columns]
        assert sum(widths) + 2 * len(widths) <= size[0]  # the error gives way, not the status
        if size[0] >= 120:
            assert widths[2] > widths[0] // 2


async def test_money_is_right_aligned_in_totals(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=(120, 40)) as pilot:
        await show_acme_totals(pilot)
        table = app.screen.query_one(KeyedTable)
        amounts = [table.get_row_at(i)[-1] for i in range(table.row_count)]
        assert amounts and all(isinstance(a, Text) and a.justify == "right" for a in amounts)


async def test_enter_opens_every_rows_detail_and_it_stays_live(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_acme_totals(pilot)  # totals rows had no detail
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TextViewScreen)
        assert "Rated €" in screen_text(app) and "live" in screen_text(app)


async def open_task_detail(pilot: Any, words: str) -> None:
    """The Tasks screen filtered by `words`, and the first task's detail opened."""
    await pilot.press("3")
    await settle(pilot)
    await pilot.press("slash", *words, "enter")
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, TextViewScreen)


async def test_a_completed_sync_task_s_message_reads_as_its_note_not_an_error(rt: Runtime) -> None:
    """Seen at 80x24: a completed task's detail said "error: 1,500 imported, 0 quarantined"
    in red (a sync keeps its summary in the task's message)."""
    from sqlalchemy import update

    from core.models import SyncTask

    with rt.db.transaction() as s:
        s.execute(update(SyncTask).where(SyncTask.status == "completed")
                  .values(error_message="1,500 imported, 0 quarantined"))
    app = app_for(rt)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_task_detail(pilot, "completed")
        text = screen_text(app)
        assert "note: 1,500 imported, 0 quarantined" in text and "error: 1,500" not in text


async def test_a_sync_task_s_detail_lists_the_rows_its_import_quarantined(rt: Runtime) -> None:
    """Seen by an operator: quarantined rows could be read with `expensis cdr quarantine` only;
    the console showed a sync's "48 quarantined" and nowhere which lines or why."""
    from sqlalchemy import select

    from core.models import ImportBatch, QuarantinedRow, SyncTask

    with rt.db.transaction() as s:
        task = s.scalars(select(SyncTask).where(SyncTask.status == "completed")).first()
        assert task is not None
        task.status, task.error_message = "completed_with_warnings", "3 imported, 25 quarantined"
        batch = ImportBatch(sync_task_id=task.id, provider="kpn_sp16", source="sync", status="completed",
                            quarantined=25)
        s.add(batch)
        s.flush()
        s.add_all(QuarantinedRow(import_batch_id=batch.id, provider="kpn_sp16", line=line,
                                 reason=f"bad date '2026-13-{line:02d}'", raw=f"r{line},...")
                  for line in range(2, 27))
        batch_id, task_id = batch.id, task.id
    app = app_for(rt)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_task_detail(pilot, "warnings")
        app.screen.query_one("VerticalScroll").scroll_end(animate=False)
        await settle(pilot)
        text = screen_text(app)
        assert "bad date '2026-13-21'" in text and "bad date '2026-13-22'" not in text  # lines 2-21
    from rich.console import Console

    from core.views.tasks import task_detail
    from expensis_tui.screens.tasks import _quarantine_part

    detail = task_detail(rt.db, task_id)
    assert detail is not None and detail.quarantined_total == 25
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(*_quarantine_part(detail))
    shown = console.export_text()
    assert "quarantined: 25 row(s), the first 20 here" in shown
    assert f"expensis cdr quarantine {batch_id} lists them" in shown and "bad date '2026-13-02'" in shown


BACK = {"focus_main", "close", "dismiss_errors"}  # escape: back to the list, close the window or the errors shown


def key_map() -> dict[str, set[str]]:
    """Every key of every screen (and of the app, and of every list) with the actions it runs
    (Textual's own widget keys, cursor moves and scrolling, are not the console's)."""
    meanings: dict[str, set[str]] = defaultdict(set)
    owners: list[Any] = [ExpensisApp, KeyedTable, FailuresScreen, *screen_classes().values()]
    for owner in owners:
        for cls in owner.__mro__:
            if cls.__module__.startswith("textual"):
                continue
            for binding in cls.__dict__.get("BINDINGS", []):
                if not isinstance(binding, Binding):
                    continue
                for key in binding.key.split(","):
                    meanings[key.strip()].add(binding.action.split("(")[0])
    return meanings


def test_no_key_has_two_meanings_across_screens() -> None:
    meanings = key_map()
    assert meanings.pop("escape") <= BACK
    twice = {key: actions for key, actions in meanings.items() if len(actions) > 1}
    assert not twice, f"keys with more than one meaning: {twice}"
    # the keys every screen shares are taken by no screen for anything else
    assert meanings["r"] == {"refresh"} and meanings["q"] == {"quit"}
    assert meanings["slash"] == {"filter"} and meanings["s"] == {"sort"}
    assert meanings["colon"] == {"jump"} and meanings["home"] == {"first_row"}
    assert meanings["R"] == {"retry"} and meanings["D"] == {"discard"} and meanings["x"] == {"run"}
    # a window shuts out the app's keys: the detail window binds refresh to `r` itself
    assert [b.action for b in TextViewScreen.BINDINGS if isinstance(b, Binding) and b.key == "r"] == ["refresh"]


async def test_help_lists_this_screens_keys_and_the_global_ones_only(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        text = screen_text(app)
        assert "Retry failed step" in text and "Filter the list as you type" in text
        assert "Cursor up" not in text and "Herbereken" not in text


async def test_keys_typed_at_machine_speed_reach_the_modal_that_opens(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        type_fast(app, "c", *"s3cret", "tab", *"acme-id")  # the form opens after a worker reads its fields
        await settle(pilot)
        form = app.screen
        assert isinstance(form, FormScreen)
        assert form.query_one("#field-password", Input).value == "s3cret"
        assert form.query_one("#field-username", Input).value == "acme-id"


async def test_each_totals_version_fits_on_one_line_at_80_columns(rt: Runtime) -> None:
    """Seen at 80x24: the versions window put the euro sign at the end of a line and the
    amount on the next."""
    app = app_for(rt)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_acme_totals(pilot)
        await pilot.press("v")
        await settle(pilot)
        lines = [line for line in screen_text(app).splitlines() if re.search(r"\bv\d+\b", line)]
        assert lines and all(re.search(r"€ *[0-9][0-9,]*\.[0-9]{2}", line) for line in lines), lines


async def test_v_down_enter_enter_on_the_totals_versions_is_not_dropped(rt: Runtime) -> None:
    app = app_for(rt)
    async with app.run_test(size=(80, 24)) as pilot:
        await show_acme_totals(pilot)
        type_fast(app, "v", "down", "enter", "enter")
        await settle(pilot)
        # the version lists took all four keys: two versions were picked and compared
        assert isinstance(app.screen, TextViewScreen), type(app.screen)
        assert "ACME 2026-10: version" in screen_text(app)


async def test_a_detail_window_follows_the_data(rt: Runtime) -> None:
    from sqlalchemy import update

    from core.models import SyncProfile

    app = app_for(rt)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("enter")  # acme-kpn, active
        await settle(pilot)
        view = app.screen
        assert isinstance(view, TextViewScreen) and re.search(r"active\s+yes", screen_text(app))
        with rt.db.transaction() as s:  # another console deactivates it meanwhile
            s.execute(update(SyncProfile).where(SyncProfile.name == "acme-kpn").values(active=False))
        await pilot.press("r")  # what the poll and bus events do
        await settle(pilot)
        assert app.screen is view and re.search(r"active\s+no", screen_text(app))


async def test_q_quits_but_asks_while_work_runs(rt: Runtime) -> None:
    import asyncio

    from expensis_tui.widgets.confirm import ConfirmScreen

    app = app_for(rt)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        started = asyncio.Event()

        async def work() -> None:
            started.set()
            await asyncio.sleep(3600)

        worker = app.run_worker(work(), group="action")
        await started.wait()
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen) and "still running" in app.screen.question
        await pilot.press("n")
        worker.cancel()
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_a_filter_on_a_paged_list_searches_every_page(rt: Runtime) -> None:
    """The audit log lists 50 entries a page; its filter runs in the query, so it finds the
    entries of later pages too (a filter over the page shown would find none here)."""
    from core.security.audit import record

    with rt.db.transaction() as s:
        for customer in ("ACME", "BETA"):
            for n in range(60):
                record(s, operator="alice", action="totals.recalculate", target=f"{customer} 2026-{n:02d}")
    app = app_for(rt)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        assert not any("BETA 2026-00" in row for row in rows(table))  # newest first: the oldest BETA entries are on page 2
        await pilot.press("slash", *"beta 2026-0")
        await settle(pilot)
        found = rows(table)
        assert len(found) == 10 and all("BETA 2026-0" in row for row in found)  # 00 to 09, from page 2
        assert "10 rows" in screen_text(app)
        await pilot.press("escape")
        await settle(pilot)
        assert not any("BETA 2026-00" in row for row in rows(table)) and table.row_count == 50


async def test_the_last_column_keeps_its_room_when_the_scroll_bar_appears() -> None:
    """Seen at 80x24 on the Audit log: "Resul" and "faile". The widths were fitted to the whole
    width, then the rows overflowed and the scroll bar took a column from the last one. A table
    fits its columns again when the bar appears or goes."""
    app = OneList([("when", "When", 16), ("action", "Action"), ("target", "Target"), ("result", "Result", 6)])
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(KeyedTable)
        row = ("2026-11-30 15:03", "totals.partner_recalculate", "kpn_sp16 negative-durations.csv")
        table.show_rows([(str(n), (*row, ("ok", "failed")[n % 2])) for n in range(3)])
        await pilot.pause()
        table.show_rows([(str(n), (*row, ("ok", "failed")[n % 2])) for n in range(40)])
        await pilot.pause()
        await pilot.pause()
        assert table.show_vertical_scrollbar
        used = sum(c.get_render_width(table) for c in table.ordered_columns)
        assert used <= table.scrollable_content_region.width, (used, table.scrollable_content_region.width)
