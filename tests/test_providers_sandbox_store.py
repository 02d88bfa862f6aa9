"""The sandbox keeps a month it has sent, as a provider serves a closed month from storage:
the next download and the invoice total come without generating the month again, and the
bytes are the ones a fresh rendering gives. Faults are always rendered afresh."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from decimal import Decimal

import pytest

from providers import BadRow, ProviderCdr, open_adapter
from providers.adapter import DeclarativeAdapter
from providers.listing import FileQueue, Listing, dig
from providers.platforms import SPECS
from providers.sandbox import SandboxServer
from providers.sandbox import data as sandbox_data
from providers.sandbox.apis import BODIES
from providers.sandbox.render import BodyStore

MONTH = "2025-03"


@pytest.fixture
def generated(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the CDRs the sandbox generates (one entry per subscription-day generated)."""
    calls: list[int] = []
    real = sandbox_data._day_cdrs

    def counting(*args: object) -> Iterator[tuple[int, ProviderCdr]]:
        calls.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sandbox_data, "_day_cdrs", counting)
    return calls


def _first_body(adapter: DeclarativeAdapter, month: str = MONTH) -> bytes:
    """The raw bytes of the CDR listing's first response (a page, or the first file)."""
    source = adapter.spec.cdrs.source
    values = {"customer": adapter.conn.customer_ref, "month": month}
    if isinstance(source, FileQueue):
        url, params = source.files.resolve(values)
        files = dig(adapter.http.json("GET", url, params=params), source.items)
        url, params = source.download.resolve({**values, "file_id": str(files[0][source.file_id])})
    else:
        assert isinstance(source, Listing)
        page = source.paging.first(*source.endpoint.resolve(values))
        url, params = page.url, page.params
    return adapter.http.request("GET", url, params=params or None).content


@pytest.mark.parametrize("platform", tuple(SPECS))
def test_a_month_sent_once_is_served_again_byte_for_byte(
    sandbox: SandboxServer, generated: list[int], platform: str
) -> None:
    sandbox.configure_customer(platform, "STORED", subscriptions=9, cdrs_per_subscription=25,
                               page_size=40, subscriptions_per_file=4)
    BODIES.clear()
    with closing(open_adapter(sandbox.connection(platform, "STORED"))) as adapter:
        assert isinstance(adapter, DeclarativeAdapter)
        first = _first_body(adapter)
        BODIES.clear()
        fresh = _first_body(adapter)  # rendered again from nothing
        generated.clear()
        stored = _first_body(adapter)
        assert not generated, "the stored body was generated again"
        assert stored == fresh == first

        BODIES.clear()
        month = list(adapter.fetch_cdrs(MONTH))
        generated.clear()
        # the same customer again (a file queue forgets the files it acknowledged)
        sandbox.configure_customer(platform, "STORED", subscriptions=9, cdrs_per_subscription=25,
                                   page_size=40, subscriptions_per_file=4)
        again = list(adapter.fetch_cdrs(MONTH))
        invoice = adapter.fetch_invoice_total(MONTH)
    assert not generated, "the second download or the invoice total generated the month again"
    assert again == month and not [record for record in month if isinstance(record, BadRow)]
    assert invoice is not None
    assert invoice.amount == sum((cdr.provider_cost for cdr in month if isinstance(cdr, ProviderCdr)),
                                 Decimal(0))


def test_the_invoice_total_after_a_download_generates_nothing(
    sandbox: SandboxServer, generated: list[int]
) -> None:
    customer = sandbox.configure_customer("tmobile_calvi", "INVOICE", subscriptions=6, cdrs_per_subscription=30,
                                          seed=41)
    with closing(open_adapter(sandbox.connection("tmobile_calvi", "INVOICE"))) as adapter:
        records = list(adapter.fetch_cdrs(MONTH))
        generated.clear()
        invoice = adapter.fetch_invoice_total(MONTH)
    assert not generated
    assert invoice is not None and invoice.cdr_count == len(records) == customer.settings.month_cdr_count()
    assert invoice.amount == sum((cdr.provider_cost for cdr in records if isinstance(cdr, ProviderCdr)),
                                 Decimal(0))


def test_faults_are_rendered_afresh_and_never_stored(sandbox: SandboxServer, generated: list[int]) -> None:
    sandbox.configure_customer("tmobile_calvi", "FAULTY", subscriptions=4, cdrs_per_subscription=50)
    BODIES.clear()
    with closing(open_adapter(sandbox.connection("tmobile_calvi", "FAULTY"))) as adapter:
        clean = list(adapter.fetch_cdrs(MONTH))
        sandbox.set_faults("tmobile_calvi", "FAULTY", malformed_rows=20)
        generated.clear()
        broken = list(adapter.fetch_cdrs(MONTH))
        assert generated, "a body with faults came from the store"
        assert sum(isinstance(record, BadRow) for record in broken) == 10
        sandbox.clear_faults("tmobile_calvi", "FAULTY")
        generated.clear()
        assert list(adapter.fetch_cdrs(MONTH)) == clean
        assert not generated, "the clean month was not served from the store"


def test_the_store_keeps_only_whole_bodies_and_at_most_its_size() -> None:
    store = BodyStore(max_bytes=100, block=10)
    sent = list(store.recording("a", [b"x" * 6, b"y" * 6, b"z" * 3]))
    assert sent == [b"x" * 6, b"y" * 6, b"z" * 3]  # passed through as they came
    assert b"".join(store.get("a") or ()) == b"x" * 6 + b"y" * 6 + b"z" * 3

    abandoned = store.recording("b", [b"1" * 20, b"2" * 20])
    next(abandoned)
    abandoned.close()  # the client went away
    assert store.get("b") is None

    assert list(store.recording("c", [b"3" * 20, b"", b"4" * 20])) == [b"3" * 20, b""]  # a DROP
    assert store.get("c") is None

    assert list(store.recording("big", [b"5" * 60, b"6" * 60])) == [b"5" * 60, b"6" * 60]
    assert store.get("big") is None  # larger than the whole store: streamed, not kept

    list(store.recording("d", [b"7" * 60]))
    list(store.recording("e", [b"8" * 60]))  # over 100 bytes together: the older goes
    assert store.get("d") is None and store.get("e") == (b"8" * 60,)
