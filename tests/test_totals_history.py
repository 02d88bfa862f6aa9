"""Totals history that helps: each version with its date, cause and total, the current one marked
current, and any two versions compared line by line (the current one included)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from core.bus import Bus, run_until_idle
from core.bus.command import default_registry
from core.db import Database, ensure_schema
from core.models import RatePlan
from core.runtime import Runtime
from core.totals import version_history
from core.views.totals import compare_versions, resolve_cycle
from core.workflows.totals import dispatch_totals, request_recalculation
from expensis_tui.app import ExpensisApp
from expensis_tui.cli import main
from expensis_tui.screens.totals import TotalsScreen
from expensis_tui.showcase import frozen_clock, screen_text, settle
from expensis_tui.widgets.month_picker import ChoiceScreen
from expensis_tui.widgets.text_view import TextViewScreen
from tests.factories import make_setup
from tests.test_totals import OCT, OCTOBER, A, import_rows

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


class Ticking:
    """A clock that moves an hour per reading, so each version has its own time."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(hours=1)
        return self.now


def three_versions(db: Database, tmp_path: Path) -> tuple[dict[str, int], list[datetime]]:
    """v1 by a sync, v2 by alice (same prices), v3 by an import after the minute price went to €0.30."""
    ids = make_setup(db)
    import_rows(db, tmp_path, OCTOBER)
    clock = Ticking()
    bus = Bus(db, default_registry, clock=clock)
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    request_recalculation(bus, ids["customer"], OCT, operator="alice")
    run_until_idle(bus)
    with db.transaction() as s:
        s.execute(update(RatePlan).values(price_per_minute=Decimal("0.30")))
    dispatch_totals(bus, ids["customer"], OCT, trigger="import")
    run_until_idle(bus)
    return ids, [v.at for v in version_history(db, ids["customer"], OCT) if v.at is not None]


def test_each_version_has_its_time_cause_and_total_and_the_current_one_is_current(
        db: Database, tmp_path: Path) -> None:
    ids, times = three_versions(db, tmp_path)
    history = version_history(db, ids["customer"], OCT)
    assert [(v.version, v.current, v.cause) for v in history] == [
        (3, True, "import"), (2, False, "recalculation by alice"), (1, False, "sync")]
    # by hand (tests/test_totals.py): voice 2.65 + SMS 0.10 + data 0.50 + fees 2 × 10.00 = 23.25;
    # at €0.30 a minute r2's 2 paid minutes cost 2 × 0.10 more: 23.45
    assert [v.rated_total for v in history] == [Decimal("23.4500"), Decimal("23.2500"), Decimal("23.2500")]
    assert times == sorted(times, reverse=True) and len(set(times)) == 3


def test_comparing_the_first_version_with_the_current_one_shows_the_change(db: Database, tmp_path: Path) -> None:
    ids, _ = three_versions(db, tmp_path)
    with db.reader() as s:
        from core.lookup import customer_by_code
        code = customer_by_code(s, str(ids["customer"])).code
    cycle = resolve_cycle(db, code, "2026-10")
    lines = compare_versions(db, cycle, 1, 3)  # v3 is current and also archived by the backup step
    assert [(d.number, d.call_type, d.old, d.new, d.change) for d in lines] == [
        (A, "voice", Decimal("2.6500"), Decimal("2.8500"), Decimal("0.2000"))]
    assert compare_versions(db, cycle, 1, 2) == []


def test_cli_totals_history_lists_and_compares(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    three_versions(db, tmp_path)
    db.dispose()

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["--data-dir", str(data), "--operator", "alice", *args])
        return result.exit_code, result.stdout + result.stderr

    code, out = cli("totals", "history", "ACME", "--cycle", "2026-10")
    assert code == 0, out
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [(r[0], r[1]) for r in rows] == [("3", "current"), ("2", "archived"), ("1", "archived")]
    assert "recalculation by alice" in out and "23.45" in out and "(Europe/Amsterdam)" in out
    code, out = cli("totals", "history", "ACME", "--cycle", "2026-10", "--json")
    versions = json.loads(out)["versions"]
    assert [(v["version"], v["state"], v["cause"], v["rated_total"]) for v in versions] == [
        (3, "current", "import", "23.4500"), (2, "archived", "recalculation by alice", "23.2500"),
        (1, "archived", "sync", "23.2500")]
    assert all(v["at"] for v in versions)
    code, out = cli("totals", "history", "ACME", "--cycle", "2026-10", "--compare", "1", "3")
    assert code == 0 and "no differences" not in out and "net change € 0.20" in out
    code, out = cli("totals", "history", "ACME", "--cycle", "2026-10", "--compare", "1", "9")
    assert code != 0 and "no version 9" in out


async def open_acme_totals(app: ExpensisApp, pilot: Any) -> TotalsScreen:
    """The Totals screen (4) on ACME and the cycle the chooser offers (g, ACME, enter, enter)."""
    await pilot.press("4")
    await settle(pilot)
    await pilot.press("g", *"ACME", "enter", "enter")  # g: choose customer and cycle
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, TotalsScreen)
    return screen


async def open_acme_versions(app: ExpensisApp, pilot: Any) -> ChoiceScreen:
    """Its versions window (v), on ACME's totals."""
    await open_acme_totals(app, pilot)
    await pilot.press("v")
    await settle(pilot)
    picker = app.screen
    assert isinstance(picker, ChoiceScreen)
    return picker


@pytest.mark.anyio
async def test_the_versions_window_marks_current_and_compares_any_two(rt: Runtime) -> None:
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        picker = await open_acme_versions(app, pilot)
        labels = [label for _, label in picker.choices]
        assert labels[0].startswith("v2") and "current" in labels[0] and "archived" not in " ".join(labels)
        assert "€" in labels[0] and ("CET" in labels[0] or "CEST" in labels[0])
        await pilot.press("enter")  # v2
        await settle(pilot)
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("enter")  # with v1
        await settle(pilot)
        assert isinstance(app.screen, TextViewScreen)
        text = screen_text(app)
        assert "version 1 → 2" in text and "No differences: the totals are up to date" not in text


@pytest.mark.anyio
async def test_many_versions_keep_one_line_each_beside_the_scrollbar(rt: Runtime) -> None:
    """Seen at 80x24: from 11 versions on the list scrolled, its scrollbar took two columns, and
    every amount wrapped onto a line of its own ("▊ €4,777.92"); causes were cut at 13
    ("recalculatio…"). The versions window is the wide one now: a line each, causes whole."""
    from core.lookup import customer_by_code

    with rt.db.reader() as s:
        acme = customer_by_code(s, "ACME").id
    for _ in range(12):
        request_recalculation(rt.bus, acme, OCT, operator="alice")
        run_until_idle(rt.bus)
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        picker = await open_acme_versions(app, pilot)
        assert len(picker.choices) > 12
        shown = [line for line in screen_text(app).splitlines() if re.search(r"\bv\d+ ", line)]
        assert len(shown) >= 8 and all("€" in line for line in shown), "\n".join(shown)
        assert all("recalculation by alice" in line for line in shown if "alice" in line)
        assert not [line for line in screen_text(app).splitlines() if line.strip(" │▊▎▏▕▐▌█").startswith("€")]


@pytest.mark.anyio
async def test_a_poll_read_mid_recalculation_does_not_replace_the_finished_answer(rt: Runtime) -> None:
    """Seen at 80x24: the window said recalculated while the status line still read "version 8 ·
    recalculating · recalculation requested" for 3 s: a poll read during the workflow arrived
    after the recalculation's own final read. Answers are numbered; an older one is dropped."""
    from dataclasses import replace

    from core.views.totals import totals_overview
    from expensis_tui.messages import TotalsLoaded

    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_acme_totals(app, pilot)
        assert screen.cycle is not None
        done = totals_overview(rt.db, screen.cycle)
        midway = replace(done, version=done.version - 1, status="recalculating", recalc_requested=True)
        polled, finished = screen.next_load(), screen.next_load()  # the poll was asked for first
        screen.post_message(TotalsLoaded(done, finished))
        screen.post_message(TotalsLoaded(midway, polled))  # and answered last
        await settle(pilot)
        status = str(screen.query_one("#status-line").render())
        assert f"version {done.version} · {done.status}" in status and "recalculating" not in status
