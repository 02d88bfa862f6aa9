"""Mobile add-ons: lookups and the read-only views the CLI and the console show.

The state of record is `subscription_addon` (what the provider last confirmed) and
`addon_log` (every activate/cancel request: backlog → sent → succeeded/failed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.db import Database
from core.models import (
    AddonLog,
    AddonType,
    Message,
    RateLimitHit,
    Subscription,
    SubscriptionAddon,
    SyncProfile,
)
from core.security.ratelimit import Clock, database_clock, window_start
from providers.base import normalise_number
from providers.limits import NINA_RATE_LIMIT
from providers.limits import NINA_WINDOW_S as NINA_WINDOW_SECONDS

PROVIDER = "routit"
ACTIVATE, CANCEL = "activate", "cancel"
BACKLOG, SENT, SUCCEEDED, FAILED = "backlog", "sent", "succeeded", "failed"
WAITING = (BACKLOG, SENT)
FINISHED = (SUCCEEDED, FAILED)
ACTIVE, CANCELLED = "active", "cancelled"  # subscription_addon.status
STATE_AFTER = {ACTIVATE: ACTIVE, CANCEL: CANCELLED}
NINA_LIMIT, NINA_WINDOW_S = NINA_RATE_LIMIT, int(NINA_WINDOW_SECONDS)  # per customer
NINA_WINDOW = timedelta(seconds=NINA_WINDOW_S)


def limiter_key(customer_id: int) -> str:
    return f"nina:{customer_id}"


class AddonError(ValueError):
    """An add-on request that cannot be made as asked; the message says why."""

    transient = False


# -- lookups ---------------------------------------------------------------------------------

def routit_profile(session: Session, customer_id: int) -> SyncProfile | None:
    """The customer's Routit sync profile (its credentials open Nina), active ones first."""
    return session.scalars(select(SyncProfile).where(SyncProfile.customer_id == customer_id,
                                                     SyncProfile.provider == PROVIDER)
                           .order_by(SyncProfile.active.desc(), SyncProfile.id)).first()


def subscriptions_by_number(session: Session, customer_id: int, numbers: Sequence[str]) -> list[int]:
    """Subscription ids for numbers as typed (any spelling); AddonError names the unknown ones."""
    wanted: list[str] = []
    for raw in numbers:
        try:
            wanted.append(normalise_number(raw))
        except ValueError:
            raise AddonError(f"{raw!r} is not a phone number") from None
    found = dict(session.execute(select(Subscription.number, Subscription.id).where(
        Subscription.customer_id == customer_id, Subscription.number.in_(wanted))).all())
    unknown = [n for n in wanted if n not in found]
    if unknown:
        raise AddonError(f"not a subscription of this customer: {', '.join(unknown)}")
    return list(dict.fromkeys(found[n] for n in wanted))


# -- views -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AddonTypeRow:
    code: str
    name: str
    monthly_price: Decimal


@dataclass(frozen=True)
class AddonState:
    addon_code: str
    status: str
    updated_at: datetime


@dataclass(frozen=True)
class SubscriptionAddons:
    subscription_id: int
    number: str
    addons: tuple[AddonState, ...]

    @property
    def active(self) -> list[str]:
        return [a.addon_code for a in self.addons if a.status == ACTIVE]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "active": self.active}


@dataclass(frozen=True)
class AddonLogRow:
    id: int
    subscription_id: int
    number: str
    addon_code: str
    action: str
    status: str
    attempts: int
    not_before: datetime | None
    provider_request_id: str | None
    error_message: str | None
    requested_by: str
    created_at: datetime
    finished_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BacklogRow:
    entry: AddonLogRow
    goes_out_at: datetime  # estimated from the limiter's windows and any provider Retry-After

    def as_dict(self) -> dict[str, Any]:
        return {**self.entry.as_dict(), "goes_out_at": self.goes_out_at}


_LOG_COLUMNS = (AddonLog.id, AddonLog.subscription_id, Subscription.number, AddonLog.addon_code,
                AddonLog.action, AddonLog.status, AddonLog.attempts, AddonLog.not_before,
                AddonLog.provider_request_id, AddonLog.error_message, AddonLog.requested_by,
                AddonLog.created_at, AddonLog.finished_at)


def _log_query() -> Any:
    return select(*_LOG_COLUMNS).join(Subscription, Subscription.id == AddonLog.subscription_id)


def catalogue(db: Database, provider: str = PROVIDER) -> list[AddonTypeRow]:
    with db.reader() as session:
        rows = session.execute(select(AddonType.code, AddonType.name, AddonType.monthly_price)
                               .where(AddonType.provider == provider).order_by(AddonType.code)).all()
    return [AddonTypeRow(*row) for row in rows]


def on_addon_platform() -> Any:
    """Subscriptions add-ons can go to: on Routit, or of a platform not recorded (Nina decides)."""
    return or_(Subscription.provider == PROVIDER, Subscription.provider.is_(None))


def subscription_addons(db: Database, customer_id: int) -> list[SubscriptionAddons]:
    """The customer's subscriptions on the add-on platform, with the add-ons the provider confirmed."""
    with db.reader() as session:
        subs = session.execute(select(Subscription.id, Subscription.number)
                               .where(Subscription.customer_id == customer_id, on_addon_platform())
                               .order_by(Subscription.number)).all()
        states = session.execute(
            select(SubscriptionAddon.subscription_id, SubscriptionAddon.addon_code,
                   SubscriptionAddon.status, SubscriptionAddon.updated_at)
            .join(Subscription, Subscription.id == SubscriptionAddon.subscription_id)
            .where(Subscription.customer_id == customer_id)
            .order_by(SubscriptionAddon.addon_code)).all()
    by_sub: dict[int, list[AddonState]] = {}
    for sub_id, code, status, updated in states:
        by_sub.setdefault(sub_id, []).append(AddonState(code, status, updated))
    return [SubscriptionAddons(sub_id, number, tuple(by_sub.get(sub_id, ()))) for sub_id, number in subs]


def addon_log(db: Database, customer_id: int, limit: int = 50, offset: int = 0) -> list[AddonLogRow]:
    """The customer's add-on requests, newest first, one page."""
    query = (_log_query().where(AddonLog.customer_id == customer_id)
             .order_by(AddonLog.id.desc()).limit(limit).offset(offset))
    with db.reader() as session:
        return [AddonLogRow(*row) for row in session.execute(query).all()]


def addon_log_count(db: Database, customer_id: int) -> int:
    with db.reader() as session:
        return int(session.scalar(select(func.count()).select_from(AddonLog)
                                  .where(AddonLog.customer_id == customer_id)) or 0)


def backlog(db: Database, customer_id: int, *, clock: Clock | None = None) -> list[BacklogRow]:
    """Requests not yet answered, in the order they go out, with when each will.

    The estimate fills the limiter's windows in request order (those already used
    this window count) and never puts a request before its provider Retry-After.
    """
    now = (clock or database_clock(db))()
    start = window_start(now, NINA_WINDOW_S)
    with db.reader() as session:
        rows = [AddonLogRow(*row) for row in session.execute(
            _log_query().where(AddonLog.customer_id == customer_id, AddonLog.status.in_(WAITING))
            .order_by(AddonLog.id)).all()]
        used = int(session.scalar(select(func.count()).select_from(RateLimitHit).where(
            RateLimitHit.limiter_key == limiter_key(customer_id),
            RateLimitHit.window_start == start)) or 0)
    result: list[BacklogRow] = []
    position = used
    for row in rows:
        if row.status == SENT:  # in flight (or waiting for the bus to retry a failed call)
            result.append(BacklogRow(row, max(now, row.not_before or now)))
            continue
        windows_ahead = position // NINA_LIMIT
        estimate = now if windows_ahead == 0 else start + windows_ahead * NINA_WINDOW
        result.append(BacklogRow(row, max(estimate, row.not_before or estimate)))
        position += 1
    return result


def request_logs(db: Database, workflow_id: str) -> list[AddonLogRow]:
    """The add-on log rows one activate/cancel request created (found through its workflow)."""
    with db.reader() as session:
        payloads = session.scalars(select(Message.payload).where(
            Message.workflow_id == workflow_id, Message.command_type == "SendAddonRequest")).all()
        ids = sorted({int(json.loads(p)["log_id"]) for p in payloads})
        if not ids:
            return []
        return [AddonLogRow(*row) for row in session.execute(
            _log_query().where(AddonLog.id.in_(ids)).order_by(AddonLog.id)).all()]
