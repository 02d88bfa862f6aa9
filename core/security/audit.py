"""The audit log: every state-changing action, who did it and how it ended."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.models import AuditLog


def record(session: Session, *, operator: str, action: str, target: str = "",
           result: str = "ok", detail: str | None = None) -> None:
    """Add one audit-log row in `session`'s transaction (it commits with the action)."""
    session.add(AuditLog(operator=operator, action=action, target=target[:255],
                         result=result, detail=detail))
