"""Operator actions on the command bus (retry, discard), checked and audited.

The bus's own `retry`/`discard` know nothing of operators; the CLI and the console
call these instead. The role check, the change and its audit row share one
transaction: an action is never done without its audit row, nor audited undone.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from core.bus import Bus, MessageEvent, control
from core.bus.control import MessageFilter
from core.bus.queries import get_message
from core.security import audit
from core.security.roles import Action, require


def _target(bus: Bus, message_id: int) -> str:
    detail = get_message(bus.db, message_id)
    return f"message {message_id}" + (f" {detail.row.command_type}" if detail else "")


def _act(bus: Bus, action: str, change: Callable[[int, Session], bool], message_id: int, operator: str) -> bool:
    target = _target(bus, message_id)
    with bus.db.transaction() as session:
        require(session, operator, action, target=target)
        changed = change(message_id, session)
        audit.record(session, operator=operator, action=action, target=target,
                     result="ok" if changed else "no change",
                     detail=None if changed else "the message was not in a state that allows it")
    return changed


def retry_message(bus: Bus, message_id: int, *, operator: str) -> bool:
    """Queue a failed message again (fresh attempts); False if it was not failed."""
    return _act(bus, Action.MESSAGES_RETRY, bus.retry, message_id, operator)


def discard_message(bus: Bus, message_id: int, *, operator: str) -> bool:
    """Drop a failed or waiting message and the rest of its chain; False if neither."""
    return _act(bus, Action.MESSAGES_DISCARD, bus.discard, message_id, operator)


def retry_all_failed(bus: Bus, *, operator: str) -> int:
    """Queue every failed message again; returns how many."""
    with bus.db.transaction() as session:
        require(session, operator, Action.MESSAGES_RETRY, target="all failed messages")
        count = bus.retry_all_failed(session)
        audit.record(session, operator=operator, action=Action.MESSAGES_RETRY, target="all failed messages",
                     detail=f"{count} message(s) queued again")
    return count


def _act_on_matching(bus: Bus, selection: MessageFilter, operator: str, action: Action,
                     change: Callable[[Session, MessageFilter, datetime], int], event: str, outcome: str) -> int:
    """A bulk change of every message the filter matches: checked, done and audited in one
    transaction, the count in the audit line; returns how many changed."""
    with bus.db.transaction() as session:
        require(session, operator, action, target=selection.describe())
        count = change(session, selection, bus.clock())
        audit.record(session, operator=operator, action=action, target=selection.describe(),
                     detail=f"{count} message(s) {outcome}")
        if count:
            bus.after_commit(session, MessageEvent(event, 0, selection.command_type or "", ""))
    return count


def retry_matching(bus: Bus, selection: MessageFilter, *, operator: str) -> int:
    """Queue again every failed message the filter matches; returns how many (audited)."""
    return _act_on_matching(bus, selection, operator, Action.MESSAGES_RETRY, control.retry_matching,
                            "retrying", "queued again")


def discard_matching(bus: Bus, selection: MessageFilter, *, operator: str) -> int:
    """Drop every failed or queued message the filter matches; returns how many (audited)."""
    return _act_on_matching(bus, selection, operator, Action.MESSAGES_DISCARD, control.discard_matching,
                            "discarded", "discarded")


def pause_command(bus: Bus, command_type: str, *, operator: str) -> bool:
    """Stop every worker, on every host, from claiming `command_type` (`*`: all dispatching)."""
    with bus.db.transaction() as session:
        require(session, operator, Action.MESSAGES_PAUSE, target=command_type)
        changed = control.pause(session, command_type, operator)
        audit.record(session, operator=operator, action=Action.MESSAGES_PAUSE, target=command_type,
                     result="ok" if changed else "no change", detail=None if changed else "already paused")
    return changed


def resume_command(bus: Bus, command_type: str, *, operator: str) -> bool:
    with bus.db.transaction() as session:
        require(session, operator, Action.MESSAGES_RESUME, target=command_type)
        changed = control.resume(session, command_type)
        audit.record(session, operator=operator, action=Action.MESSAGES_RESUME, target=command_type,
                     result="ok" if changed else "no change", detail=None if changed else "was not paused")
        if changed:
            bus.after_commit(session, MessageEvent("resumed", 0, command_type, ""))
    return changed
