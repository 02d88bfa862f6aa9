"""The command palette (Ctrl+P): every action of every screen, titled by area.

Titles come from the screens' declared bindings ("sync: start manual sync"), so a new
binding is in the palette without being listed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from expensis_tui.app import ExpensisApp


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    help: str
    run: Callable[[], Any]


def _lower_first(text: str) -> str:
    """"Start manual sync" -> "start manual sync"; an acronym keeps its capitals ("SEPA file")."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def palette_commands(app: ExpensisApp) -> Iterator[PaletteCommand]:
    from expensis_tui.app import screen_classes  # every screen: loaded when the palette opens

    for mode, screen_class in screen_classes().items():
        area = screen_class.AREA
        title = screen_class.TITLE or mode
        yield PaletteCommand(f"go: {title.lower()}", f"Show the {title} screen",
                             partial(app.action_go, mode))
        for binding in screen_class.BINDINGS:
            if isinstance(binding, Binding) and binding.id and binding.tooltip:
                yield PaletteCommand(f"{area}: {_lower_first(binding.tooltip)}",
                                     f"{binding.description} (key {binding.key_display or binding.key})",
                                     partial(app.run_screen_action, mode, binding.action))
    yield PaletteCommand("console: keys of this screen", "Show the keys of the current screen (?)",
                         app.action_help)
    yield PaletteCommand("console: the last notices in full", "Every toast's whole text, newest first (N)",
                         app.action_notices)
    yield PaletteCommand("console: quit", "Stop the scheduler and workers, then quit", app.action_quit)


class ConsoleCommands(Provider):
    """Every console action, searchable by its title."""

    @property
    def console(self) -> ExpensisApp:
        return cast("ExpensisApp", self.app)

    async def discover(self) -> Hits:
        for command in palette_commands(self.console):
            yield DiscoveryHit(command.title, command.run, help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in palette_commands(self.console):
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), command.run, help=command.help)
