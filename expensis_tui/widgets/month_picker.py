"""Pick one of a few choices from a list (a month, a totals version): enter picks, esc cancels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from core.month import Month


def recent_months(today: date, count: int = 12) -> list[str]:
    """YYYY-MM labels: this month first, then the ones before it."""
    this = Month.of(today)
    return [str(this - back) for back in range(count)]


class ChoiceScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: Sequence[tuple[str, str]], *, detail: str = "",
                 hint: str = "↑↓ choose · enter pick · esc cancel", wide: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.detail = detail
        self.choices = list(choices)  # (id, label)
        self.hint = hint
        self.wide = wide  # the wide window (76 columns): labels of up to 66, a scrollbar beside them

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide" if self.wide else "dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.detail:
                yield Label(self.detail, classes="dialog-detail")
            yield OptionList(*(Option(label, id=key) for key, label in self.choices), id="choices")
            yield Label(self.hint, classes="dialog-detail")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


def month_picker(title: str, today: date, *, detail: str = "") -> ChoiceScreen:
    return ChoiceScreen(title, [(m, m) for m in recent_months(today)], detail=detail,
                        hint="↑↓ choose · enter start · esc cancel")
