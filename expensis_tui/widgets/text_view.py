"""A read-only detail view (a task's error and chain, a profile, a version difference)."""

from __future__ import annotations

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class TextViewScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "close", "Close", key_display="esc")]

    def __init__(self, title: str, body: RenderableType, *, hint: str = "esc closes") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(id="text-body"):
                yield Static(self.body)
            yield Label(self.hint, classes="dialog-detail")

    def on_mount(self) -> None:
        self.query_one("#text-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
