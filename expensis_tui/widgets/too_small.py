"""The notice shown instead of a screen when the terminal is below the console's minimum size."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

MIN_SIZE = (80, 24)


def too_small(width: int, height: int) -> bool:
    return width < MIN_SIZE[0] or height < MIN_SIZE[1]


def notice(width: int, height: int) -> str:
    return (f"The console needs {MIN_SIZE[0]}×{MIN_SIZE[1]}; this terminal is {width}×{height}.\n"
            "Enlarge the window (or zoom out) and the screen comes back. Ctrl+Q quits.")


class TooSmallScreen(Screen[None]):
    """Covers the whole terminal, so no cut layout shows beneath; the app removes it when it fits."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__(id="too-small")
        self.text = notice(width, height)

    def compose(self) -> ComposeResult:
        yield Static(self.text, id="too-small-notice")

    def resized(self, width: int, height: int) -> None:
        self.query_one("#too-small-notice", Static).update(notice(width, height))
