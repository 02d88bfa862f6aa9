"""The Add-ons screen from the keyboard at 80×24, against the sandbox's Nina API over HTTP.

Each test asserts on the screen and on the database. Workers run in a WorkerPool the test
starts; waits use `workers.wait_for_complete()` and `pilot.pause()`, never sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import func, select
from textual.widgets import Label

from core.bus import WorkerPool
from core.models import AddonLog, AuditLog, Message, Subscription, SubscriptionAddon, SyncProfile
from core.runtime import Runtime
from core.security.roles import set_role
from core.security.secrets import SecretBox
from expensis_tui.app import ExpensisApp
from expensis_tui.screens.addons import AddonsScreen
from expensis_tui.showcase import frozen_clock, screen_text, settle
from expensis_tui.widgets.confirm import ConfirmScreen
from expensis_tui.widgets.keyed_table import KeyedTable
from expensis_tui.widgets.month_picker import ChoiceScreen
from providers.sandbox import SandboxServer

SIZE = (80, 24)
pytestmark = pytest.mark.anyio


@dataclass
class Nina:
    sandbox: SandboxServer
    subscriptions: dict[int, str]  # id -> number, two of BETA's, known to Nina


@pytest.fixture
def nina(rt: Runtime) -> Iterator[Nina]:
    """BETA's Routit profile pointed at the sandbox, with two subscriptions Nina knows."""
    with SandboxServer() as sandbox:
        customer = sandbox.configure_customer("routit", "BETA-001", subscriptions=2, cdrs_per_subscription=1)
        with rt.db.transaction() as s:
            profile = s.scalars(select(SyncProfile).where(SyncProfile.name == "beta-routit")).one()
            profile.base_url = sandbox.url_for("routit")
            profile.credentials_encrypted = SecretBox.from_settings(rt.settings).encrypt(customer.credentials)
            subs = [Subscription(customer_id=profile.customer_id, number=number, provider="routit")
                    for number in sorted(customer.numbers())]
            s.add_all(subs)
            s.flush()
            ids = {sub.id: sub.number for sub in subs}
        yield Nina(sandbox, ids)


def app_for(rt: Runtime) -> ExpensisApp:
    return ExpensisApp(rt, start_services=False, clock=frozen_clock)


def status_line(app: ExpensisApp) -> str:
    return str(app.screen.query_one("#status-line", Label).render())


async def go_to(pilot, key: str) -> None:  # type: ignore[no-untyped-def]
    """Move the cursor to the row `key` with the arrow keys."""
    table = pilot.app.screen.query_one(KeyedTable)
    steps = table.get_row_index(key) - table.cursor_row
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps))


async def mark_and_confirm(pilot, ids: list[int], addon_index: int) -> ConfirmScreen:  # type: ignore[no-untyped-def]
    """On the Add-ons screen: mark `ids` (space), press a, pick the catalogue's entry `addon_index`."""
    for sub_id in ids:
        await go_to(pilot, str(sub_id))
        await pilot.press("space")
    await pilot.press("a")
    assert isinstance(pilot.app.screen, ChoiceScreen)
    await pilot.press(*["down"] * addon_index, "enter")
    confirm = pilot.app.screen
    assert isinstance(confirm, ConfirmScreen)
    return confirm


async def test_activate_an_addon_on_two_subscriptions_through_nina(rt: Runtime, pool: WorkerPool,
                                                                    nina: Nina) -> None:
    app = app_for(rt)
    ids = list(nina.subscriptions)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        assert isinstance(app.screen, AddonsScreen) and app.screen.customer is not None
        assert app.screen.customer.code == "BETA"
        await pilot.press("k")  # the catalogue, as Nina has it (one of this minute's ten requests)
        await settle(pilot)
        assert "catalogue read from Nina: 4 add-on(s)" in [str(n.message) for n in app._notifications]
        confirm = await mark_and_confirm(pilot, ids, 1)  # CALL-INTL-100, DATA-10GB, ...
        assert confirm.question == "Activate DATA-10GB on 2 subscription(s) of BETA?"
        assert all(number in confirm.detail for number in nina.subscriptions.values())
        await pilot.press("y")
        await settle(pilot)  # the follow worker ends once Nina answered both
        screen = app.screen
        assert isinstance(screen, AddonsScreen)
        table = screen.query_one(KeyedTable)
        for sub_id in ids:
            assert str(table.get_cell(str(sub_id), "addons")) == "DATA-10GB"
            assert str(table.get_cell(str(sub_id), "waiting")) == ""
        assert "0 marked" in status_line(app)
        assert "activate DATA-10GB: 2 succeeded" in [str(n.message) for n in app._notifications]
        await go_to(pilot, str(ids[0]))  # cancel it on the first (no marks: the highlighted row)
        await pilot.press("u")
        assert isinstance(app.screen, ChoiceScreen)  # only what is active there is offered
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Cancel DATA-10GB on 1 subscription(s) of BETA?"
        await pilot.press("y")
        await settle(pilot)
        assert str(table.get_cell(str(ids[0]), "addons")) == "—"
        assert str(table.get_cell(str(ids[1]), "addons")) == "DATA-10GB"
        await pilot.press("v", "v")  # the log: the three requests on top
        await settle(pilot)
        text = screen_text(app)
        assert text.count("succeeded") >= 3 and "cancel" in text
    with rt.db.reader() as s:
        logs = s.scalars(select(AddonLog).where(AddonLog.subscription_id.in_(ids))).all()
        states = s.scalars(select(SubscriptionAddon).where(SubscriptionAddon.subscription_id.in_(ids))).all()
        audit = s.execute(select(AuditLog.operator, AuditLog.action, AuditLog.result, AuditLog.target)
                          .where(AuditLog.action.in_(("addons.activate", "addons.cancel")))
                          .order_by(AuditLog.id)).all()
    assert sorted((log.subscription_id, log.action, log.status) for log in logs) == sorted(
        [(i, "activate", "succeeded") for i in ids] + [(ids[0], "cancel", "succeeded")])
    assert all(log.provider_request_id and log.requested_by == "alice" for log in logs)
    assert sorted((a.subscription_id, a.addon_code, a.status) for a in states) == sorted(
        [(ids[0], "DATA-10GB", "cancelled"), (ids[1], "DATA-10GB", "active")])
    customer = nina.sandbox.registry.customer("routit", "BETA-001")
    assert {n for n, codes in customer.addons.items() if "DATA-10GB" in codes} == {nina.subscriptions[ids[1]]}
    assert audit == [("alice", "addons.activate", "ok", "BETA DATA-10GB"),
                     ("alice", "addons.cancel", "ok", "BETA DATA-10GB")]


async def test_a_viewer_sees_the_keys_disabled(rt: Runtime) -> None:
    viewer = Runtime(replace(rt.settings, operator="vera"))  # the same database
    try:
        app = ExpensisApp(viewer, start_services=False, clock=frozen_clock)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await settle(pilot)
            assert app.role == "viewer"
            bindings = app.screen.active_bindings
            assert not bindings["a"].enabled and not bindings["u"].enabled and not bindings["k"].enabled
            assert bindings["v"].enabled and bindings["space"].enabled  # reading is for everyone
            await pilot.press("space", "a", "u")
            await settle(pilot)
            assert isinstance(app.screen, AddonsScreen)  # nothing asked, nothing sent
            for key, keys in (("7", "n"), ("8", "xiMC")):  # exports and invoices are for operators
                await pilot.press(key)
                await settle(pilot)
                assert not any(app.screen.active_bindings[k].enabled for k in keys)
                assert app.screen.active_bindings["v" if key == "8" else "r"].enabled
            await pilot.press("6", "ctrl+p", *"activate an add-on", "enter")  # nor from the palette
            await settle(pilot)
            assert isinstance(app.screen, AddonsScreen)
            notes = [str(n.message) for n in app._notifications]
            assert len(notes) == 1 and " is a viewer; add-on activations need the admin role (addons.activate): " \
                "an admin runs `expensis operators " in notes[0]
            await pilot.press("v")  # the backlog and log are there to read
            await settle(pilot)
            assert "12:01:00 (in 60s)" in screen_text(app)
    finally:
        viewer.close()
    with rt.db.reader() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.command_type.like("%RoutitAddons"))) == 0


async def test_core_refuses_an_operator_demoted_to_viewer(rt: Runtime, nina: Nina) -> None:
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        assert app.role == "admin"
        set_role(rt.db, "alice", "viewer", operator="dave")  # meanwhile, in another console
        await mark_and_confirm(pilot, list(nina.subscriptions), 1)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, AddonsScreen)
        assert [str(n.message) for n in app._notifications] == [
            "Requesting the add-on change failed: alice is a viewer; add-on activations need the admin role "
            "(addons.activate): an admin runs `expensis operators set-role alice admin`"]
        assert app.role == "viewer" and not app.screen.active_bindings["a"].enabled  # learnt
    with rt.db.reader() as s:
        denied = s.execute(select(AuditLog.operator, AuditLog.action, AuditLog.result)
                           .where(AuditLog.result == "denied")).all()
        assert denied == [("alice", "addons.activate", "denied")]
        assert s.scalar(select(func.count()).select_from(AddonLog)
                        .where(AddonLog.subscription_id.in_(nina.subscriptions))) == 0
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.command_type.like("%RoutitAddons"))) == 0


async def test_enter_on_a_refused_request_shows_the_providers_reason_in_full(rt: Runtime) -> None:
    from sqlalchemy import update

    from expensis_tui.widgets.text_view import TextViewScreen

    reason = ("HTTP 404 unknown number: Nina has no subscription +31620000003 for this customer; "
              "check that the number is on Routit and that the SIM is active (request 7f3a)")
    with rt.db.transaction() as s:
        failed = s.scalars(select(AddonLog.id).where(AddonLog.status == "failed")).one()
        s.execute(update(AddonLog).where(AddonLog.id == failed).values(error_message=reason))
    app = app_for(rt)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("v", "v")  # the log
        await settle(pilot)
        await go_to(pilot, str(failed))
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, TextViewScreen)
        text = " ".join(screen_text(app).replace("│", " ").split())
        assert " ".join(reason.split()) in text  # wrapped, not cut at the window edge


def test_the_empty_catalogue_names_the_key_that_reads_it() -> None:
    """Seen at 80x24: the empty catalogue said "r reads it from Nina", but r reads the screen
    again; the key bound to reading the catalogue is k."""
    from textual.binding import Binding

    from expensis_tui.screens.addons import AddonsScreen

    [key] = [b.key for b in AddonsScreen.BINDINGS if isinstance(b, Binding) and b.action == "read_catalogue"]
    assert AddonsScreen.EMPTY_CATALOGUE.startswith(f"empty: {key} reads it")
