"""Operating the bus as a whole: pause and resume command types, act on every message a
filter matches. Plain changes on a session; `core.operations` adds the role check and
the audit row in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.bus.bus import ALL_TYPES, DISCARDED, FAILED, QUEUED
from core.models import Message, PausedCommand

T = cast(Table, Message.__table__)
P = cast(Table, PausedCommand.__table__)


@dataclass(frozen=True)
class MessageFilter:
    """Which messages a bulk action touches: every given field must match (AND)."""

    status: str = FAILED
    command_type: str | None = None
    error_contains: str | None = None
    workflow_id: str | None = None
    words: tuple[str, ...] = ()  # the console's live filter: each word in the type or the error

    def clause(self) -> ColumnElement[bool]:
        condition: ColumnElement[bool] = T.c.status == self.status
        if self.command_type:
            condition &= T.c.command_type == self.command_type
        if self.error_contains:
            condition &= T.c.error.contains(self.error_contains, autoescape=True)
        if self.workflow_id:
            condition &= T.c.workflow_id == self.workflow_id
        for word in self.words:
            condition &= (T.c.command_type.contains(word, autoescape=True)
                          | T.c.error.contains(word, autoescape=True))
        return condition

    def describe(self) -> str:
        parts = [f"status={self.status}"]
        if self.command_type:
            parts.append(f"type={self.command_type}")
        if self.error_contains:
            parts.append(f"error~{self.error_contains!r}")
        if self.workflow_id:
            parts.append(f"workflow={self.workflow_id}")
        parts.extend(f"~{word}" for word in self.words)
        return " ".join(parts)

    @classmethod
    def parse(cls, text: str) -> MessageFilter:
        """'status=failed type=KpnSp16Sync error=timeout' (the CLI's and the console's form)."""
        fields: dict[str, Any] = {}
        names = {"status": "status", "type": "command_type", "error": "error_contains",
                 "workflow": "workflow_id"}
        for word in text.split():
            key, sep, value = word.partition("=")
            if not sep or key not in names or not value:
                raise ValueError(f"{word!r}: a filter is key=value with key one of {', '.join(names)}")
            fields[names[key]] = value
        return cls(**fields)


def count_matching(session: Session, selection: MessageFilter) -> int:
    return int(session.execute(select(func.count()).select_from(T).where(selection.clause())).scalar_one())


def retry_matching(session: Session, selection: MessageFilter, now: datetime) -> int:
    """Queue every failed message the filter matches again, with fresh attempts."""
    if selection.status != FAILED:
        raise ValueError("only failed messages can be retried")
    result = session.execute(update(T).where(selection.clause())
                             .values(status=QUEUED, attempts=0, available_at=now, finished_at=None)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def discard_matching(session: Session, selection: MessageFilter, now: datetime) -> int:
    """Drop every failed or waiting message the filter matches (their chains with them)."""
    if selection.status not in (FAILED, QUEUED):
        raise ValueError("only failed or queued messages can be discarded")
    result = session.execute(update(T).where(selection.clause())
                             .values(status=DISCARDED, finished_at=now)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def pause(session: Session, command_type: str, operator: str) -> bool:
    """No worker claims `command_type` (ALL_TYPES: any) from now on; False if already paused."""
    try:
        with session.begin_nested():
            session.add(PausedCommand(command_type=command_type, paused_by=operator))
    except IntegrityError:
        return False
    return True


def resume(session: Session, command_type: str) -> bool:
    result = session.execute(delete(P).where(P.c.command_type == command_type))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def paused(session: Session) -> list[tuple[str, str, datetime]]:
    """(command type, who paused it, since when), `*` first."""
    rows = session.execute(select(P.c.command_type, P.c.paused_by, P.c.paused_at)
                           .where(true()).order_by(P.c.command_type)).all()
    return sorted(((str(t), str(b), a) for t, b, a in rows), key=lambda r: (r[0] != ALL_TYPES, r[0]))
