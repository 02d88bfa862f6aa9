"""The navigation line above the footer: one key per screen, the current one highlighted."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

# Shorter labels for a narrow terminal: nine screens and the help key fit in 80 columns.
COMPACT = {"Add-ons": "Addons", "Exports": "Export", "Invoices": "Invoice"}


class NavBar(Static):
    DEFAULT_CSS = "NavBar { height: 1; width: 100%; background: $panel; }"

    def __init__(self, entries: Sequence[tuple[str, str, str]], current: str) -> None:
        """`entries`: (key, mode, label) per screen; `current`: the mode of this screen."""
        super().__init__(markup=False)
        self.entries = list(entries)
        self.current = current

    def render(self) -> Text:
        return self.line(self.entries, self.current, self.size.width or 80)

    @staticmethod
    def line(entries: Sequence[tuple[str, str, str]], current: str, width: int = 200) -> Text:
        """Every screen and the help key, with shorter labels when the full ones do not fit."""
        full = NavBar._build(entries, current, compact=False)
        return full if full.cell_len <= width else NavBar._build(entries, current, compact=True)

    @staticmethod
    def _build(entries: Sequence[tuple[str, str, str]], current: str, *, compact: bool) -> Text:
        text = Text("" if compact else " ")
        for key, mode, label in entries:
            style = "bold reverse" if mode == current else ""
            text.append(key, style=f"bold {style}".strip() if mode == current else "bold")
            text.append(f" {COMPACT.get(label, label) if compact else label}", style=style)
            text.append(" ")
        text.append("? keys" if compact else "│ ? keys", style="dim")
        return text
