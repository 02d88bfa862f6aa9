"""Add-ons for the console: Routit customers, their subscriptions with the add-ons the provider
confirmed and the requests still waiting, the backlog and the add-on log, paged in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from core.addons import (
    ACTIVE,
    PROVIDER,
    WAITING,
    AddonLogRow,
    AddonState,
    BacklogRow,
    addon_log,
    addon_log_count,
    backlog,
)
from core.db import Database
from core.models import AddonLog, Customer, Subscription, SubscriptionAddon, SyncProfile
from core.security.ratelimit import Clock
from core.views.paging import PAGE_SIZE, Page, bounds, fetch_page


@dataclass(frozen=True)
class AddonCustomer:
    id: int
    code: str
    name: str
    profile: str  # the Routit sync profile whose credentials open Nina
    subscriptions: int


@dataclass(frozen=True)
class WaitingRequest:
    action: str  # activate / cancel
    addon_code: str
    status: str  # backlog / sent


@dataclass(frozen=True)
class SubscriptionLine:
    id: int
    number: str
    addons: tuple[AddonState, ...]  # as the provider last confirmed them
    waiting: tuple[WaitingRequest, ...]  # requests not answered yet

    @property
    def active(self) -> list[str]:
        return [a.addon_code for a in self.addons if a.status == ACTIVE]


@dataclass(frozen=True)
class BacklogPage:
    rows: list[BacklogRow]  # the first `limit`, in the order they go out
    total: int


def addon_customers(db: Database, *, limit: int = PAGE_SIZE) -> list[AddonCustomer]:
    """Customers with a Routit sync profile, by code, with their number of subscriptions."""
    _, limit = bounds(0, limit)
    profile = (select(SyncProfile.customer_id, func.min(SyncProfile.name).label("name"))
               .where(SyncProfile.provider == PROVIDER).group_by(SyncProfile.customer_id).subquery())
    subscriptions = (select(func.count()).where(Subscription.customer_id == Customer.id)
                     .correlate(Customer).scalar_subquery())
    query = (select(Customer.id, Customer.code, Customer.name, profile.c.name, subscriptions)
             .join(profile, profile.c.customer_id == Customer.id).order_by(Customer.code).limit(limit))
    with db.reader() as session:
        return [AddonCustomer(int(i), str(c), str(n), str(p), int(s or 0))
                for i, c, n, p, s in session.execute(query)]


def subscription_page(db: Database, customer_id: int, *, offset: int = 0,
                      limit: int = PAGE_SIZE) -> Page[SubscriptionLine]:
    """One page of the customer's subscriptions by number, with their add-ons and waiting requests."""
    query = (select(Subscription.id, Subscription.number).where(Subscription.customer_id == customer_id)
             .order_by(Subscription.number))
    with db.reader() as session:
        total, rows = fetch_page(session, query, offset, limit)
        ids = [int(r[0]) for r in rows]
        states: dict[int, list[AddonState]] = {}
        waiting: dict[int, list[WaitingRequest]] = {}
        if ids:
            for sub_id, code, status, updated in session.execute(
                    select(SubscriptionAddon.subscription_id, SubscriptionAddon.addon_code,
                           SubscriptionAddon.status, SubscriptionAddon.updated_at)
                    .where(SubscriptionAddon.subscription_id.in_(ids))
                    .order_by(SubscriptionAddon.addon_code)):
                states.setdefault(int(sub_id), []).append(AddonState(str(code), str(status), updated))
            for sub_id, action, code, status in session.execute(
                    select(AddonLog.subscription_id, AddonLog.action, AddonLog.addon_code, AddonLog.status)
                    .where(AddonLog.subscription_id.in_(ids), AddonLog.status.in_(WAITING))
                    .order_by(AddonLog.id)):
                waiting.setdefault(int(sub_id), []).append(WaitingRequest(str(action), str(code), str(status)))
    lines = [SubscriptionLine(int(i), str(n), tuple(states.get(int(i), ())), tuple(waiting.get(int(i), ())))
             for i, n in rows]
    return Page(lines, max(0, offset), limit, total)


def log_page(db: Database, customer_id: int, *, offset: int = 0,
             limit: int = PAGE_SIZE) -> Page[AddonLogRow]:
    """The customer's add-on requests, newest first."""
    offset, limit = bounds(offset, limit)
    return Page(addon_log(db, customer_id, limit=limit, offset=offset), offset, limit,
                addon_log_count(db, customer_id))


def backlog_page(db: Database, customer_id: int, *, clock: Clock | None = None,
                 limit: int = PAGE_SIZE) -> BacklogPage:
    """The requests still to go out, with when each will (core.addons.backlog), the first `limit`."""
    rows = backlog(db, customer_id, clock=clock)
    return BacklogPage(rows[:max(1, limit)], len(rows))


def next_out(page: BacklogPage) -> datetime | None:
    """When the first waiting request goes out."""
    return min((r.goes_out_at for r in page.rows), default=None)
