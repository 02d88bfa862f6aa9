"""Every HTTP adapter end to end against the sandbox over real HTTP on 127.0.0.1."""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Generator
from contextlib import closing
from decimal import Decimal

import httpx
import pytest

from providers import PLATFORMS, BadRow, ProviderAdapter, ProviderCdr, open_adapter
from providers.adapter import DeclarativeAdapter
from providers.auth import forget_sessions
from providers.platforms import SPECS
from providers.sandbox import SandboxServer
from providers.sandbox import data as sandbox_data

HTTP_PLATFORMS = tuple(SPECS)
MONTH = "2025-03"  # has the switch to summer time on the 30th


def _cdrs(adapter: ProviderAdapter, month: str = MONTH) -> list[ProviderCdr]:
    records = list(adapter.fetch_cdrs(month))
    assert not [record for record in records if isinstance(record, BadRow)]
    return [record for record in records if isinstance(record, ProviderCdr)]


def test_the_registry_knows_every_platform() -> None:
    assert PLATFORMS == (
        "kpn_sp16",
        "kpn_een",
        "kpn_grip",
        "vodafone",
        "tmobile_calvi",
        "routit",
        "yielder",
        "csv_file",
    )
    assert set(HTTP_PLATFORMS) == set(PLATFORMS) - {"csv_file"}


@pytest.mark.parametrize("platform", HTTP_PLATFORMS)
def test_adapter_end_to_end(sandbox: SandboxServer, platform: str) -> None:
    # small pages so every paging style turns several pages
    customer = sandbox.configure_customer(
        platform,
        "E2E",
        subscriptions=14,
        cdrs_per_subscription=30,
        page_size=37,
        subscriptions_per_file=4,
    )
    expected_subscriptions = list(sandbox_data.subscriptions(customer.settings, MONTH))
    expected_cdrs = [cdr for _, cdr in sandbox_data.cdrs(customer.settings, MONTH)]

    adapter = open_adapter(sandbox.connection(platform, "E2E"))
    try:
        assert adapter.platform == platform
        subscriptions = list(adapter.fetch_subscriptions(MONTH))
        cdrs = _cdrs(adapter)
        invoice = adapter.fetch_invoice_total(MONTH)
    finally:
        adapter.close()

    assert subscriptions == expected_subscriptions
    assert any(item.portation_date for item in subscriptions)
    assert all(item.sim and item.imei and item.device_model for item in subscriptions)
    assert all(item.number.startswith("+316") for item in subscriptions)

    assert cdrs == expected_cdrs  # lossless through the platform's wire format
    # ... including incoming calls and the visited country, which every platform delivers
    assert "voice_in" in {cdr.call_type for cdr in cdrs}
    assert {cdr.visited_country for cdr in cdrs if cdr.roaming} - {""}
    assert len({cdr.provider_ref for cdr in cdrs}) == len(cdrs)
    assert all(cdr.call_date.tzinfo is not None for cdr in cdrs)

    assert invoice is not None
    assert invoice.amount == sum((cdr.provider_cost for cdr in cdrs), Decimal(0))
    assert invoice.currency == "EUR"
    # KPN EEN does not report a CDR count; everyone else does
    assert invoice.cdr_count == (None if platform == "kpn_een" else len(cdrs))


@pytest.mark.parametrize("platform", HTTP_PLATFORMS)
def test_the_same_data_every_time(platform: str) -> None:
    """Two separate sandboxes (and two fetches) give identical records."""
    runs = []
    for _ in range(2):
        with SandboxServer() as server:
            server.configure_customer(platform, "DET", subscriptions=4, cdrs_per_subscription=25)
            adapter = open_adapter(server.connection(platform, "DET"))
            try:
                runs.append(
                    (list(adapter.fetch_subscriptions(MONTH)), list(adapter.fetch_cdrs(MONTH)))
                )
                if platform != "yielder":  # the file queue is empty once read
                    assert list(adapter.fetch_cdrs(MONTH)) == runs[-1][1]
            finally:
                adapter.close()
    assert runs[0] == runs[1]
    assert len(runs[0][1]) == 100


def test_another_seed_gives_other_data(sandbox: SandboxServer) -> None:
    first = sandbox.configure_customer("routit", "SEED", subscriptions=2, seed=1)
    second = sandbox_data.CustomerSettings("routit", "SEED", subscriptions=2, seed=2)
    assert list(sandbox_data.subscriptions(first.settings, MONTH)) != list(
        sandbox_data.subscriptions(second, MONTH)
    )


def test_fetching_is_lazy_and_streams(sandbox: SandboxServer) -> None:
    sandbox.configure_customer("routit", "LAZY", subscriptions=3, cdrs_per_subscription=50)
    with DeclarativeAdapter(SPECS["routit"], sandbox.connection("routit", "LAZY")) as adapter:
        cdrs = adapter.fetch_cdrs(MONTH)  # nothing is requested yet
        first_three = list(itertools.islice(cdrs, 3))
        assert len(first_three) == 3
        assert isinstance(cdrs, Generator)  # so a consumer can stop it early
        cdrs.close()


def test_month_must_be_a_month(sandbox: SandboxServer) -> None:
    sandbox.configure_customer("routit", "MONTH")
    with closing(open_adapter(sandbox.connection("routit", "MONTH"))) as adapter:
        with pytest.raises(ValueError):
            adapter.fetch_cdrs("2025-13")
        with pytest.raises(ValueError):
            adapter.fetch_invoice_total("March")


# -- wire formats, as the sandbox serves them ------------------------------------


def test_kpn_een_speaks_dutch_csv(sandbox: SandboxServer) -> None:
    customer = sandbox.configure_customer(
        "kpn_een", "WIRE", subscriptions=2, cdrs_per_subscription=3
    )
    response = httpx.get(
        f"{sandbox.url_for('kpn_een')}/api/klanten/WIRE/gesprekken",
        params={"periode": MONTH, "pagina": "1"},
        headers={"X-Api-Key": customer.credentials["api_key"]},
    )
    assert response.status_code == 200
    assert response.headers["X-Total-Pages"] == "1"
    header, first, *_ = response.text.splitlines()
    assert header == "id;nummer;datum;soort;bestemming;duur;volume_kb;kosten;roaming;land"
    fields = first.split(";")
    assert fields[2][2] == "-" and fields[2][5] == "-"  # dd-mm-yyyy HH:MM:SS
    assert "," in fields[7] and "." not in fields[7]  # decimal comma
    assert fields[3] in ("spraak", "sms", "data") and fields[8] in ("J", "N")


def test_yielder_serves_gzip_files(sandbox: SandboxServer) -> None:
    customer = sandbox.configure_customer(
        "yielder", "WIRE", subscriptions=6, cdrs_per_subscription=2, subscriptions_per_file=5
    )
    headers = {"X-Yielder-Token": customer.credentials["api_key"]}
    base = f"{sandbox.url_for('yielder')}/queue/WIRE"
    files = httpx.get(f"{base}/files", params={"period": MONTH}, headers=headers).json()["files"]
    assert [entry["records"] for entry in files] == [10, 2]
    body = httpx.get(f"{base}/files/{files[0]['id']}", headers=headers).content
    lines = gzip.decompress(body).decode().splitlines()
    assert lines[0].startswith("cdr_id,a_number,timestamp,type")
    assert len(lines) == 11


def test_vodafone_follows_absolute_next_links(sandbox: SandboxServer) -> None:
    customer = sandbox.configure_customer("vodafone", "WIRE", subscriptions=1, page_size=4)
    response = httpx.get(
        f"{sandbox.url_for('vodafone')}/api/accounts/WIRE/usage",
        params={"billingPeriod": MONTH},
        auth=(customer.credentials["username"], customer.credentials["password"]),
    )
    document = response.json()
    assert len(document["_embedded"]["usage"]) == 4
    assert document["_links"]["next"]["href"].startswith(sandbox.base_url)


def test_wrong_credentials_are_refused(sandbox: SandboxServer) -> None:
    sandbox.configure_customer("kpn_sp16", "CREDS")
    response = httpx.post(
        f"{sandbox.url_for('kpn_sp16')}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "creds-client",
            "client_secret": "x",
        },
    )
    assert response.status_code == 401


# -- logins ------------------------------------------------------------------------


def test_one_calvi_login_serves_the_whole_partner(sandbox: SandboxServer) -> None:
    forget_sessions()
    partner = sandbox.configure_customer("tmobile_calvi", "PARTNER-A", subscriptions=2)
    sandbox.configure_customer(
        "tmobile_calvi", "PARTNER-B", subscriptions=3, credentials=partner.credentials
    )
    logins_before = sandbox.registry.logins_issued
    counts = []
    for ref in ("PARTNER-A", "PARTNER-B"):
        with closing(open_adapter(sandbox.connection("tmobile_calvi", ref))) as adapter:
            counts.append(len(list(adapter.fetch_subscriptions(MONTH))))
            adapter.fetch_invoice_total(MONTH)
    assert counts == [2, 3]
    assert sandbox.registry.logins_issued == logins_before + 1


def test_an_expired_calvi_session_logs_in_again(sandbox: SandboxServer) -> None:
    forget_sessions()
    sandbox.configure_customer("tmobile_calvi", "EXPIRY", subscriptions=2)
    with closing(open_adapter(sandbox.connection("tmobile_calvi", "EXPIRY"))) as adapter:
        assert len(list(adapter.fetch_subscriptions(MONTH))) == 2
        sandbox.registry.forget_logins()  # the provider forgot every session
        assert len(list(adapter.fetch_subscriptions(MONTH))) == 2


def test_an_oauth_token_is_fetched_once_per_adapter(sandbox: SandboxServer) -> None:
    sandbox.configure_customer("kpn_grip", "TOKEN", subscriptions=3, page_size=2)
    before = sandbox.registry.logins_issued
    with closing(open_adapter(sandbox.connection("kpn_grip", "TOKEN"))) as adapter:
        list(adapter.fetch_subscriptions(MONTH))
        list(adapter.fetch_cdrs(MONTH))
        adapter.fetch_invoice_total(MONTH)
    assert sandbox.registry.logins_issued == before + 1
