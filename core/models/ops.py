"""Operators, the audit log, the bus's message table and the scheduler's lease and ticks."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, BigId, utcnow

# A bus message's status as stored; core.bus names them QUEUED, RUNNING, ...
MessageStatus = Literal["queued", "running", "done", "failed", "discarded"]

class Operator(Base):
    __tablename__ = "operator"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(12), default="viewer")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    operator: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255), default="")
    result: Mapped[str] = mapped_column(String(16), default="ok")
    detail: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    """A command on the bus. Nothing lives only in memory: this row is the command."""

    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_due", "status", "available_at"),
        Index("ix_message_workflow", "workflow_id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    command_id: Mapped[str] = mapped_column(String(36), unique=True)
    command_type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[str] = mapped_column(Text)
    chain: Mapped[str] = mapped_column(Text, default="[]")
    workflow_id: Mapped[str] = mapped_column(String(36))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("message.id"))
    status: Mapped[MessageStatus] = mapped_column(String(12), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    available_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class PausedCommand(Base):
    """A command type no worker claims while this row exists (`*`: every type); on every host,
    because the claim itself reads this table."""

    __tablename__ = "paused_command"
    command_type: Mapped[str] = mapped_column(String(80), primary_key=True)
    paused_by: Mapped[str] = mapped_column(String(64))
    paused_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageAttempt(Base):
    """One failed attempt of a message: when, and the full error (the message keeps only the last)."""

    __tablename__ = "message_attempt"
    __table_args__ = (Index("ix_message_attempt_message", "message_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id"))
    attempt: Mapped[int]
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(12))  # retrying | failed | gave_up
    error: Mapped[str | None] = mapped_column(Text)


class SchedulerLease(Base):
    """Leadership: whoever holds an unexpired lease runs the scheduler; epoch fences old leaders."""

    __tablename__ = "scheduler_lease"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]
    epoch: Mapped[int] = mapped_column(default=0)


class SchedulerTick(Base):
    __tablename__ = "scheduler_tick"
    __table_args__ = (UniqueConstraint("job", "fire_time"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    fire_time: Mapped[datetime]
    holder: Mapped[str] = mapped_column(String(120))
    epoch: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
