"""Add-ons through the sandbox's Nina API over real HTTP, with both clocks frozen.

The sandbox enforces Nina's 10 requests per 60 s per customer itself (429 beyond it),
so a test that sees no 429 and every request answered proves the limiter held.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.addons import (
    AddonError,
    addon_log,
    backlog,
    catalogue,
    routit_profile,
    subscription_addons,
    subscriptions_by_number,
)
from core.bus import Bus, default_registry, run_until_idle
from core.bus.deps import HandlerDeps
from core.db import Database, ensure_schema
from core.models import (
    AddonLog,
    AuditLog,
    Customer,
    Message,
    Operator,
    RateLimitHit,
    Subscription,
    SubscriptionAddon,
)
from core.security.roles import NotAllowed
from core.security.secrets import SecretBox
from core.workflows.addons import (
    ActivateRoutitAddons,
    SendAddonRequest,
    activate_addons,
    cancel_addons,
    refresh_addon_types,
)
from expensis_tui.cli import EXIT_NOT_ALLOWED, main
from providers.base import AddonClientFactory
from providers.routit_nina import NinaClient
from providers.sandbox import SandboxServer
from providers.sandbox.data import subscription_number
from providers.sandbox.registry import Customer as SandboxCustomer
from providers.sandbox.testing import FrozenClock
from tests.sync_support import make_world

REF = "ROUTIT-REF"
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)  # windows start on the minute
ADMIN = "test"  # make_world applies the setup as "test": the first operator, so admin


class FrozenTime:
    """One frozen time for the sandbox (monotonic seconds) and for us (aware UTC)."""

    def __init__(self) -> None:
        self.sandbox = FrozenClock()
        self.origin = self.sandbox.now

    def __call__(self) -> datetime:
        return T0 + timedelta(seconds=self.sandbox.now - self.origin)

    def advance(self, seconds: float) -> None:
        self.sandbox.advance(seconds)


@dataclass
class AddonWorld:
    db: Database
    bus: Bus
    sandbox: SandboxServer
    clock: FrozenTime
    customer_id: int
    subscriptions: dict[str, int]  # number -> id
    settings: Any

    @property
    def nina(self) -> SandboxCustomer:
        return self.sandbox.registry.customer("routit", REF)

    def run(self) -> None:
        run_until_idle(self.bus, timeout=60)

    def logs(self) -> list[AddonLog]:
        with self.db.reader() as s:
            return list(s.scalars(select(AddonLog).order_by(AddonLog.id)))


@pytest.fixture
def clock() -> FrozenTime:
    return FrozenTime()


@pytest.fixture
def sandbox(clock: FrozenTime) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock.sandbox) as server:
        yield server


def make_addon_world(db: Database, sandbox: SandboxServer, clock: FrozenTime, data_dir: Path,
                     subscriptions: int = 3, max_attempts: int = 3,
                     open_nina: AddonClientFactory | None = None) -> AddonWorld:
    world = make_world(db, sandbox, data_dir, ["routit"], subscriptions=subscriptions, cdrs=1,
                       max_attempts=max_attempts)
    settings = world.sandbox.registry.customer("routit", REF).settings
    with db.transaction() as s:
        customer_id = s.scalars(select(Customer.id).where(Customer.code == "ROUTIT")).one()
        subs = [Subscription(customer_id=customer_id, number=subscription_number(settings, i))
                for i in range(subscriptions)]
        s.add_all(subs)
        s.flush()
        numbers = {sub.number: sub.id for sub in subs}
    deps = HandlerDeps(world.settings, clock=clock, rate_limit_clock=clock)
    if open_nina is not None:
        deps = replace(deps, open_nina=open_nina)
    bus = Bus(db, default_registry, clock=clock, max_attempts=max_attempts, backoff_base=0.0, deps=deps)
    return AddonWorld(db, bus, sandbox, clock, customer_id, numbers, world.settings)


@pytest.fixture
def world(sqlite_db: Database, sandbox: SandboxServer, clock: FrozenTime, tmp_path: Path) -> AddonWorld:
    return make_addon_world(sqlite_db, sandbox, clock, tmp_path)


def register(db: Database, **roles: str) -> None:
    with db.transaction() as s:
        s.add_all(Operator(username=name, role=role) for name, role in roles.items())


def audit_actions(db: Database) -> list[tuple[str, str, str]]:
    with db.reader() as s:
        rows = s.execute(select(AuditLog.operator, AuditLog.action, AuditLog.result)
                         .order_by(AuditLog.id)).all()
    return [(who, action, result) for who, action, result in rows]


# -- the rate limit --------------------------------------------------------------------------

def test_35_requests_go_out_in_four_windows_none_lost_none_over(
        db: Database, sandbox: SandboxServer, clock: FrozenTime, tmp_path: Path) -> None:
    world = make_addon_world(db, sandbox, clock, tmp_path, subscriptions=35)
    request = activate_addons(world.bus, world.customer_id, list(world.subscriptions.values()),
                              "DATA-10GB", operator=ADMIN)
    assert request.subscriptions == 35

    sent_per_window = []
    for window in range(4):
        world.run()
        calls = list(world.nina.nina_calls)  # what the sandbox counted in its current minute
        assert calls and set(calls) == {clock.sandbox.now}
        sent_per_window.append(len(calls))
        statuses = Counter(log.status for log in world.logs())
        assert statuses["succeeded"] == sum(sent_per_window)
        assert statuses["backlog"] == 35 - sum(sent_per_window)
        if window == 0:  # the visible backlog says when each goes out
            waiting = backlog(world.db, world.customer_id, clock=clock)
            assert Counter(r.goes_out_at for r in waiting) == {
                T0 + timedelta(minutes=1): 10, T0 + timedelta(minutes=2): 10, T0 + timedelta(minutes=3): 5}
            assert all(r.entry.not_before == T0 + timedelta(minutes=1) for r in waiting)
        clock.advance(60)
    assert sent_per_window == [10, 10, 10, 5]

    logs = world.logs()
    assert all(log.status == "succeeded" and log.attempts == 1 and log.error_message is None
               for log in logs)  # never a 429: the limiter kept us under Nina's limit
    assert len({log.provider_request_id for log in logs}) == 35
    assert {n for n, codes in world.nina.addons.items() if "DATA-10GB" in codes} == set(world.subscriptions)
    with db.reader() as s:
        assert s.scalar(select(func.count()).select_from(SubscriptionAddon)
                        .where(SubscriptionAddon.status == "active")) == 35
        per_window = dict(s.execute(select(RateLimitHit.window_start, func.count())
                                    .group_by(RateLimitHit.window_start)).all())
        failed = s.scalar(select(func.count()).select_from(Message).where(Message.status != "done"))
    assert sorted(per_window.values(), reverse=True) == [10, 10, 10, 5] and failed == 0
    assert audit_actions(db)[-1] == (ADMIN, "addons.activate", "ok")
    assert [a for a in audit_actions(db) if a[1].startswith("addons.")] == [(ADMIN, "addons.activate", "ok")]
    assert all(len(s.active) == 1 for s in subscription_addons(db, world.customer_id))


def test_a_429_from_nina_waits_in_the_backlog(world: AddonWorld) -> None:
    with NinaClient(world.sandbox.connection("routit", REF)) as other:  # someone else spends the minute
        number = next(iter(world.subscriptions))
        for _ in range(10):
            other.list_addons(number)
    sub_id = world.subscriptions[number]
    activate_addons(world.bus, world.customer_id, [sub_id], "DATA-EU-5GB", operator=ADMIN)
    world.run()
    [log] = world.logs()
    assert (log.status, log.attempts) == ("backlog", 1)
    assert log.not_before == T0 + timedelta(seconds=60) and "429" in (log.error_message or "")
    assert subscription_addons(world.db, world.customer_id)[0].addons == ()  # never before the answer
    world.clock.advance(60)
    world.run()
    [log] = world.logs()
    assert (log.status, log.attempts) == ("succeeded", 2) and log.provider_request_id


# -- failures --------------------------------------------------------------------------------

def test_a_5xx_is_retried_and_state_changes_only_on_success(
        sqlite_db: Database, sandbox: SandboxServer, clock: FrozenTime, tmp_path: Path) -> None:
    seen: list[int] = []

    def watching_client(conn: Any) -> NinaClient:
        with sqlite_db.reader() as s:  # the state Nina has not confirmed yet stays as it was
            seen.append(int(s.scalar(select(func.count()).select_from(SubscriptionAddon)) or 0))
        return NinaClient(conn)

    world = make_addon_world(sqlite_db, sandbox, clock, tmp_path, max_attempts=4,
                             open_nina=watching_client)
    sandbox.registry.set_faults("routit", REF, server_error=2)
    number, sub_id = next(iter(world.subscriptions.items()))
    activate_addons(world.bus, world.customer_id, [sub_id], "DATA-10GB", operator=ADMIN)
    world.run()
    [log] = world.logs()
    assert (log.status, log.attempts) == ("succeeded", 3)
    assert seen == [0, 0, 0]
    with world.db.reader() as s:
        send = s.scalars(select(Message).where(Message.command_type == "SendAddonRequest")).one()
        state = s.scalars(select(SubscriptionAddon)).one()
    assert (send.status, send.attempts) == ("done", 3)
    assert (state.subscription_id, state.addon_code, state.status) == (sub_id, "DATA-10GB", "active")
    assert world.nina.addons[number] == {"DATA-10GB": log.provider_request_id}


def test_a_provider_that_stays_down_fails_the_request_with_the_reason(world: AddonWorld) -> None:
    world.sandbox.registry.set_faults("routit", REF, server_error=True)
    activate_addons(world.bus, world.customer_id, list(world.subscriptions.values())[:1], "DATA-10GB",
                    operator=ADMIN)
    world.run()
    [log] = world.logs()
    assert log.status == "failed" and log.attempts == 3
    assert "gave up after 3 attempts" in (log.error_message or "") and "HTTP 500" in (log.error_message or "")
    assert subscription_addons(world.db, world.customer_id)[0].addons == ()


def test_a_refusal_fails_at_once(world: AddonWorld) -> None:
    sub_id = next(iter(world.subscriptions.values()))
    cancel_addons(world.bus, world.customer_id, [sub_id], "DATA-10GB", operator=ADMIN)  # not active
    world.run()
    [log] = world.logs()
    assert (log.status, log.attempts) == ("failed", 1) and "404" in (log.error_message or "")


def test_redelivery_after_nina_answered_changes_nothing_twice(
        sqlite_db: Database, sandbox: SandboxServer, clock: FrozenTime, tmp_path: Path) -> None:
    calls: list[str] = []

    class DropsTheFirstAnswer(NinaClient):
        def activate(self, number: str, addon_code: str) -> str:
            request_id = super().activate(number, addon_code)
            calls.append(request_id)
            if len(calls) == 1:
                raise ConnectionError("the line dropped after Nina answered")
            return request_id

    world = make_addon_world(sqlite_db, sandbox, clock, tmp_path,
                             open_nina=DropsTheFirstAnswer)
    number, sub_id = next(iter(world.subscriptions.items()))
    activate_addons(world.bus, world.customer_id, [sub_id], "DATA-10GB", operator=ADMIN)
    world.run()
    [log] = world.logs()
    assert calls[0] == calls[1] == log.provider_request_id and log.status == "succeeded"

    world.bus.dispatch(SendAddonRequest(log.id))  # a stray redelivery of a finished request
    world.run()
    assert len(calls) == 2 and world.logs()[0].attempts == 2
    with world.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(SubscriptionAddon)) == 1


def test_activate_then_cancel(world: AddonWorld) -> None:
    ids = list(world.subscriptions.values())[:2]
    activate_addons(world.bus, world.customer_id, ids, "CALL-INTL-100", operator=ADMIN)
    world.run()
    cancel_addons(world.bus, world.customer_id, ids[:1], "CALL-INTL-100", operator=ADMIN)
    world.run()
    states = {s.subscription_id: [(a.addon_code, a.status) for a in s.addons]
              for s in subscription_addons(world.db, world.customer_id)}
    assert states[ids[0]] == [("CALL-INTL-100", "cancelled")]
    assert states[ids[1]] == [("CALL-INTL-100", "active")]
    rows = addon_log(world.db, world.customer_id, limit=2)
    assert [(r.action, r.status) for r in rows] == [("cancel", "succeeded"), ("activate", "succeeded")]
    assert rows[0].provider_request_id != rows[1].provider_request_id


def test_a_later_request_for_the_same_addon_waits_for_the_earlier(world: AddonWorld) -> None:
    sub_id = next(iter(world.subscriptions.values()))
    later = T0 + timedelta(minutes=1)
    with world.db.transaction() as s:  # an activation still in the backlog, then a cancel
        rows = [AddonLog(customer_id=world.customer_id, subscription_id=sub_id, addon_code="DATA-10GB",
                         action=action, status="backlog", not_before=not_before, requested_by=ADMIN)
                for action, not_before in (("activate", later), ("cancel", None))]
        s.add_all(rows)
        s.flush()
        first, second = rows[0].id, rows[1].id
    world.bus.dispatch(SendAddonRequest(second))
    world.run()
    cancel = world.logs()[1]
    assert (cancel.status, cancel.attempts, cancel.not_before) == ("backlog", 0, later)
    assert cancel.error_message == f"waiting: after request {first} for the same add-on"
    assert list(world.nina.nina_calls) == []  # it spent no Nina request

    world.bus.dispatch(SendAddonRequest(first))
    world.clock.advance(60)
    world.run()
    states = [(log.action, log.status) for log in world.logs()]
    assert states == [("activate", "succeeded"), ("cancel", "succeeded")]
    assert subscription_addons(world.db, world.customer_id)[0].addons[0].status == "cancelled"


# -- roles -----------------------------------------------------------------------------------

def test_a_viewer_is_refused_in_core_and_on_the_bus(world: AddonWorld) -> None:
    register(world.db, vic="viewer", olga="operator")
    ids = list(world.subscriptions.values())
    with pytest.raises(NotAllowed, match=r"olga is an operator; add-on activations need the admin role "
                                         r"\(addons.activate\)"):
        activate_addons(world.bus, world.customer_id, ids, "DATA-10GB", operator="olga")

    # a command that reaches the bus without the check (or outlived a role change)
    world.bus.dispatch(ActivateRoutitAddons(world.customer_id, tuple(ids), "DATA-10GB", "vic"))
    world.run()
    with world.db.reader() as s:
        message = s.scalars(select(Message).where(Message.command_type == "ActivateRoutitAddons")).one()
    assert message.status == "failed" and message.attempts == 1
    assert "vic is a viewer; add-on activations need the admin role (addons.activate)" in (message.error or "")
    assert world.logs() == []
    assert audit_actions(world.db)[-2:] == [("olga", "addons.activate", "denied"),
                                            ("vic", "addons.activate", "denied")]


# -- catalogue and validation ----------------------------------------------------------------

def test_catalogue_refresh_and_request_validation(world: AddonWorld) -> None:
    with world.db.reader() as s:
        profile = routit_profile(s, world.customer_id)
        assert profile is not None
    count = refresh_addon_types(world.db, profile, secrets=SecretBox.from_settings(world.settings),
                                operator=ADMIN, clock=world.clock)
    assert count == len(catalogue(world.db)) == 4
    assert refresh_addon_types(world.db, profile, secrets=SecretBox.from_settings(world.settings),
                               operator=ADMIN, clock=world.clock) == 4  # idempotent
    sub_id = next(iter(world.subscriptions.values()))
    with pytest.raises(AddonError, match="unknown add-on 'FREE-MONEY'"):
        activate_addons(world.bus, world.customer_id, [sub_id], "FREE-MONEY", operator=ADMIN)
    with pytest.raises(AddonError, match="do not belong"):
        activate_addons(world.bus, world.customer_id, [sub_id + 999], "DATA-10GB", operator=ADMIN)
    with world.db.reader() as s:
        number = next(iter(world.subscriptions))
        assert subscriptions_by_number(s, world.customer_id, ["0" + number[3:], number]) == [sub_id]
        with pytest.raises(AddonError, match="not a subscription"):
            subscriptions_by_number(s, world.customer_id, ["+31600000000"])


# -- the command line ------------------------------------------------------------------------

def test_cli_activate_wait_list_log_backlog(sandbox: SandboxServer, clock: FrozenTime, tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = Database(f"sqlite:///{data / 'expensis.sqlite3'}")
    ensure_schema(database)
    world = make_addon_world(database, sandbox, clock, data)
    numbers = list(world.subscriptions)
    database.dispose()

    def cli(operator: str, *args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(main, ["--data-dir", str(data), "--operator", operator, *args],
                                    catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    code, out, err = cli(ADMIN, "addons", "activate", "ROUTIT", "--addon", "DATA-10GB", *numbers[:2], "--wait")
    assert code == 0, err
    assert "activate DATA-10GB on 2 subscription(s) of ROUTIT" in out and out.count("succeeded") >= 2
    code, out, _ = cli(ADMIN, "addons", "list", "ROUTIT", "--refresh")
    assert code == 0 and "catalogue refreshed: 4" in out and "DATA-EU-5GB" in out
    code, out, _ = cli(ADMIN, "addons", "log", "ROUTIT", "--json")
    assert code == 0 and out.count('"status": "succeeded"') == 2
    code, out, _ = cli(ADMIN, "addons", "backlog", "ROUTIT")
    assert code == 0 and "no add-on requests waiting" in out

    code, out, err = cli("vic", "addons", "cancel", "ROUTIT", "--addon", "DATA-10GB", numbers[0])
    assert code == EXIT_NOT_ALLOWED and "error: vic is a viewer; add-on cancellations need the admin role (addons.cancel)" in err
    code, out, err = cli(ADMIN, "addons", "activate", "ROUTIT", "--addon", "DATA-10GB", "+31600000000")
    assert code == 1 and "not a subscription" in err


def test_only_subscriptions_on_routit_are_offered_and_others_are_refused_before_sending(
        world: AddonWorld) -> None:
    with world.db.transaction() as s:
        kpn = Subscription(customer_id=world.customer_id, number="+31697969514", provider="kpn_sp16")
        s.add(kpn)
        s.flush()
        kpn_id = kpn.id
    offered = {sub.subscription_id for sub in subscription_addons(world.db, world.customer_id)}
    assert kpn_id not in offered and set(world.subscriptions.values()) <= offered
    with pytest.raises(AddonError, match=r"not on Routit.*\+31697969514 \(kpn_sp16\)"):
        activate_addons(world.bus, world.customer_id, [kpn_id], "DATA-10GB", operator=ADMIN)
    with world.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0  # nothing was sent
