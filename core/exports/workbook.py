"""openpyxl's write-only workbook behind core.exports.excel (imported only when writing)."""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml.etree import Element, SubElement
from openpyxl import LXML, Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.styles.cell_style import StyleArray
from openpyxl.styles.numbers import is_date_format
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.utils.exceptions import IllegalCharacterError
from openpyxl.xml.constants import XML_NS

if TYPE_CHECKING:
    from core.exports.excel import Column

class Book:
    """A write-only workbook saved atomically: a failed export leaves no half file."""

    def __init__(self, path: Path, title: str | None) -> None:
        self.path = path
        self.workbook: Any = Workbook(write_only=True)
        if title:
            self.workbook.properties.title = title
        self.sheets: list[Sheet] = []

    def sheet(self, name: str, columns: Sequence[Column], heading: str | None = None) -> Sheet:
        sheet = Sheet(self.workbook, _sheet_title(name, {s.title for s in self.sheets}), columns)
        if heading:
            sheet.heading(heading)
        self.sheets.append(sheet)
        return sheet

    def order(self, titles: Sequence[str]) -> None:
        """Put the sheets with these titles first, in this order."""
        rank = {title: index for index, title in enumerate(titles)}
        self.workbook._sheets.sort(key=lambda ws: rank.get(ws.title, len(rank)))

    def __enter__(self) -> Book:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            for sheet in self.sheets:
                sheet.discard()
            return
        for sheet in self.sheets:
            sheet.finish()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(fd)
        try:
            self.workbook.save(tmp_name)
            os.replace(tmp_name, self.path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise


def _sheet_title(name: str, taken: set[str]) -> str:
    cleaned = "".join("_" if char in "[]:*?/\\" else char for char in name).strip("'")[:31]
    cleaned = cleaned or "Sheet"
    title, suffix = cleaned, 2
    while title.casefold() in {t.casefold() for t in taken}:
        title = f"{cleaned[: 31 - len(str(suffix)) - 1]}_{suffix}"
        suffix += 1
    return title


class Sheet:
    """One write-only sheet: typed, styled cells per column, header frozen and filtered."""

    def __init__(self, workbook: Any, title: str, columns: Sequence[Column]) -> None:
        self.worksheet: Any = workbook.create_sheet(title)
        self.title = title
        self.columns = list(columns)
        self.rows = 0
        self.header_row = 1
        self.filter_end: int | None = None
        for index, column in enumerate(self.columns, start=1):
            if column.width:
                self.worksheet.column_dimensions[get_column_letter(index)].width = column.width
        # One template style per column; each cell shares it instead of rebuilding it.
        header = WriteOnlyCell(self.worksheet)
        header.font = Font(bold=True)
        self.header_styles: list[Any] = [header._style] * len(self.columns)
        self.styles: list[Any] = []
        self.bold_styles: list[Any] = []
        for column in self.columns:
            plain = WriteOnlyCell(self.worksheet)
            bold = WriteOnlyCell(self.worksheet)
            bold.font = Font(bold=True)
            if column.number_format:
                plain.number_format = column.number_format
                bold.number_format = column.number_format
            self.styles.append(plain._style if column.number_format else None)
            self.bold_styles.append(bold._style)
        # openpyxl's write-only sheet turns each appended value into a cell, and a value that
        # is a styled cell of ours costs a cell, a failed conversion and its error message.
        # Instead one cell is reused for every value (openpyxl writes it before taking the
        # next), given its column's style and that style's id, looked up once per sheet.
        self.cell = _ReusedCell(self.worksheet)
        self.style_ids = {id(style): workbook._cell_styles.add(style)
                          for style in [header._style, *self.bold_styles, *self.styles] if style}
        self.date_formatted = [bool(column.number_format and is_date_format(column.number_format))
                               for column in self.columns]
        self.row_styles: list[Any] = self.styles
        self.worksheet._values_to_row = self._values_to_cells
        self.letters = [get_column_letter(index) for index in range(1, len(self.columns) + 1)]
        self.style_attrs = {key: str(style_id) for key, style_id in self.style_ids.items()}  # as XML writes them
        self.epoch = workbook.epoch
        self._hook_writer(workbook)
        self.started = False

    def _hook_writer(self, workbook: Any) -> None:
        """Rows of plain values go through `_write_row`, the rest through openpyxl's writer.

        openpyxl writes each cell through lxml's incremental writer, five Python-level
        steps per cell; building the row as one element and writing it once gives the
        same XML in half the time. The writer is made on the first row, after the sheet's
        views and columns are set, so the hook waits for it.
        """
        if not LXML or workbook.iso_dates:
            return
        worksheet = self.worksheet
        make_writer = worksheet._get_writer

        def get_writer() -> None:
            fresh = worksheet._writer is None
            make_writer()
            if fresh:
                self._openpyxl_write_row = worksheet._writer.write_row
                worksheet._writer.write_row = self._write_row
                worksheet._values_to_row = _as_given

        worksheet._get_writer = get_writer

    def _write_row(self, xf: Any, values: Sequence[object], row_idx: int) -> None:
        row = _row_element(self, values, row_idx)
        if row is None:  # a value only openpyxl's own cells handle
            self._openpyxl_write_row(xf, self._values_to_cells(values, row_idx), row_idx)
        else:
            xf.write(row)

    def _values_to_cells(self, values: Sequence[object], row_idx: int) -> Iterator[Any]:
        cell, styles, style_ids = self.cell, self.row_styles, self.style_ids
        for index, value in enumerate(values):
            if value is None:
                continue
            if isinstance(value, Cell):  # a one-off cell (the heading) goes as it is
                value.column, value.row = index + 1, row_idx
                yield value
                continue
            kind = type(value)
            if kind is datetime and value.tzinfo is not None:  # type: ignore[attr-defined]
                value = value.replace(tzinfo=None)  # type: ignore[attr-defined]  # Excel has no zones
            style = styles[index] if index < len(styles) else None
            if style is not None and not (kind in _DATE_TYPES and not self.date_formatted[index]):
                cell._style, cell.style_id, cell.has_style = style, style_ids[id(style)], True
            else:  # openpyxl gives a date a format by changing the style in place: a copy
                cell._style = StyleArray(style) if style is not None else StyleArray()
                cell.style_id, cell.has_style = None, None
            try:
                cell.value = value
            except IllegalCharacterError:  # control characters from provider data
                cell.value = _clean_text(str(value))
            if cell.data_type == "f":  # text, never a formula
                cell.data_type = "s"
            if cell.has_style is None:
                cell.has_style = any(cell._style)
                if cell.has_style:
                    cell.style_id = self.worksheet.parent._cell_styles.add(cell._style)
            cell.column, cell.row = index + 1, row_idx
            yield cell

    def heading(self, text: str) -> None:
        """A title line above the header (only before any other row)."""
        self.header_row = 3
        self._start()
        cell = WriteOnlyCell(self.worksheet, value=_clean_text(text))
        cell.font = Font(bold=True, size=14)
        self.worksheet.append([cell])
        self.worksheet.append([])
        self.rows = 2

    def _start(self) -> None:
        if self.started:
            return
        self.started = True
        # Sheet views are written with the first row: freeze before it.
        self.worksheet.freeze_panes = f"A{self.header_row + 1}"
        if self.header_row == 1:
            self._header()

    def _header(self) -> None:
        self.row_styles = self.header_styles
        self.worksheet.append([column.title for column in self.columns])
        self.rows += 1

    def append(self, values: Sequence[object], *, bold: bool = False) -> None:
        if not self.started:
            self._start()
        elif self.rows == self.header_row - 1:
            self._header()
        self.row_styles = self.bold_styles if bold else self.styles
        self.worksheet.append(values if isinstance(values, list | tuple) else list(values))
        self.rows += 1

    def end_filter(self) -> None:
        """Limit the autofilter to the rows written so far."""
        self.filter_end = max(self.rows, self.header_row)

    def finish(self) -> None:
        if not self.started:
            self._start()
        if self.rows < self.header_row:
            self._header()
        last_row = self.filter_end or max(self.rows, self.header_row)
        last_column = get_column_letter(max(len(self.columns), 1))
        self.worksheet.auto_filter.ref = f"A{self.header_row}:{last_column}{last_row}"

    def discard(self) -> None:
        """Stop writing and remove the sheet's temporary file (the export failed)."""
        writer = self.worksheet._writer
        if writer is None:
            return
        if self.worksheet._rows is not None:
            self.worksheet._rows.close()
        writer.close()
        with contextlib.suppress(OSError, ValueError):
            writer.cleanup()


_DATE_TYPES = (datetime, date, time, timedelta)
_NUMBERS = (int, float, Decimal)
_SPACE = f"{{{XML_NS}}}space"


def _number_text(value: Any) -> str:
    """openpyxl's spelling of a number (`safe_string`): a Decimal goes through float."""
    return "%.16g" % value  # noqa: UP031 - not format(): that keeps a Decimal's own digits


def _as_given(values: Sequence[object], row_idx: int) -> Sequence[object]:
    return values


def _row_element(sheet: Sheet, values: Sequence[object], row_idx: int) -> Any:
    """The row as openpyxl's lxml writer would write it, or None when a value needs openpyxl.

    Mirrors `openpyxl.cell._writer.lxml_write_cell` for the values exports hold: text
    (inline, control characters removed, at most 32,767 characters), numbers ("%.16g"),
    booleans, and datetimes in a date-formatted column (Excel serial days, zone dropped).
    """
    number = str(row_idx)
    attrs = {"r": number}
    attrs.update(sheet.worksheet.row_dimensions.get(row_idx, {}))
    row = Element("row", attrs)
    styles, style_attrs, letters = sheet.row_styles, sheet.style_attrs, sheet.letters
    for index, value in enumerate(values):
        if value is None:
            continue
        kind = type(value)
        style = styles[index] if index < len(styles) else None
        if index >= len(letters):
            return None
        cell = {"r": letters[index] + number}
        if style is not None:
            cell["s"] = style_attrs[id(style)]
        if kind is str:
            text: str = value[:32767]  # type: ignore[index]
            if ILLEGAL_CHARACTERS_RE.search(text):  # as openpyxl refuses it: cleaned, then cut
                text = _clean_text(value)[:32767]  # type: ignore[arg-type]
            if text in ERROR_CODES:
                return None
            cell["t"] = "inlineStr"
            element = SubElement(row, "c", cell)
            if text:
                SubElement(SubElement(element, "is"), "t", {_SPACE: "preserve"} if text != text.strip() else {}
                           ).text = text
        elif kind in _NUMBERS or kind is bool:
            if not math.isfinite(value):  # type: ignore[arg-type]
                return None
            cell["t"] = "b" if kind is bool else "n"
            SubElement(SubElement(row, "c", cell), "v").text = _number_text(value)
        elif kind is datetime and style is not None and sheet.date_formatted[index]:
            cell["t"] = "n"
            moment = value.replace(tzinfo=None)  # type: ignore[attr-defined]  # Excel has no zones
            SubElement(SubElement(row, "c", cell), "v").text = _number_text(to_excel(moment, sheet.epoch))
        else:
            return None
    return row


class _ReusedCell(Cell):  # type: ignore[misc]  # openpyxl is untyped
    """The one cell a sheet reuses: its style id and whether it has a style are set with its
    style, once per column, instead of being looked up again for every value written."""

    __slots__ = ("style_id", "has_style")

    style_id: Any
    has_style: Any


def _clean_text(text: str) -> str:
    # Control characters from provider data would make openpyxl refuse the whole file.
    return str(ILLEGAL_CHARACTERS_RE.sub("", text))
