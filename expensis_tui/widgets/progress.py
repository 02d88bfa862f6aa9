"""A modal that shows the progress of long work fed by ProgressUpdate messages.

The work runs in a worker of the screen that opened it; closing the modal (esc) leaves
the work running in the background. `progress_update` turns the bus's follow progress
(attempt n of m, the wait, the step that failed) into the message this modal shows.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, ProgressBar, Static

from core.bus import Progress
from expensis_tui.messages import ProgressUpdate


def progress_update(progress: Progress, *, done_words: str | None = None) -> ProgressUpdate:
    """The modal's view of followed work: a bar over steps (or workflows), one status line
    and the last error in full. `done_words` replaces the status once it is done."""
    if progress.workflows > 1:
        completed, total = progress.workflows_ended, progress.workflows
    else:
        total = progress.step_count
        completed = total if progress.done and total else max((progress.step_number or 1) - 1, 0)
    status = progress.describe()
    if progress.done and done_words:
        status = done_words + (f" · {progress.note}" if progress.note else "")
    return ProgressUpdate(completed or 0, total, status, finished=progress.finished, failed=progress.failed,
                          error=progress.error)


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
            with VerticalScroll(id="progress-error-box"):
                yield Static("", id="progress-error")
            yield Label("esc closes; the work goes on in the background", id="progress-hint",
                        classes="dialog-detail")

    def on_mount(self) -> None:
        self.query_one("#progress-error-box").display = False

    def update_progress(self, update: ProgressUpdate) -> None:
        bar = self.query_one(ProgressBar)
        if update.total is not None:
            bar.update(total=update.total, progress=update.completed)
        self.query_one("#progress-status", Label).update(update.status)
        box = self.query_one("#progress-error-box")
        box.display = bool(update.error)
        # Static wraps at the dialog's width: the whole error, never cut at the edge.
        self.query_one("#progress-error", Static).update(f"last error: {update.error}" if update.error else "")
        if update.finished:
            self.finished = True
            self.query_one("#progress-hint", Label).update("finished · esc or enter closes")
            self.set_class(update.failed, "failed")

    def action_close(self) -> None:
        self.dismiss(None)
