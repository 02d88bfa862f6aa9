"""`:` jumps (k9s): `:tasks failed`, `:totals ACME 2026-10`, `:msg 4711`, or a screen's name.

`parse_jump` turns what was typed into where to go; the app carries it out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Input, Label

# Words an operator types for a screen, besides the screen's own name.
ALIASES = {"dash": "dashboard", "home": "dashboard", "syncs": "profiles", "sync": "profiles",
           "task": "tasks", "total": "totals", "log": "audit", "addon": "addons", "add-ons": "addons",
           "export": "exports", "invoice": "invoices", "bus": "messages", "msg": "messages",
           "message": "messages"}


@dataclass(frozen=True)
class Jump:
    mode: str
    words: tuple[str, ...]  # what follows the screen's name, for the screen to read


def parse_jump(text: str, modes: Sequence[str]) -> Jump | None:
    """The screen named by the first word (a name, an alias or a name's start) and the rest."""
    words = text.strip().lstrip(":").split()
    if not words:
        return None
    first = words[0].casefold()
    mode = ALIASES.get(first) or (first if first in modes else None)
    if mode is None:
        mode = next((m for m in modes if m.startswith(first)), None)
    return Jump(mode, tuple(words[1:])) if mode is not None else None


class JumpScreen(ModalScreen[str | None]):
    """A one-line prompt at the bottom: enter jumps, esc cancels."""

    DEFAULT_CSS = """
    JumpScreen { align: left bottom; }
    JumpScreen > Horizontal { height: 1; width: 100%; background: $panel; }
    JumpScreen Label { width: auto; }
    JumpScreen Input { border: none; height: 1; padding: 0; width: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(":")
            yield Input(placeholder="tasks failed · totals ACME 2026-10 · msg 4711 · a screen's name",
                        id="jump")

    def on_mount(self) -> None:
        self.query_one("#jump", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
