"""Completes a typed customer code in place (→ accepts), from codes read once in a worker."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from textual.screen import Screen
from textual.suggester import Suggester
from textual.widgets import Input

from core.db import Database
from core.lookup import customer_names


class CustomerSuggester(Suggester):
    """Suggests the first customer code, in any case, that starts with what was typed.

    The codes are held sorted and casefolded, so a lookup is a binary search whatever
    the number of customers; Textual caches each answer as well.
    """

    def __init__(self, names: dict[str, str]) -> None:
        super().__init__(use_cache=True, case_sensitive=False)
        self.names = names
        self._folded = sorted((code.casefold(), code) for code in names)
        self._keys = [folded for folded, _ in self._folded]

    def code_for(self, typed: str) -> str | None:
        """The first code (in order) starting with `typed`, in any case."""
        prefix = typed.casefold()
        if not prefix:
            return None
        i = bisect_left(self._keys, prefix)
        if i < len(self._keys) and self._keys[i].startswith(prefix):
            return self._folded[i][1]
        return None

    async def get_suggestion(self, value: str) -> str | None:
        return self.code_for(value)


def suggest_customers(screen: Screen[Any], field: Input, db: Database) -> None:
    """Give `field` customer-code completion once the codes are read (in a worker)."""

    def read() -> None:
        with db.reader() as session:
            suggester = CustomerSuggester(customer_names(session))
        screen.app.call_from_thread(setattr, field, "suggester", suggester)

    screen.run_worker(read, thread=True, group="names", exit_on_error=False,
                      description="Reading customer codes")
