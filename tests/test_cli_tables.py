"""CLI tables: dates as dates, money right-aligned, zones named, 80 columns, plain when piped."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from core.billing.i18n import format_money
from core.db import Database, ensure_schema
from expensis_tui.cli.output import Col, render
from tests.test_invoices import bakery, cli

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
COLS = [Col("NUMBER"), Col("CUSTOMER"), Col("CYCLE", "month"), Col("DATE", "date"),
        Col("TOTAL", "money"), Col("UPDATED", "time"), Col("ERROR", shrink=True)]
ROWS = [
    ("2026-00001", "BAKKER", date(2026, 10, 1), date(2026, 11, 15), Decimal("1234.565"),
     datetime(2026, 11, 15, 8, 0, tzinfo=UTC), "the provider refused the request: " + "x" * 80),
    ("(draft)", "ACME", None, None, Decimal("-7.5"), None, None),
]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_invoices_list_prints_the_date_not_its_format_string(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(db)
    bakery(db)
    db.dispose()
    code, out, _ = cli(data, "invoices", "run", "--cycle", "2026-10", "--issue-date", "2026-11-15", "--wait")
    assert code == 0, out
    code, out, _ = cli(data, "invoices", "list")
    assert code == 0
    header, row = out.splitlines()[:2]
    assert "<10" not in out
    assert header.split() == ["NUMBER", "KIND", "CUSTOMER", "CYCLE", "DATE", "TOTAL", "€"]
    assert row.split() == ["2026-00001", "invoice", "BAKKER", "2026-10", "2026-11-15", "51.34"]
    assert header.index("€") == row.index("51.34") + len("51.34") - 1  # right-aligned under "€"


def test_piped_output_is_plain_rows_with_every_value_whole() -> None:
    text = render(COLS, ROWS, terminal=False, width=80, zone=AMSTERDAM)
    lines = text.splitlines()
    assert not set(text) & set("─│┃━┏┓└┘╭╮")  # no box drawing
    assert "\x1b[" not in text  # no colour codes
    assert lines[0].split("  ")[0] == "NUMBER"
    assert "UPDATED (Europe/Amsterdam)" in lines[0]
    assert "2026-11-15 09:00:00" in lines[1]  # 08:00 UTC shown in the zone the header names
    assert "x" * 80 in lines[1]  # free text is never cut for a script
    assert lines[1].index("1,234.57") + len("1,234.57") == lines[2].index("-7.50") + len("-7.50")
    assert "2026-10" in lines[1] and "2026-11-15" in lines[1]


def test_a_terminal_table_fits_80_columns_without_hiding_a_column() -> None:
    text = _ANSI.sub("", render(COLS[:2] + COLS[4:], [r[:2] + r[4:] for r in ROWS], terminal=True,
                                width=80, zone=AMSTERDAM))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    for title in ("NUMBER", "CUSTOMER", "TOTAL €", "UPDATED", "(Europe/Amsterdam)", "ERROR"):
        assert title in text
    body = next(line for line in lines if line.startswith("2026-00001"))
    assert "1,234.57" in body and "2026-11-15 09:00:00" in body and "…" in body  # only the error is cut


def test_a_table_too_wide_for_the_terminal_falls_back_to_whole_rows() -> None:
    text = _ANSI.sub("", render(COLS, ROWS, terminal=True, width=60, zone=AMSTERDAM))
    assert "x" * 80 in text and "1,234.57" in text and "BAKKER" in text


def test_one_money_formatter_for_invoices_console_and_cli() -> None:
    assert format_money(Decimal("1234.565"), "nl") == "€ 1.234,57"
    assert format_money(Decimal("1234.565")) == "€1,234.57"
    assert format_money(Decimal("-1234.5"), symbol=False) == "-1,234.50"
    assert format_money(Decimal("0.12345"), places=4, symbol=False) == "0.1235"  # half-up
    assert format_money(Decimal("-0.001"), symbol=False) == "0.00"
