"""A DataTable kept up to date by diff: rows keyed by id, only changed cells rewritten."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowKey

Cell = str | Text
Row = tuple[str, Sequence[Cell]]  # (key, cells in column order)
Column = tuple[str, str] | tuple[str, str, int]  # (key, label[, fixed width])


def _plain(cells: Sequence[Cell]) -> tuple[str, ...]:
    return tuple(str(c) for c in cells)


class KeyedTable(DataTable[Cell]):
    """`show_rows` removes stale keys, updates changed cells, adds new rows, keeps the cursor."""

    DEFAULT_CSS = "KeyedTable { height: 1fr; }"

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._column_spec = list(columns)  # (key, label)

    def on_mount(self) -> None:
        self.set_columns(self._column_spec)

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns (and rows): for switching what the table lists."""
        self._column_spec = list(columns)
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

    def show_rows(self, rows: Sequence[Row]) -> None:
        """Make the table show exactly `rows`, in that order, changing as little as possible."""
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

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Column widths are measured on idle, after a first paint may have cached rows at the
        # old widths (the cache key has no widths): invalidate those renders once measured.
        super()._update_dimensions(new_rows)
        self._update_count += 1
        self.refresh()

    def _ordered_keys(self) -> list[RowKey]:
        return [row.key for row in self.ordered_rows]
