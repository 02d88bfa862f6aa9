"""A modal that shows the progress of long work fed by ProgressUpdate messages.

The work runs in a worker of the screen that opened it; closing the modal (esc) leaves
the work running in the background.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, ProgressBar

from expensis_tui.messages import ProgressUpdate


class ProgressScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "close", "Close", tooltip="Close (work continues)")]

    def __init__(self, title: str, *, detail: str = "", total: int | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail
        self.total = total
        self.finished = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.detail:
                yield Label(self.detail, classes="dialog-detail")
            yield ProgressBar(total=self.total, show_eta=False, id="progress")
            yield Label("starting…", id="progress-status")
            yield Label("esc closes; the work goes on in the background", id="progress-hint",
                        classes="dialog-detail")

    def update_progress(self, update: ProgressUpdate) -> None:
        bar = self.query_one(ProgressBar)
        if update.total is not None:
            bar.update(total=update.total, progress=update.completed)
        self.query_one("#progress-status", Label).update(update.status)
        if update.finished:
            self.finished = True
            self.query_one("#progress-hint", Label).update("finished · esc or enter closes")
            self.set_class(update.failed, "failed")

    def action_close(self) -> None:
        self.dismiss(None)
