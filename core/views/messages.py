"""The bus at a glance for the Messages screen: counts by status and command type, the
running messages with their worker and lease, the scheduled (delayed) ones, the failed
ones with their error, the paused types, and throughput per minute over the last hour."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from core.bus.bus import DONE, FAILED, QUEUED, RUNNING, STATUSES
from core.bus.control import MessageFilter, paused
from core.db import Database
from core.models import Message
from core.views.paging import Page, fetch_page

T = cast(Table, Message.__table__)

VIEWS = ("queued", "scheduled", "running", "failed", "done", "discarded")


@dataclass(frozen=True)
class TypeCounts:
    command_type: str
    counts: dict[str, int]
    paused: bool


@dataclass(frozen=True)
class BusOverview:
    totals: dict[str, int]
    scheduled: int  # queued, but not due yet (back-off or delay)
    by_type: list[TypeCounts]
    paused: list[tuple[str, str, datetime]]
    throughput: list[int] = field(default_factory=list)  # messages done per minute, oldest first

    @property
    def all_paused(self) -> bool:
        return any(t == "*" for t, _, _ in self.paused)


@dataclass(frozen=True)
class BusMessage:
    id: int
    command_type: str
    status: str
    attempts: int
    max_attempts: int
    available_at: datetime  # due time; while running, the lease expiry
    lease_owner: str | None
    created_at: datetime
    finished_at: datetime | None
    error: str | None


def overview(db: Database, now: datetime, *, minutes: int = 60) -> BusOverview:
    with db.reader() as session:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
        totals = dict.fromkeys(STATUSES, 0)
        for command_type, status, n in session.execute(
                select(T.c.command_type, T.c.status, func.count()).group_by(T.c.command_type, T.c.status)):
            counts[str(command_type)][str(status)] = int(n)
            totals[str(status)] = totals.get(str(status), 0) + int(n)
        scheduled = int(session.execute(select(func.count()).select_from(T).where(
            T.c.status == QUEUED, T.c.available_at > now)).scalar_one())
        paused_types = paused(session)
        names = {t for t, _, _ in paused_types}
        by_type = [TypeCounts(t, c, t in names or "*" in names) for t, c in sorted(counts.items())]
        by_type += [TypeCounts(t, dict.fromkeys(STATUSES, 0), True) for t in sorted(names - set(counts) - {"*"})]
        return BusOverview(totals, scheduled, by_type, paused_types, throughput(session, now, minutes))


def throughput(session: Session, now: datetime, minutes: int) -> list[int]:
    """Messages finished `done` per minute over the last `minutes`, oldest minute first."""
    since = now - timedelta(minutes=minutes)
    per_minute = [0] * minutes
    for (finished,) in session.execute(select(T.c.finished_at).where(
            T.c.status == DONE, T.c.finished_at > since, T.c.finished_at <= now)):
        index = min(minutes - 1, int((finished - since).total_seconds() // 60))
        per_minute[index] += 1
    return per_minute


def message_page(db: Database, view: str, now: datetime, *, command_type: str | None = None,
                 text: str = "", offset: int = 0, limit: int = 50) -> Page[BusMessage]:
    """One view of the bus: running (by lease expiry), scheduled and queued (by due time),
    failed and finished ones (newest first); `text` words are ANDed over type and error.
    The rows are exactly those `filter_for` gives a bulk action (scheduled: queued, not due)."""
    status = QUEUED if view == "scheduled" else view
    selection = MessageFilter(status=status, command_type=command_type or None, words=tuple(text.split()))
    query = select(T.c.id, T.c.command_type, T.c.status, T.c.attempts, T.c.max_attempts, T.c.available_at,
                   T.c.lease_owner, T.c.created_at, T.c.finished_at, T.c.error).where(selection.clause())
    if view == "scheduled":
        query = query.where(T.c.available_at > now)
    if status in (QUEUED, RUNNING):
        query = query.order_by(T.c.available_at, T.c.id)
    else:
        query = query.order_by(T.c.id.desc())
    with db.reader() as session:
        total, rows = fetch_page(session, query, offset, limit)
    return Page([BusMessage(*r) for r in rows], offset, limit, total)


def filter_for(view: str, command_type: str | None, text: str) -> MessageFilter | None:
    """The bulk-action filter for what the failed or queued view shows; None for other views."""
    if view not in (FAILED, QUEUED):
        return None
    return MessageFilter(status=view, command_type=command_type or None, words=tuple(text.split()))


def customer_codes(session: Session, payloads: Iterable[dict[str, Any]]) -> dict[int, str]:
    """The codes of the customers these message payloads name, read in one query."""
    ids = {int(p["customer_id"]) for p in payloads if isinstance(p.get("customer_id"), int)}
    if not ids:
        return {}
    from core.models import (
        Customer,  # the customer table's model loads only when a payload names one
    )

    return {int(i): str(c) for i, c in session.execute(
        select(Customer.id, Customer.code).where(Customer.id.in_(ids)))}


def message_payload(text: str) -> dict[str, Any]:
    """A message's payload; {} when it is not a JSON object."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
