"""Read-only views of the message table for the CLI and the console."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select

from core.db import Database
from core.models import Message, MessageAttempt
from core.quickread import MessageRow, MessageState

T = cast(Table, Message.__table__)
__all__ = ["AttemptRow", "MessageDetail", "MessageRow", "MessageState", "get_message", "list_messages"]


@dataclass(frozen=True)
class MessageDetail:
    row: MessageRow
    command_id: str
    payload: dict[str, Any]
    chain: list[str]
    parent_id: int | None
    lease_owner: str | None
    started_at: datetime | None
    traceback: str | None
    attempts: list[AttemptRow] = field(default_factory=list)  # its failed attempts, oldest first

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(d.pop("row"))
        return d


@dataclass(frozen=True)
class AttemptRow:
    attempt: int
    at: datetime
    outcome: str  # retrying | failed | gave_up
    error: str | None


_ROW_COLUMNS = (T.c.id, T.c.command_type, T.c.status, T.c.attempts, T.c.max_attempts,
                T.c.workflow_id, T.c.available_at, T.c.created_at, T.c.finished_at, T.c.error)


def list_messages(db: Database, *, status: str | None = None, command_type: str | None = None,
                  workflow_id: str | None = None, limit: int = 100, offset: int = 0) -> list[MessageRow]:
    query = select(*_ROW_COLUMNS).order_by(T.c.id.desc()).limit(limit).offset(offset)
    if status:
        query = query.where(T.c.status == status)
    if command_type:
        query = query.where(T.c.command_type == command_type)
    if workflow_id:
        query = query.where(T.c.workflow_id == workflow_id)
    with db.reader() as session:
        rows: list[Any] = list(session.execute(query).all())
    return [MessageRow(*r) for r in rows]


def get_message(db: Database, message_id: int) -> MessageDetail | None:
    with db.reader() as session:
        r = session.execute(select(*_ROW_COLUMNS, T.c.command_id, T.c.payload, T.c.chain,
                                   T.c.parent_id, T.c.lease_owner, T.c.started_at, T.c.traceback)
                            .where(T.c.id == message_id)).first()
        attempts = [AttemptRow(*a) for a in session.execute(
            select(MessageAttempt.attempt, MessageAttempt.at, MessageAttempt.outcome, MessageAttempt.error)
            .where(MessageAttempt.message_id == message_id).order_by(MessageAttempt.id))]
    if r is None:
        return None
    try:
        payload = json.loads(r.payload)
    except ValueError:
        payload = {"unreadable": r.payload}
    try:
        chain = [step["type"] for step in json.loads(r.chain)]
    except (ValueError, KeyError, TypeError):
        chain = ["(unreadable chain)"]
    return MessageDetail(MessageRow(*r[:10]), r.command_id, payload, chain, r.parent_id,
                          r.lease_owner, r.started_at, r.traceback, attempts)
