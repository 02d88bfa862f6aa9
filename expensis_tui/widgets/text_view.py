"""A read-only detail view (a task's error and chain, a profile, a version difference).

With `reload`, the view is live: it asks again every few seconds and on bus events, and the
answer replaces what it shows (`ConsoleScreen.show_detail` finds the open view by its key)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static


class TextViewScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,enter", "close", "Close", key_display="esc"),
                # a modal shuts out the app's keys: `r` means refresh here as everywhere
                Binding("r", "refresh", "Refresh", tooltip="Read again now", show=False)]

    def __init__(self, title: str, body: RenderableType, *, hint: str = "esc closes", key: str = "",
                 reload: Callable[[], object] | None = None, every: float = 5.0) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.hint = hint
        self.key = key  # what it shows ("profile:12"): a fresh answer for the same key updates it
        self.reload = reload
        self.every = every
        self.reloading = False  # asked again; the answer updates this view (or nothing, once closed)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, id="text-title", classes="dialog-title")
            with VerticalScroll(id="text-body"):
                yield Static(self.body, id="text-static")
            yield Label(self.hint + (" · live" if self.reload else ""), classes="dialog-detail")

    def on_mount(self) -> None:
        self.query_one("#text-body").focus()
        if self.reload is not None:
            self.set_interval(self.every, self.ask_again)

    def ask_again(self) -> None:
        """On the timer and on bus events, while on top."""
        if self.reload is not None and self.app.screen is self:
            self.reloading = True
            self.reload()

    def action_refresh(self) -> None:
        self.ask_again()

    def show(self, title: str, body: RenderableType) -> None:
        self.title_text, self.body, self.reloading = title, body, False
        self.query_one("#text-title", Label).update(title)
        self.query_one("#text-static", Static).update(body)

    def action_close(self) -> None:
        self.dismiss(None)
