"""One page of a listing, cut in SQL (LIMIT/OFFSET), with the total for the status line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.orm import QueryableAttribute, Session

T = TypeVar("T")
AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    offset: int
    limit: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.rows) < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0

    def describe(self, noun: str) -> str:
        """"tasks 51–100 of 1,234" for the status line."""
        if not self.rows:
            return f"no {noun}" if self.total == 0 else f"{noun}: past the end ({self.total:,})"
        return f"{noun} {self.offset + 1:,}–{self.offset + len(self.rows):,} of {self.total:,}"


def bounds(offset: int, limit: int) -> tuple[int, int]:
    """A safe (offset, limit): never negative, never more than MAX_PAGE_SIZE rows."""
    return max(0, offset), max(1, min(limit, MAX_PAGE_SIZE))


def fetch_page(session: Session, query: AnySelect, offset: int, limit: int) -> tuple[int, Sequence[Any]]:
    """The total matching `query` and one page of its rows (the query must be ordered)."""
    offset, limit = bounds(offset, limit)
    total = int(session.execute(select(func.count()).select_from(query.order_by(None).subquery()))
                .scalar_one())
    rows = session.execute(query.limit(limit).offset(offset)).all()
    return total, rows


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with the wildcards in it escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def each_word_in(words: Sequence[str], *columns: QueryableAttribute[Any]) -> ColumnElement[bool]:
    """The console's live filter in SQL: every word (ANDed) found in one of `columns`,
    case-insensitive, its wildcards taken literally. No words: every row."""
    return and_(true(), *(or_(*(func.lower(column).contains(word.casefold(), autoescape=True)
                                for column in columns)) for word in words))
