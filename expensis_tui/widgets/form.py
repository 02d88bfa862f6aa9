"""A small modal form: labelled inputs, enter moves on (submits on the last), escape cancels.

`validate` turns the raw values into an error line or None, so a form stays open until
what was typed can be used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    value: str = ""
    placeholder: str = ""
    password: bool = False


Values = dict[str, str]


class FormScreen(ModalScreen[Values | None]):
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Save", tooltip="Save the form"),
    ]

    def __init__(self, title: str, fields: Sequence[Field], *, detail: str = "",
                 validate: Callable[[Values], str | None] | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.fields = list(fields)
        self.detail = detail
        self.validate = validate

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.detail:
                yield Label(self.detail, classes="dialog-detail")
            for f in self.fields:
                with Horizontal(classes="form-row"):
                    yield Label(f.label, classes="form-label")
                    yield Input(f.value, placeholder=f.placeholder, password=f.password,
                                id=f"field-{f.key}", classes="form-input")
            yield Label("", id="form-error", classes="form-error")
            yield Label("enter next/save · ctrl+s save · esc cancel", classes="dialog-detail")

    def values(self) -> Values:
        return {f.key: self.query_one(f"#field-{f.key}", Input).value for f in self.fields}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_submit()

    def action_submit(self) -> None:
        values = self.values()
        error = self.validate(values) if self.validate else None
        if error:
            self.query_one("#form-error", Label).update(error)
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)
