"""Audit log: who did what and how it ended; the list filters it (/), enter shows an entry whole."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.binding import BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Label

from core.views.audit import AuditRow, list_audit
from expensis_tui.messages import AuditLoaded
from expensis_tui.screens.base import PagedScreen, local_time
from expensis_tui.widgets.keyed_table import KeyedTable


class AuditScreen(PagedScreen):
    AREA = "audit"
    TITLE = "Audit log"
    BINDINGS: ClassVar[list[BindingType]] = []

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, AuditRow] = {}

    def compose_body(self) -> Iterable[Widget]:
        yield KeyedTable(self.zoned([("at", "When", 16), ("operator", "Operator"), ("action", "Action"),
                                     ("target", "Target"), ("result", "Result")], "at"), id="audit",
                         local_filter=False)
        yield Label("", id="status-line", classes="status-line")

    def on_mount(self) -> None:
        self.query_one(KeyedTable).focus()

    def load(self) -> None:
        self.load_audit(self.filter_words, self.page_offset, self.next_load())

    @work(thread=True, exclusive=True, exit_on_error=False, group="load", description="Loading the audit log")
    def load_audit(self, words: tuple[str, ...], offset: int, seq: int) -> None:
        self.post_message(AuditLoaded(list_audit(self.rt.db, words=words, offset=offset, limit=self.PAGE_SIZE),
                                      seq))

    def on_audit_loaded(self, message: AuditLoaded) -> None:
        if not self.fresh(message.seq):
            return
        page = message.page
        self.total, self.rows = page.total, {str(r.id): r for r in page.rows}
        self.query_one(KeyedTable).show_rows([
            (str(r.id), (local_time(r.at, self.zone, "%Y-%m-%d %H:%M"), r.operator, r.action, r.target,
                         Text(r.result, style="green" if r.result == "ok" else "yellow")))
            for r in page.rows])
        self.query_one("#status-line", Label).update(
            f"{page.describe('entries')} · enter detail · [ ] pages")
        self.loaded()

    @on(DataTable.RowSelected)
    def show_entry(self, event: DataTable.RowSelected) -> None:
        event.prevent_default()
        row = self.rows.get(event.row_key.value or "")
        if row is None:
            return
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        for label, value in (("when", local_time(row.at, self.zone, "%Y-%m-%d %H:%M:%S", zone_name=True)),
                             ("operator", row.operator), ("action", row.action), ("target", row.target),
                             ("result", row.result), ("detail", row.detail or "—")):
            table.add_row(label, value)
        self.show_detail(f"Audit entry #{row.id}", table, key=f"audit:{row.id}")
