"""Add-on workflow (Routit Nina API): activate or cancel an add-on on many subscriptions.

ActivateRoutitAddons / CancelRoutitAddons (admin, `addons.change`) → one `addon_log`
row per subscription (backlog) → one SendAddonRequest each. SendAddonRequest takes a
slot of the customer's shared limiter (Nina allows 10 requests per minute per
customer). Without a slot the row stays in the backlog with `not_before` and the
command sends itself again when the window allows: a visible queue, not an error.
With a slot it asks Nina, and only Nina's answer changes `subscription_addon`.
A 429 goes back to the backlog; 5xx and timeouts are retried by the bus with
back-off; refusals and exhausted retries fail the row with the reason.

Redelivery is harmless: Nina answers a repeated request with the first request id,
and every `addon_log` transition is a conditional UPDATE checked by row count.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.addons import (
    ACTIVATE,
    BACKLOG,
    CANCEL,
    FAILED,
    NINA_LIMIT,
    NINA_WINDOW_S,
    PROVIDER,
    SENT,
    STATE_AFTER,
    SUCCEEDED,
    WAITING,
    AddonError,
    limiter_key,
    on_addon_platform,
    routit_profile,
)
from core.bus import Bus, Command, Dispatched, HandlerContext, PermanentError
from core.bus.bus import affected, describe
from core.bus.command import WorkflowReport
from core.bus.errors import classify
from core.db import Database
from core.models import (
    AddonLog,
    AddonType,
    Customer,
    Message,
    Subscription,
    SubscriptionAddon,
    SyncProfile,
)
from core.security import audit
from core.security.ratelimit import Clock, RateLimiter
from core.security.roles import Action, require
from core.security.secrets import SecretBox
from core.workflows.sync import connection_for
from providers.base import AddonClientFactory, RateLimited, open_nina

log = logging.getLogger(__name__)


ROLE_ACTIONS: dict[str, Action] = {ACTIVATE: Action.ADDONS_ACTIVATE, CANCEL: Action.ADDONS_CANCEL}
IN_ORDER_POLL_S = 5.0  # how soon a request queued behind another for the same add-on looks again


# -- commands --------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoutitAddonChange(Command, abstract=True):
    """Base of the activate/cancel commands: one add-on on some subscriptions of a customer."""

    customer_id: int
    subscription_ids: tuple[int, ...]
    addon_code: str
    requested_by: str
    action: ClassVar[str]

    def report(self, session: Session, workflow_id: str) -> WorkflowReport | None:
        """Failed when a request was refused or given up on (its message still completes)."""
        payloads = session.scalars(select(Message.payload).where(
            Message.workflow_id == workflow_id, Message.command_type == SendAddonRequest.type_name())).all()
        ids = sorted({int(json.loads(p)["log_id"]) for p in payloads})
        rows = session.execute(select(AddonLog.status, AddonLog.error_message)
                               .where(AddonLog.id.in_(ids)).order_by(AddonLog.id)).all() if ids else []
        counts = Counter(status for status, _ in rows)
        note = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or None
        failed = [error or "no reason given" for status, error in rows if status == FAILED]
        if not failed:
            return WorkflowReport(note=note)
        return WorkflowReport(failed=True, failed_step=SendAddonRequest.type_name(),
                              error=f"{len(failed)} of {len(rows)} request(s) failed: {failed[0]}", note=note)


@dataclass(frozen=True)
class ActivateRoutitAddons(RoutitAddonChange):
    action: ClassVar[str] = ACTIVATE


@dataclass(frozen=True)
class CancelRoutitAddons(RoutitAddonChange):
    action: ClassVar[str] = CANCEL


@dataclass(frozen=True)
class SendAddonRequest(Command):
    """One add-on request to Nina, when the customer's rate limit allows."""

    log_id: int


COMMANDS: dict[str, type[RoutitAddonChange]] = {ACTIVATE: ActivateRoutitAddons,
                                                CANCEL: CancelRoutitAddons}


# -- starting a change -----------------------------------------------------------------------

@dataclass(frozen=True)
class AddonRequest:
    message_id: int
    workflow_id: str
    subscriptions: int
    handle: Dispatched


def request_addon_change(bus: Bus, action: str, customer_id: int, subscription_ids: Sequence[int],
                         addon_code: str, *, operator: str) -> AddonRequest:
    """Check, then dispatch Activate/CancelRoutitAddons; the handler creates the log rows."""
    command_type = COMMANDS.get(action)
    if command_type is None:
        raise AddonError(f"unknown add-on action {action!r}: use activate or cancel")
    ids = tuple(dict.fromkeys(subscription_ids))
    with bus.db.transaction() as session:
        require(session, operator, ROLE_ACTIONS[action], target=f"customer {customer_id} {addon_code}")
        _validate(session, customer_id, ids, addon_code)
        handle = bus.dispatch(command_type(customer_id, ids, addon_code, operator), session=session)
    return AddonRequest(handle.message_id, handle.workflow_id, len(ids), handle)


def activate_addons(bus: Bus, customer_id: int, subscription_ids: Sequence[int], addon_code: str,
                    *, operator: str) -> AddonRequest:
    return request_addon_change(bus, ACTIVATE, customer_id, subscription_ids, addon_code,
                                operator=operator)


def cancel_addons(bus: Bus, customer_id: int, subscription_ids: Sequence[int], addon_code: str,
                  *, operator: str) -> AddonRequest:
    return request_addon_change(bus, CANCEL, customer_id, subscription_ids, addon_code,
                                operator=operator)


def _validate(session: Session, customer_id: int, subscription_ids: tuple[int, ...],
              addon_code: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise AddonError(f"no customer with id {customer_id}")
    if not subscription_ids:
        raise AddonError("name at least one subscription")
    if not addon_code.strip():
        raise AddonError("name the add-on (its code)")
    if routit_profile(session, customer_id) is None:
        raise AddonError(f"customer {customer.code} has no Routit sync profile: add-ons go through Nina")
    owned = set(session.scalars(select(Subscription.id).where(
        Subscription.customer_id == customer_id, Subscription.id.in_(subscription_ids))))
    strangers = [str(i) for i in subscription_ids if i not in owned]
    if strangers:
        raise AddonError(f"subscription(s) {', '.join(strangers)} do not belong to {customer.code}")
    elsewhere = session.execute(select(Subscription.number, Subscription.provider).where(
        Subscription.id.in_(subscription_ids), ~on_addon_platform())).all()
    if elsewhere:  # refused before sending: Nina only knows Routit numbers
        raise AddonError("not on Routit, so Nina has no add-ons for: "
                         + ", ".join(f"{number} ({provider})" for number, provider in elsewhere))
    known = set(session.scalars(select(AddonType.code).where(AddonType.provider == PROVIDER)))
    if known and addon_code not in known:
        raise AddonError(f"unknown add-on {addon_code!r}: the catalogue has {', '.join(sorted(known))}")
    return customer


# -- the catalogue ---------------------------------------------------------------------------

class NinaBusy(Exception):
    """The customer's Nina requests are used up for this minute; try again at `retry_at`."""

    def __init__(self, retry_at: datetime) -> None:
        super().__init__(f"Nina's limit for this customer is used up until {retry_at:%H:%M:%S} UTC")
        self.retry_at = retry_at


def refresh_addon_types(db: Database, profile: SyncProfile, *, secrets: SecretBox, operator: str,
                        clock: Clock | None = None, timeout_s: float = 30.0,
                        client: AddonClientFactory = open_nina) -> int:
    """Replace the Routit add-on catalogue with Nina's list; returns the number of types.

    Uses one of the customer's Nina requests (NinaBusy when none is left this minute).
    """
    with db.transaction() as session:  # check first: a viewer must not spend a Nina request
        require(session, operator, Action.ADDONS_REFRESH, target=profile.name)
    limiter = RateLimiter(db, limiter_key(profile.customer_id), NINA_LIMIT, NINA_WINDOW_S, clock)
    retry_at = limiter.try_acquire()
    if retry_at is not None:
        raise NinaBusy(retry_at)
    with client(connection_for(profile, secrets, timeout_s)) as nina:
        types = nina.list_addon_types()
    with db.transaction() as session:
        existing = {t.code: t for t in session.scalars(select(AddonType).where(AddonType.provider == PROVIDER))}
        for item in types:
            row = existing.pop(item.code, None)
            if row is None:
                session.add(AddonType(provider=PROVIDER, code=item.code, name=item.name,
                                      monthly_price=item.monthly_fee))
            else:
                row.name, row.monthly_price = item.name, item.monthly_fee
        for gone in existing.values():
            session.delete(gone)
        audit.record(session, operator=operator, action=Action.ADDONS_REFRESH, target=profile.name,
                     detail=f"{len(types)} add-on type(s)"
                            + (f", {len(existing)} withdrawn" if existing else ""))
    return len(types)


# -- handlers --------------------------------------------------------------------------------

def change_routit_addons(cmd: RoutitAddonChange, ctx: HandlerContext) -> None:
    """Check the role again (the message may outlive a role change), log, fan out."""
    session = ctx.session
    require(session, cmd.requested_by, ROLE_ACTIONS[cmd.action],
            target=f"customer {cmd.customer_id} {cmd.addon_code}")
    ids = tuple(dict.fromkeys(cmd.subscription_ids))
    try:
        customer = _validate(session, cmd.customer_id, ids, cmd.addon_code)
    except AddonError as exc:
        raise PermanentError(str(exc)) from exc
    now = ctx.clock()
    rows = [AddonLog(customer_id=cmd.customer_id, subscription_id=sub_id, addon_code=cmd.addon_code,
                     action=cmd.action, status=BACKLOG, requested_by=cmd.requested_by, created_at=now)
            for sub_id in ids]
    session.add_all(rows)
    session.flush()
    for row in rows:
        ctx.dispatch(SendAddonRequest(row.id))
    numbers = session.scalars(select(Subscription.number).where(Subscription.id.in_(ids))
                              .order_by(Subscription.number)).all()
    shown = ", ".join(numbers[:10]) + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
    audit.record(session, operator=cmd.requested_by, action=ROLE_ACTIONS[cmd.action],
                 target=f"{customer.code} {cmd.addon_code}",
                 detail=f"{len(ids)} subscription(s): {shown}")



@dataclass(frozen=True)
class _Request:
    log_id: int
    customer_id: int
    number: str
    addon_code: str
    action: str
    profile: SyncProfile | None
    behind: tuple[int, datetime | None] | None  # an older waiting request for this add-on


def _load(ctx: HandlerContext, log_id: int) -> _Request | None:
    """The request, if it still waits for an answer (read without taking the write lock)."""
    with ctx.db.reader() as session:
        row = session.get(AddonLog, log_id)
        if row is None or row.status not in WAITING:
            return None
        number = session.get_one(Subscription, row.subscription_id).number
        older = session.execute(
            select(AddonLog.id, AddonLog.not_before).where(
                AddonLog.subscription_id == row.subscription_id, AddonLog.addon_code == row.addon_code,
                AddonLog.status.in_(WAITING), AddonLog.id < row.id)
            .order_by(AddonLog.id).limit(1)).first()
        return _Request(row.id, row.customer_id, number, row.addon_code, row.action,
                        routit_profile(session, row.customer_id),
                        (older[0], older[1]) if older is not None else None)


def _transition(session: Session, log_id: int, from_statuses: Sequence[str], **values: Any) -> bool:
    result = session.execute(update(AddonLog).where(AddonLog.id == log_id,
                                                    AddonLog.status.in_(from_statuses)).values(**values))
    return affected(result) == 1


def send_addon_request(cmd: SendAddonRequest, ctx: HandlerContext) -> None:
    request = _load(ctx, cmd.log_id)
    if request is None:
        return  # answered already (a redelivery) or gone
    if request.behind is not None:  # activate-then-cancel of one add-on must reach Nina in that order
        older_id, older_not_before = request.behind
        wait = (older_not_before - ctx.clock()).total_seconds() if older_not_before else 0.0
        _back_to_backlog(ctx, request.log_id, max(IN_ORDER_POLL_S, wait),
                         f"after request {older_id} for the same add-on")
        return
    if request.profile is None:
        _transition(ctx.session, request.log_id, WAITING, status=FAILED, finished_at=ctx.clock(),
                    error_message="the customer has no Routit sync profile any more")
        return
    limiter = RateLimiter(ctx.db, limiter_key(request.customer_id), NINA_LIMIT, NINA_WINDOW_S,
                          ctx.deps.rate_limit_clock)
    retry_at = limiter.try_acquire()
    if retry_at is not None:
        _back_to_backlog(ctx, request.log_id, limiter.wait_seconds(retry_at), None)
        return
    with ctx.separate_transaction() as tx:  # visible at once: this request is in flight
        if not _transition(tx, request.log_id, WAITING, status=SENT, not_before=None,
                           attempts=AddonLog.attempts + 1):
            return
    try:
        request_id = _call_nina(ctx, request)
    except RateLimited as exc:  # Nina counted differently (another client?): wait as told
        _back_to_backlog(ctx, request.log_id, exc.retry_after, str(exc))
        return
    except Exception as exc:
        _call_failed(ctx, request, exc)
        return
    now = ctx.clock()
    if _transition(ctx.session, request.log_id, (SENT,), status=SUCCEEDED, provider_request_id=request_id,
                   finished_at=now, error_message=None):
        _set_state(ctx.session, request, now)


def _call_nina(ctx: HandlerContext, request: _Request) -> str:
    deps = ctx.deps
    assert request.profile is not None
    conn = connection_for(request.profile, deps.secrets, deps.settings.provider_timeout_s)
    with deps.open_nina(conn) as nina:
        if request.action == ACTIVATE:
            return nina.activate(request.number, request.addon_code)
        return nina.cancel(request.number, request.addon_code)


def _back_to_backlog(ctx: HandlerContext, log_id: int, wait_s: float, reason: str | None) -> None:
    """Wait in the backlog until the window allows, then send again (not an error)."""
    not_before = ctx.clock() + timedelta(seconds=wait_s)
    values: dict[str, Any] = {"status": BACKLOG, "not_before": not_before}
    if reason is not None:
        values["error_message"] = f"waiting: {reason}"
    if _transition(ctx.session, log_id, WAITING, **values):
        ctx.dispatch(SendAddonRequest(log_id), delay=wait_s)


def _call_failed(ctx: HandlerContext, request: _Request, exc: Exception) -> None:
    """Transient: record it and let the bus retry with back-off. Otherwise: the row fails."""
    reason = describe(exc)
    last_attempt = ctx.attempt >= ctx.message.max_attempts
    if classify(exc).transient and not last_attempt:
        with ctx.separate_transaction() as tx:
            _transition(tx, request.log_id, (SENT,),
                        error_message=f"attempt {ctx.attempt} of {ctx.message.max_attempts}: {reason}")
        raise exc
    if classify(exc).transient:
        reason = f"gave up after {ctx.attempt} attempts: {reason}"
    log.warning("add-on request %s failed: %s", request.log_id, reason)
    _transition(ctx.session, request.log_id, WAITING, status=FAILED, finished_at=ctx.clock(),
                error_message=reason[:4000])


def _set_state(session: Session, request: _Request, now: datetime) -> None:
    """Record what Nina confirmed (upsert on subscription and add-on code)."""
    subscription_id = session.scalars(select(AddonLog.subscription_id)
                                      .where(AddonLog.id == request.log_id)).one()
    state = STATE_AFTER[request.action]
    match = (SubscriptionAddon.subscription_id == subscription_id,
             SubscriptionAddon.addon_code == request.addon_code)
    if affected(session.execute(update(SubscriptionAddon).where(*match)
                                .values(status=state, updated_at=now))):
        return
    try:
        with session.begin_nested():
            session.add(SubscriptionAddon(subscription_id=subscription_id, addon_code=request.addon_code,
                                          status=state, updated_at=now))
    except IntegrityError:  # another request for this add-on inserted it first
        session.execute(update(SubscriptionAddon).where(*match).values(status=state, updated_at=now))
