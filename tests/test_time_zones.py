"""Every time says its zone: local (the settings' time zone) by default, UTC with `--utc`;
one formatter for console and CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner

from core.billing.i18n import format_time
from core.db import Database, ensure_schema
from core.runtime import Runtime
from expensis_tui.app import ExpensisApp
from expensis_tui.cli import main
from expensis_tui.cli.output import when
from expensis_tui.showcase import NOW, frozen_clock, settle
from expensis_tui.widgets.keyed_table import KeyedTable
from tests.test_totals_history import three_versions

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def test_the_one_formatter_names_the_zone_when_asked() -> None:
    moment = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert format_time(moment, AMSTERDAM) == "2026-07-01 14:00"
    assert format_time(moment, AMSTERDAM, "%H:%M", zone_name=True) == "14:00 CEST"
    assert format_time(moment.replace(tzinfo=None), AMSTERDAM, "%H:%M") == "14:00"  # stored naive = UTC
    assert format_time(None, AMSTERDAM) == "—"


def test_a_time_standing_alone_in_cli_output_follows_utc_flag() -> None:
    moment = datetime(2026, 11, 29, 13, 5, tzinfo=UTC)
    with click.Context(main, obj={"utc": True, "runtime": None}):
        assert when(moment) == "2026-11-29 13:05:00 UTC"
    with click.Context(main, obj={"utc": False, "runtime": None}):
        assert when(moment) == "2026-11-29 13:05:00 UTC"  # no settings read: UTC, and it says so


def test_cli_times_are_local_by_default_and_utc_with_the_global_flag(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    three_versions(db, tmp_path)
    db.dispose()

    def history(*flags: str) -> str:
        result = CliRunner().invoke(main, ["--data-dir", str(data), "--operator", "alice", *flags,
                                           "totals", "history", "ACME", "--cycle", "2026-10"])
        assert result.exit_code == 0, result.output
        return result.stdout

    local, utc = history(), history("--utc")
    assert "CALCULATED (Europe/Amsterdam)" in local and "CALCULATED (UTC)" in utc
    shown_local = [datetime.fromisoformat(t) for t in STAMP.findall(local)]
    shown_utc = [datetime.fromisoformat(t) for t in STAMP.findall(utc)]
    assert len(shown_local) == 3 and [t - u for t, u in zip(shown_local, shown_utc, strict=True)] == [
        timedelta(hours=1)] * 3  # November: Amsterdam is UTC+1


def labels(table: KeyedTable) -> list[str]:
    return [str(column.label) for column in table.columns.values()]


@pytest.mark.anyio
async def test_console_time_columns_name_their_zone(rt: Runtime) -> None:
    app = ExpensisApp(rt, start_services=False, clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        zone = "CEST"  # the showcase's frozen clock is in October
        assert NOW.astimezone(AMSTERDAM).strftime("%Z") == zone
        assert "Failed" in labels(app.screen.query_one("#failures", KeyedTable))  # an age ("5m"), no zone
        assert f"Last sync ({zone})" in labels(app.screen.query_one("#providers", KeyedTable))
        for key, table_id, label in (("2", "#profiles", f"Next sync ({zone})"), ("5", "#audit", f"When ({zone})"),
                                     ("9", "#messages", f"When ({zone})")):
            await pilot.press(key)
            await settle(pilot)
            assert label in labels(app.screen.query_one(table_id, KeyedTable)), key
