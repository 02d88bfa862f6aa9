"""CLI tables through `rich`: right-aligned money, dates as dates, zones named on times.

On a terminal a table fits the window (long text is cut with "…", never wrapped into the
numbers). Piped into a script it is plain rows without box characters or colour, one
line per row, so `grep` and `awk` keep working. `--json` output does not come here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

import click

from core.billing.i18n import format_money, format_time
from core.month import Month

Kind = Literal["text", "number", "money", "money4", "date", "time", "month"]
_RIGHT: frozenset[Kind] = frozenset({"number", "money", "money4"})
_SHORT_TEXT = 12  # codes, statuses, numbers: never cut


@dataclass(frozen=True)
class Col:
    """A column: its header and the kind of value it shows."""

    header: str
    kind: Kind = "text"
    shrink: bool = False  # free text (an error, a path): gives way first on a narrow terminal


def cell(value: object, kind: Kind, zone: ZoneInfo | None = None) -> str:
    """One value as the column's kind shows it; None is empty."""
    if value is None or value == "":
        return ""
    if kind in ("money", "money4") and isinstance(value, Decimal | int):
        return format_money(Decimal(value), "en", places=4 if kind == "money4" else 2, symbol=False)
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if kind == "number" and isinstance(value, Decimal):
        return f"{value.normalize():,f}"
    if kind == "time" and isinstance(value, datetime):
        return format_time(value, zone or UTC_ZONE, "%Y-%m-%d %H:%M:%S")
    if kind == "month" and isinstance(value, date):
        return str(Month.of(value))
    if kind == "date" and isinstance(value, datetime):
        return value.date().isoformat()
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    return str(value)


UTC_ZONE = ZoneInfo("UTC")


def display_zone(zone: ZoneInfo | str | None = None) -> ZoneInfo:
    """The zone CLI times are shown in: UTC with the global `--utc`, else `zone`, else the
    settings' time zone (local), else UTC. Every time printed names it."""
    ctx = click.get_current_context(silent=True)
    obj = (ctx.find_root().obj or {}) if ctx is not None else {}
    if obj.get("utc"):
        return UTC_ZONE
    settings = obj.get("settings") or getattr(obj.get("runtime"), "settings", None)
    if zone is None and settings is not None:  # settings alone: a quick read has no runtime
        zone = settings.time_zone
    return ZoneInfo(zone) if isinstance(zone, str) else zone or UTC_ZONE


def when(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A time standing alone in a line, in the display zone, its zone named: "2026-11-29 14:05:00 CET"."""
    return format_time(moment, display_zone(), fmt, zone_name=True)


def header(col: Col, zone: ZoneInfo | None, *, terminal: bool = False) -> str:
    if col.kind == "time":  # on a terminal the zone goes under the name: the column stays narrow
        return f"{col.header}{chr(10) if terminal else ' '}({zone.key if zone is not None else 'UTC'})"
    if col.kind in ("money", "money4"):
        return f"{col.header} €"
    return col.header


def render(cols: Sequence[Col], rows: Iterable[Sequence[object]], *, terminal: bool,
           width: int, zone: ZoneInfo | None = None) -> str:
    """The table as text: boxed and fitted to `width` on a terminal, plain rows otherwise."""
    from rich import box  # loaded by a table, not by `--json` (issue 14.3)
    from rich.console import Console
    from rich.table import Table

    cells = [[cell(value, col.kind, zone) for col, value in zip(cols, row, strict=True)] for row in rows]
    widths = _fit(cols, cells, zone, width - 2 * len(cols)) if terminal else None  # padding, divider
    if widths is None:
        terminal = False  # piped, or too narrow even with text cut: whole rows
    table = Table(box=box.SIMPLE_HEAD if terminal else None, show_edge=False, pad_edge=False,
                  padding=(0, 1, 0, 0) if terminal else (0, 2, 0, 0), header_style="bold" if terminal else "",
                  collapse_padding=not terminal)
    for index, col in enumerate(cols):
        table.add_column(header(col, zone, terminal=terminal),
                         justify="right" if col.kind in _RIGHT else "left",
                         no_wrap=True, overflow="ellipsis",
                         width=widths[index] if widths is not None else None)
    for values in cells:
        table.add_row(*values)
    console = Console(width=width if terminal else 100_000, force_terminal=terminal,
                      no_color=not terminal, color_system="standard" if terminal else None,
                      highlight=False, emoji=False, markup=False, soft_wrap=False)
    with console.capture() as captured:
        console.print(table, markup=False, highlight=False)
    return "\n".join(line.rstrip() for line in captured.get().splitlines())


def _widest(col: Col, index: int, cells: list[list[str]], zone: ZoneInfo | None,
            terminal: bool) -> int:
    title = header(col, zone, terminal=terminal)
    return max([len(line) for line in title.splitlines()] + [len(row[index]) for row in cells])


def _fit(cols: Sequence[Col], cells: list[list[str]], zone: ZoneInfo | None,
         room: int) -> list[int] | None:
    """Column widths within `room`: numbers, money, dates, times and short text keep their
    width; long text is cut with "…", free text (shrink) first. None if it cannot fit."""
    widest = [_widest(col, index, cells, zone, True) for index, col in enumerate(cols)]
    widths = [w if col.kind != "text" or w <= _SHORT_TEXT else (6 if col.shrink else _SHORT_TEXT)
              for col, w in zip(cols, widest, strict=True)]
    spare = room - sum(widths)
    if spare < 0:
        return None
    for shrink in (False, True):  # what is left goes to ordinary text first
        for index, col in enumerate(cols):
            if col.shrink is shrink:
                extra = min(spare, widest[index] - widths[index])
                widths[index] += extra
                spare -= extra
    return widths


def print_table(cols: Sequence[Col], rows: Iterable[Sequence[object]], *,
                zone: ZoneInfo | str | None = None) -> None:
    """Print a table on stdout: fitted to the terminal, or plain rows for a pipe."""
    from rich.console import Console

    where = display_zone(zone)
    out = Console()  # reads the real terminal's size and whether stdout is one
    terminal = sys.stdout.isatty() and out.is_terminal
    click.echo(render(cols, rows, terminal=terminal, width=out.width, zone=where))
