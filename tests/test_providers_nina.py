"""Routit's Nina add-on API: the calls, idempotency, and 10 requests/minute/customer."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from providers import InvalidCredentials, ProviderError, RateLimited
from providers.routit_nina import NINA_RATE_LIMIT, NinaClient
from providers.sandbox import SandboxServer
from providers.sandbox.data import subscription_number
from providers.sandbox.testing import FrozenClock


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def sandbox(clock: FrozenClock) -> Iterator[SandboxServer]:
    with SandboxServer(clock=clock) as server:
        yield server


def _nina(sandbox: SandboxServer, ref: str) -> tuple[NinaClient, str]:
    customer = sandbox.configure_customer("routit", ref, subscriptions=3)
    number = subscription_number(customer.settings, 0)
    return NinaClient(sandbox.connection("routit", ref)), number


def test_activate_list_and_cancel(sandbox: SandboxServer) -> None:
    nina, number = _nina(sandbox, "ADDONS")
    with nina:
        types = nina.list_addon_types()
        assert {addon.code for addon in types} >= {"DATA-10GB", "ROAM-WORLD-1GB"}
        assert all(isinstance(addon.monthly_fee, Decimal) for addon in types)

        assert nina.list_addons(number) == []
        request_id = nina.activate(number, "DATA-10GB")
        assert request_id.startswith("NINA-")
        assert nina.activate(number, "DATA-10GB") == request_id  # a redelivered command is harmless
        assert nina.list_addons(number) == ["DATA-10GB"]

        # the number in any spelling a person types
        national = "0" + number[3:]
        cancel_id = nina.cancel(national, "DATA-10GB")
        assert cancel_id != request_id
        assert nina.cancel(number, "DATA-10GB") == cancel_id
        assert nina.list_addons(number) == []


def test_refusals_are_permanent(sandbox: SandboxServer) -> None:
    nina, number = _nina(sandbox, "REFUSE")
    with nina:
        with pytest.raises(ProviderError) as unknown_addon:
            nina.activate(number, "FREE-MONEY")
        assert not unknown_addon.value.transient
        with pytest.raises(ProviderError):
            nina.list_addons("+31600000000")  # not this customer's number
        with pytest.raises(ProviderError):
            nina.cancel(number, "DATA-10GB")  # was never active


def test_ten_requests_per_minute_per_customer(sandbox: SandboxServer, clock: FrozenClock) -> None:
    nina, number = _nina(sandbox, "LIMITED")
    other, other_number = _nina(sandbox, "NEIGHBOUR")
    with nina, other:
        for _ in range(NINA_RATE_LIMIT):
            nina.list_addons(number)
            clock.advance(1)
        with pytest.raises(RateLimited) as raised:
            nina.list_addons(number)
        # the oldest call (t=0) leaves the window at t=60; now is t=10
        assert raised.value.retry_after == 50
        assert raised.value.transient

        other.list_addons(other_number)  # the limit is per customer

        clock.advance(45)  # t=55
        with pytest.raises(RateLimited) as again:
            nina.activate(number, "DATA-10GB")
        assert again.value.retry_after == 5
        clock.advance(5)  # t=60: the call from t=0 has left the window
        assert nina.activate(number, "DATA-10GB")
        assert sandbox.registry.customer("routit", "LIMITED").addons[number] == {
            "DATA-10GB": "NINA-000001"
        }


def test_wrong_key(sandbox: SandboxServer) -> None:
    sandbox.configure_customer("routit", "KEY")
    conn = sandbox.connection("routit", "KEY", credentials={"api_key": "stolen"})
    with NinaClient(conn) as nina, pytest.raises(InvalidCredentials) as raised:
        nina.list_addon_types()
    assert "stolen" not in str(raised.value)
