"""The navigation line above the footer: one key per screen, the current one highlighted."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static


class NavBar(Static):
    DEFAULT_CSS = "NavBar { height: 1; width: 100%; background: $panel; }"

    def __init__(self, entries: Sequence[tuple[str, str, str]], current: str) -> None:
        """`entries`: (key, mode, label) per screen; `current`: the mode of this screen."""
        super().__init__(self.line(entries, current), markup=False)

    @staticmethod
    def line(entries: Sequence[tuple[str, str, str]], current: str) -> Text:
        """Eight screens and the help key in 80 columns: one space between entries."""
        text = Text(" ")
        for key, mode, label in entries:
            style = "bold reverse" if mode == current else ""
            text.append(key, style=f"bold {style}".strip() if mode == current else "bold")
            text.append(f" {label}", style=style)
            text.append(" ")
        text.append("│ ? keys", style="dim")
        return text
