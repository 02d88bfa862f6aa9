"""The one list of the console: a DataTable kept up to date by diff (rows keyed by id, only
changed cells rewritten), with the keys every list shares (k9s, lazygit): `/` filters live as
you type (words ANDed, case-insensitive, over the row's visible cells), Esc clears it, `s`
cycles the sort column and flips its direction, Home/End go to the first/last row, Enter opens
the row's full detail. Column widths follow the content and the room there is."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import ClassVar

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Label
from textual.widgets.data_table import CellDoesNotExist, RowKey

Cell = str | Text
Row = tuple[str, Sequence[Cell]]  # (key, cells in column order)
# (key, label[, width]): a width is what the column keeps when the room is short (a status,
# a date); without one the column takes its content's width and gives way first.
Column = tuple[str, str] | tuple[str, str, int]

SHRINK_FLOOR = 12  # a column is never narrowed below this (or its given width) to make room
_NUMBER = re.compile(r"^[+-]?[\d.,]+$")


def _plain(cells: Sequence[Cell]) -> tuple[str, ...]:
    return tuple(str(c) for c in cells)


def money_cell(text: str, style: str = "") -> Text:
    """An amount: right-aligned, in every list."""
    return Text(text, style=style, justify="right")


def matches(words: Sequence[str], cells: Sequence[Cell]) -> bool:
    """Every word (case-insensitive) somewhere in the row's visible cells."""
    line = " ".join(str(c) for c in cells).casefold()
    return all(word in line for word in words)


def sort_value(cell: Cell) -> tuple[int, Decimal | str]:
    """Numbers (amounts, counts, ids) by value, before text; text case-insensitively."""
    text = str(cell).replace("€", "").replace("\u00a0", "").replace(" ", "").strip()
    if text and _NUMBER.match(text):
        decimal_mark = "," if text.rfind(",") > text.rfind(".") and text.count(",") == 1 else "."
        digits = text.replace("." if decimal_mark == "," else ",", "").replace(",", ".")
        try:
            return (0, Decimal(digits))
        except InvalidOperation:
            pass
    return (1, str(cell).casefold())


def fit_widths(natural: Sequence[int], floors: Sequence[int], room: int) -> list[int]:
    """Column widths: the content's when it fits in `room`; else the widest columns give way
    (of equals, the rightmost: errors and references before names), never below their floor
    (the table then scrolls sideways)."""
    widths = list(natural)
    excess = sum(widths) - room
    while excess > 0:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: (widths[i], i))
        others = [widths[i] for i in shrinkable if i != widest]
        step = widths[widest] - max([floors[widest], *others])  # down to the next widest …
        step = min(excess, step if step > 0 else widths[widest] - floors[widest])  # … or, of equals, all
        widths[widest] -= step
        excess -= step
    return widths


class ListHeader(Label):
    """The line above a list: the active filter (or the one being typed) and how many rows match."""

    DEFAULT_CSS = "ListHeader { height: 1; width: 100%; padding: 0 1; color: $text-muted; }"


@dataclass
class Sort:
    column: int
    reverse: bool


class KeyedTable(DataTable[Cell]):
    """`show_rows` gives the rows; the table shows those the filter matches, in the sort asked for."""

    DEFAULT_CSS = "KeyedTable { height: 1fr; }"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", key_display="/", tooltip="Filter the list as you type (esc clears)"),
        # every list sorts with s (help and the operators' guide say so): the 80-column footer
        # keeps its room for each screen's own keys
        Binding("s", "sort", "Sort", tooltip="Sort by the next column (again: the other way)", show=False),
        Binding("home", "first_row", "First", tooltip="First row", show=False),
        Binding("end", "last_row", "Last", tooltip="Last row", show=False),
    ]

    @dataclass
    class Filtered(Message):
        """The filter words changed (for lists whose screen filters in SQL as well)."""

        table: KeyedTable
        text: str

    def __init__(self, columns: Sequence[Column], *, id: str | None = None, local_filter: bool = True) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._column_spec = list(columns)  # (key, label[, width])
        self.local_filter = local_filter  # False: the screen's query already applies the words
        self.filter_text = ""
        self.editing = False
        self.sort_by: Sort | None = None
        self.source: list[Row] = []  # every row the screen gave, in its order
        # the rows of the screen's query over all its pages, when the list shows one page of them
        # (PagedScreen sets it): a filter then says it narrows this page only
        self.rows_in_all = 0
        self.list_header = ListHeader("")

    def on_mount(self) -> None:
        if self.parent is not None:
            self.parent.mount(self.list_header, before=self)
        self.list_header.display = False
        self.set_columns(self._column_spec)

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns (and rows): for switching what the table lists."""
        self._column_spec = list(columns)
        self.sort_by = None
        self.source = []
        self.clear(columns=True)
        for key, label, *width in columns:
            self.add_column(label, key=key, width=width[0] if width else None)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except CellDoesNotExist:
            return None
        return key.value

    def cells_of(self, key: str) -> Sequence[Cell] | None:
        return next((cells for k, cells in self.source if k == key), None)

    # -- rows --------------------------------------------------------------------------------

    def show_rows(self, rows: Sequence[Row]) -> None:
        """Make the list hold exactly `rows` (in this order before any sort), changing as little as possible."""
        self.source = list(rows)
        self._show(self._visible())

    def _visible(self) -> list[Row]:
        words = self.filter_text.casefold().split() if self.local_filter else []
        rows = [row for row in self.source if matches(words, row[1])]
        if self.sort_by is not None and self.sort_by.column < len(self._column_spec):
            column = self.sort_by.column
            rows.sort(key=lambda row: sort_value(row[1][column]) if column < len(row[1]) else (2, ""),
                      reverse=self.sort_by.reverse)
        return rows

    def _show(self, rows: Sequence[Row]) -> None:
        selected = self.selected_key
        wanted = {key: cells for key, cells in rows}
        column_keys = [spec[0] for spec in self._column_spec]
        with self.app.batch_update():
            for stale in [k for k in self.rows if k.value not in wanted]:
                self.remove_row(stale)
            for key, cells in rows:
                if RowKey(key) in self.rows:
                    current = self.get_row(key)
                    for column, old, new in zip(column_keys, current, cells, strict=False):
                        if str(old) != str(new) or type(old) is not type(new):
                            self.update_cell(key, column, new)
                else:
                    self.add_row(*cells, key=key)
            order = [key for key, _ in rows]
            if [k.value for k in self._ordered_keys()] != order:
                position = {_plain(cells): i for i, (_, cells) in enumerate(rows)}
                self.sort(key=lambda values: position.get(_plain(values), len(position)))
            if selected is not None and selected in wanted:
                self.move_cursor(row=self.get_row_index(selected), animate=False)
            self.fit_columns()
        self.describe_filter()

    # -- widths ------------------------------------------------------------------------------

    def fit_columns(self) -> None:
        """Widths from the content shown and the room there is: on every change and resize."""
        columns = self.ordered_columns
        if not columns:
            return
        labels = [cell_len(column.label.plain) for column in columns]
        natural = labels[:]
        for _, cells in self.source:
            for i, cell in enumerate(cells[:len(natural)]):
                natural[i] = max(natural[i], max((cell_len(line) for line in str(cell).splitlines()), default=0))
        given = [spec[2] if len(spec) > 2 else None for spec in self._column_spec]  # type: ignore[misc]
        floors = [max(labels[i], min(natural[i], g if g is not None else SHRINK_FLOOR))
                  for i, g in enumerate(given[:len(natural)] + [None] * (len(natural) - len(given)))]
        room = self.scrollable_content_region.width or self.app.size.width
        room -= 2 * self.cell_padding * len(columns)
        widths = fit_widths(natural, floors, room)
        changed = False
        for column, width in zip(columns, widths, strict=True):
            if column.auto_width or column.width != width:
                column.auto_width, column.width = False, width
                changed = True
        if changed:
            self._require_update_dimensions = True
            self._clear_caches()
            self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        self.fit_columns()

    def watch_show_vertical_scrollbar(self, shown: bool) -> None:
        # The bar takes its columns from the room the widths were fitted to, and the widget's
        # size does not change (no Resize): at 80 columns the last column lost them ("Resul").
        self.call_after_refresh(self.fit_columns)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Column widths are measured on idle, after a first paint may have cached rows at the
        # old widths (the cache key has no widths): invalidate those renders once measured.
        super()._update_dimensions(new_rows)
        self._update_count += 1
        self.refresh()

    def _ordered_keys(self) -> list[RowKey]:
        return [row.key for row in self.ordered_rows]

    # -- filter ------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.editing = True
        self.describe_filter()

    def set_filter(self, text: str) -> None:
        if text == self.filter_text:
            return
        self.filter_text = text
        self.post_message(self.Filtered(self, text))
        self._show(self._visible())

    def describe_filter(self) -> None:
        if not (self.editing or self.filter_text):
            self.list_header.display = False
            return
        shown, held = self.row_count, len(self.source)
        count = f"{shown} of {held} rows" if self.local_filter else f"{max(held, self.rows_in_all):,} rows"
        if self.local_filter and self.rows_in_all > held:
            count += f" on this page ({self.rows_in_all:,} in all, [ ] pages)"
        line = Text.assemble(("/ ", "bold"), (self.filter_text, "bold reverse" if self.editing else "bold"),
                             ("▏" if self.editing else ""), f"  {count} · ",
                             "enter keeps · esc clears" if self.editing else "/ edits · esc clears")
        self.list_header.update(line)
        self.list_header.display = True

    def on_key(self, event: events.Key) -> None:
        """While the filter is typed every key goes into it; Esc clears an active filter."""
        if event.key == "escape" and (self.editing or self.filter_text):
            self.editing = False
            self.set_filter("")
            self.describe_filter()
        elif not self.editing:
            return
        elif event.key == "enter":
            self.editing = False
            self.describe_filter()
        elif event.key == "backspace":
            self.set_filter(self.filter_text[:-1])
            self.describe_filter()
        elif event.key == "ctrl+u":
            self.set_filter("")
            self.describe_filter()
        elif event.is_printable and event.character:
            self.set_filter(self.filter_text + event.character)
            self.describe_filter()
        else:
            return  # arrows and the rest keep their meaning while the filter is open
        event.stop()
        event.prevent_default()

    def on_blur(self) -> None:
        if self.editing:
            self.editing = False
            self.describe_filter()

    # -- sort, first/last --------------------------------------------------------------------

    def action_sort(self) -> None:
        """Column 1 ascending, descending, column 2 ascending, … and back to the list's own order."""
        if self.sort_by is None:
            self.sort_by = Sort(0, False)
        elif not self.sort_by.reverse:
            self.sort_by = Sort(self.sort_by.column, True)
        elif self.sort_by.column + 1 < len(self._column_spec):
            self.sort_by = Sort(self.sort_by.column + 1, False)
        else:
            self.sort_by = None
        for i, column in enumerate(self.ordered_columns):
            label = self._column_spec[i][1] if i < len(self._column_spec) else column.label.plain
            if self.sort_by is not None and self.sort_by.column == i:
                label += " ▼" if self.sort_by.reverse else " ▲"
            column.label = Text(label)
        self._show(self._visible())

    def action_first_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_last_row(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    # -- detail ------------------------------------------------------------------------------

    def row_detail(self, key: str) -> Table | None:
        """Every column of the row with its whole value, wrapped: the detail a list always has."""
        cells = self.cells_of(key)
        if cells is None:
            return None
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for (_, label, *_width), cell in zip(self._column_spec, cells, strict=False):
            value = cell.copy() if isinstance(cell, Text) else Text(str(cell))
            value.justify = "left"
            table.add_row(label, value)
        return table
