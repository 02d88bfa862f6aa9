"""Every sandbox fault, on every platform, arrives as the right ProviderError."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import closing
from typing import Any

import httpx
import pytest

import providers.http
from providers import (
    CHECKPOINT,
    BadRow,
    InvalidCredentials,
    InvoiceNotYetAvailable,
    ProviderAdapter,
    ProviderCdr,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    open_adapter,
)
from providers.auth import forget_sessions
from providers.platforms import SPECS
from providers.sandbox import SandboxServer

PLATFORMS = tuple(SPECS)
MONTH = "2025-01"


@pytest.fixture(autouse=True)
def _fresh_sessions() -> None:
    forget_sessions()  # Calvi sessions are shared per partner; start each test clean


def _adapter(
    sandbox: SandboxServer, platform: str, ref: str, *, timeout_s: float = 5.0, **settings: Any
) -> ProviderAdapter:
    settings = {"subscriptions": 4, "cdrs_per_subscription": 25, **settings}
    sandbox.configure_customer(platform, ref, **settings)
    return open_adapter(sandbox.connection(platform, ref, timeout_s=timeout_s))


def _every_call(adapter: ProviderAdapter) -> list[Callable[[], object]]:
    return [
        lambda: list(adapter.fetch_subscriptions(MONTH)),
        lambda: list(adapter.fetch_cdrs(MONTH)),
        lambda: adapter.fetch_invoice_total(MONTH),
    ]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_wrong_credentials(sandbox: SandboxServer, platform: str) -> None:
    with closing(_adapter(sandbox, platform, "WRONG", faults=["wrong_credentials"])) as adapter:
        for call in _every_call(adapter):
            with pytest.raises(InvalidCredentials) as raised:
                call()
            assert raised.value.reason == "invalid_credentials"
            assert not raised.value.transient


@pytest.mark.parametrize("platform", PLATFORMS)
def test_credentials_that_do_not_match(sandbox: SandboxServer, platform: str) -> None:
    customer = sandbox.configure_customer(platform, "MISMATCH")
    bad = {name: value + "-typo" for name, value in customer.credentials.items()}
    conn = sandbox.connection(platform, "MISMATCH", credentials=bad)
    with closing(open_adapter(conn)) as adapter, pytest.raises(InvalidCredentials) as raised:
        list(adapter.fetch_subscriptions(MONTH))
    for secret in customer.credentials.values():  # never in a message
        assert secret not in str(raised.value)
    for secret in bad.values():
        assert secret not in str(raised.value)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_missing_credentials(sandbox: SandboxServer, platform: str) -> None:
    sandbox.configure_customer(platform, "NOCREDS")
    conn = sandbox.connection(platform, "NOCREDS", credentials={})
    with closing(open_adapter(conn)) as adapter, pytest.raises(InvalidCredentials):
        adapter.fetch_invoice_total(MONTH)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_rate_limit_carries_retry_after(sandbox: SandboxServer, platform: str) -> None:
    with closing(_adapter(sandbox, platform, "LIMIT", faults={"rate_limit": 42})) as adapter:
        for call in _every_call(adapter):
            with pytest.raises(RateLimited) as raised:
                call()
            assert raised.value.retry_after == 42
            assert raised.value.transient


def test_a_short_retry_after_is_retried_once(sandbox: SandboxServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(providers.http.time, "sleep", sleep)
    with closing(_adapter(sandbox, "routit", "SHORT", faults={"rate_limit": 1})) as adapter:
        with pytest.raises(RateLimited) as raised:
            adapter.fetch_invoice_total(MONTH)
        assert sleeps == [1]  # one wait of the Retry-After, one retry, then up to the bus
        assert raised.value.retry_after == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_server_errors(sandbox: SandboxServer, platform: str) -> None:
    with closing(_adapter(sandbox, platform, "FIVE", faults=["server_error"])) as adapter:
        for call in _every_call(adapter):
            with pytest.raises(ProviderUnavailable) as raised:
                call()
            assert raised.value.reason == "unknown_error"
            assert raised.value.transient


def test_server_errors_for_the_first_requests_only(sandbox: SandboxServer) -> None:
    with closing(_adapter(sandbox, "vodafone", "FIRST", faults={"server_error": 2})) as adapter:
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                adapter.fetch_invoice_total(MONTH)
        assert adapter.fetch_invoice_total(MONTH) is not None  # the bus's retry would succeed


@pytest.mark.parametrize("platform", PLATFORMS)
def test_slow_answers_time_out(sandbox: SandboxServer, platform: str) -> None:
    adapter = _adapter(sandbox, platform, "SLOW", faults={"slow": 1.0}, timeout_s=0.25)
    with closing(adapter), pytest.raises(ProviderTimeout) as raised:
        list(adapter.fetch_cdrs(MONTH))
    assert raised.value.reason == "timeout"
    assert raised.value.transient


@pytest.mark.parametrize("platform", PLATFORMS)
def test_invoice_not_ready(sandbox: SandboxServer, platform: str) -> None:
    with closing(_adapter(sandbox, platform, "NOTREADY", faults=["invoice_not_ready"])) as adapter:
        with pytest.raises(InvoiceNotYetAvailable) as raised:
            adapter.fetch_invoice_total(MONTH)
        assert raised.value.reason == "invoice_not_yet_available"
        assert len(list(adapter.fetch_cdrs(MONTH))) == 100  # the usage itself is there


@pytest.mark.parametrize("platform", PLATFORMS)
def test_malformed_rows_are_quarantined_and_good_rows_land(
    sandbox: SandboxServer, platform: str
) -> None:
    settings = {"subscriptions": 6, "cdrs_per_subscription": 40, "page_size": 50}
    with closing(_adapter(sandbox, platform, "CLEAN", **settings)) as adapter:
        clean = [record for record in adapter.fetch_cdrs(MONTH)]
    faults = {"malformed_rows": 10}
    with closing(_adapter(sandbox, platform, "BROKEN", faults=faults, **settings)) as adapter:
        records = list(adapter.fetch_cdrs(MONTH))
        invoice = adapter.fetch_invoice_total(MONTH)

    bad = [record for record in records if isinstance(record, BadRow)]
    good = [record for record in records if isinstance(record, ProviderCdr)]
    assert len(records) == len(clean) == 240  # nothing lost, nothing doubled
    assert len(bad) == 24 and len(good) == 216
    reasons = " / ".join(row.reason for row in bad)
    for words in ("unknown call type", "bad date", "negative duration", "bad amount"):
        assert words in reasons
    if platform in ("kpn_een", "tmobile_calvi", "yielder"):  # CSV
        assert "wrong column count" in reasons and "bad encoding" in reasons
    assert all(row.line > 0 and row.raw for row in bad)
    assert len({row.line for row in bad}) == len(bad)
    # the provider billed every CDR: reconciliation sees the difference
    assert invoice is not None
    if invoice.cdr_count is not None:
        assert invoice.cdr_count == 240 != len(good)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_dropped_stream_is_unavailable(sandbox: SandboxServer, platform: str) -> None:
    settings = {"subscriptions": 6, "cdrs_per_subscription": 400, "page_size": 500}
    received = 0
    with (
        closing(
            _adapter(sandbox, platform, "DROP", faults=["drop_mid_stream"], **settings)
        ) as adapter,
        pytest.raises(ProviderUnavailable) as raised,
    ):
        for _ in adapter.fetch_cdrs(MONTH):
            received += 1
    assert raised.value.transient
    assert received < 2400


def test_yielder_acknowledges_only_what_was_fully_read(sandbox: SandboxServer) -> None:
    settings = {"subscriptions": 6, "cdrs_per_subscription": 30, "subscriptions_per_file": 2}
    adapter = _adapter(sandbox, "yielder", "ACK", faults=["drop_mid_stream"], **settings)
    customer = sandbox.registry.customer("yielder", "ACK")
    with closing(adapter):
        with pytest.raises(ProviderUnavailable):
            list(adapter.fetch_cdrs(MONTH))
        assert customer.acknowledged == set()  # the first file was read, but not the month

        sandbox.clear_faults("yielder", "ACK")
        abandoned = adapter.fetch_cdrs(MONTH)
        next(abandoned)
        assert isinstance(abandoned, Generator)
        abandoned.close()
        assert customer.acknowledged == set()

        assert len(list(adapter.fetch_cdrs(MONTH))) == 180
        assert customer.acknowledged == {f"{MONTH}-001", f"{MONTH}-002", f"{MONTH}-003"}
        assert list(adapter.fetch_cdrs(MONTH)) == []  # the queue is empty now


def test_yielder_marks_the_commit_point_before_it_acknowledges(sandbox: SandboxServer) -> None:
    settings = {"subscriptions": 4, "cdrs_per_subscription": 10, "subscriptions_per_file": 2}
    adapter = _adapter(sandbox, "yielder", "CHECK", **settings)
    customer = sandbox.registry.customer("yielder", "CHECK")
    with closing(adapter):
        stream = adapter.fetch_cdrs(MONTH, checkpoints=True)
        before = [next(stream) for _ in range(40)]
        assert all(isinstance(r, ProviderCdr) for r in before)
        assert next(stream) is CHECKPOINT and customer.acknowledged == set()
        assert list(stream) == []  # asking for more is what acknowledges
        assert customer.acknowledged == {f"{MONTH}-001", f"{MONTH}-002"}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_checkpoints_come_only_from_acknowledging_sources_and_only_when_asked(
        sandbox: SandboxServer, platform: str) -> None:
    with closing(_adapter(sandbox, platform, "ASKS")) as adapter:
        asked = list(adapter.fetch_cdrs(MONTH, checkpoints=True))
    with closing(_adapter(sandbox, platform, "PLAIN")) as adapter:
        plain = list(adapter.fetch_cdrs(MONTH))
    assert asked.count(CHECKPOINT) == (1 if platform == "yielder" else 0)
    assert CHECKPOINT not in plain and len(plain) == len(asked) - asked.count(CHECKPOINT) == 100


def test_unknown_customer_is_a_permanent_error(sandbox: SandboxServer) -> None:
    sandbox.configure_customer("routit", "KNOWN")
    conn = sandbox.connection("routit", "KNOWN")
    conn = type(conn)(**{**conn.__dict__, "customer_ref": "UNKNOWN"})
    with closing(open_adapter(conn)) as adapter, pytest.raises(ProviderError) as raised:
        adapter.fetch_invoice_total(MONTH)
    assert type(raised.value) is ProviderError
    assert not raised.value.transient


def test_nothing_listens(sandbox: SandboxServer) -> None:
    sandbox.configure_customer("routit", "GONE")
    conn = sandbox.connection("routit", "GONE")
    with SandboxServer() as other:
        dead_url = other.url_for("routit")
    conn = type(conn)(**{**conn.__dict__, "base_url": dead_url})
    with closing(open_adapter(conn)) as adapter, pytest.raises(ProviderUnavailable):
        adapter.fetch_invoice_total(MONTH)


def test_faults_switch_at_runtime_over_http(sandbox: SandboxServer) -> None:
    with closing(_adapter(sandbox, "kpn_sp16", "ADMIN")) as adapter:
        assert adapter.fetch_invoice_total(MONTH) is not None
        admin = f"{sandbox.base_url}/_admin/customers/kpn_sp16/ADMIN/faults"
        answer = httpx.put(admin, json={"invoice_not_ready": True, "server_error": 1})
        assert answer.json() == {"faults": {"invoice_not_ready": True, "server_error": 1}}
        with pytest.raises(ProviderUnavailable):
            adapter.fetch_invoice_total(MONTH)
        with pytest.raises(InvoiceNotYetAvailable):
            adapter.fetch_invoice_total(MONTH)
        assert httpx.delete(admin).json() == {"faults": {}}
        assert adapter.fetch_invoice_total(MONTH) is not None
        assert httpx.put(admin, json={"no_such_fault": True}).status_code == 400
