"""The audit log for the console: who did what, filtered and paged in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from core.db import Database
from core.models import AuditLog
from core.views.paging import PAGE_SIZE, Page, each_word_in, fetch_page, like_pattern


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    operator: str
    action: str
    target: str
    result: str
    detail: str | None


def list_audit(db: Database, *, operator: str = "", action: str = "", text: str = "",
               words: Sequence[str] = (), offset: int = 0, limit: int = PAGE_SIZE) -> Page[AuditRow]:
    """Newest first. `operator` and `action` match prefixes; `text` matches target or detail;
    each of `words` (the console's filter) one of operator, action, target, result or detail."""
    query = select(AuditLog.id, AuditLog.at, AuditLog.operator, AuditLog.action, AuditLog.target,
                   AuditLog.result, AuditLog.detail).where(
        each_word_in(words, AuditLog.operator, AuditLog.action, AuditLog.target, AuditLog.result,
                     AuditLog.detail))
    if operator.strip():
        query = query.where(AuditLog.operator.like(operator.strip() + "%"))
    if action.strip():
        query = query.where(AuditLog.action.like(action.strip() + "%"))
    if text.strip():
        pattern = like_pattern(text.strip())
        query = query.where(or_(AuditLog.target.like(pattern, escape="\\"),
                                AuditLog.detail.like(pattern, escape="\\")))
    with db.reader() as session:
        total, rows = fetch_page(session, query.order_by(AuditLog.id.desc()), offset, limit)
    return Page([AuditRow(*r) for r in rows], max(0, offset), limit, total)
