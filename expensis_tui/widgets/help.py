"""`?`: the keys of the screen underneath, with what each does."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

LIST_ACTIONS = {"filter", "sort", "first_row", "last_row"}  # KeyedTable's own: the same in every list
SKIP = {"focus_next", "focus_previous", "copy_text", "screenshot", "command_palette"}


def bindings_table(screen: Screen[object]) -> Table:
    """This screen's own keys, then those that mean the same everywhere (the console's and
    every list's); a widget's inner keys (cursor moves, field editing) are left out."""
    from expensis_tui.widgets.keyed_table import KeyedTable

    sections: dict[str, list[tuple[str, str]]] = {"This screen": [], "Everywhere": []}
    seen: set[str] = set()
    lists = False
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or binding.action.split(".")[-1] in SKIP or binding.action in seen:
            continue
        if active.node is not screen and active.node is not screen.app:
            if not isinstance(active.node, KeyedTable) or binding.action not in LIST_ACTIONS:
                continue
            lists = True
        seen.add(binding.action)
        display = binding.key_display or screen.app.get_key_display(binding) or key
        sections["This screen" if active.node is screen else "Everywhere"].append(
            (display, binding.tooltip or binding.description))
    if lists:
        sections["Everywhere"].append(("enter", "The row's full detail (live)"))
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column("key", style="bold", no_wrap=True, width=10)
    table.add_column("action", ratio=1)
    for title, rows in sections.items():
        if rows:
            table.add_row("", Text(title, style="bold underline"))
            for display, words in rows:
                table.add_row(display, words)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", key_display="esc")]

    def __init__(self, screen: Screen[object], title: str) -> None:
        super().__init__()
        self.table = bindings_table(screen)
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(f"Keys: {self.title_text}", classes="dialog-title")
            with VerticalScroll():
                yield Static(self.table)
            yield Label("Ctrl+P lists every action by name · esc closes", classes="dialog-detail")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
