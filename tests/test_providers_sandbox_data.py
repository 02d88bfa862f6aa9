"""The sandbox's generated data: deterministic, lazy, sliceable, plausible."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from types import GeneratorType

import pytest

from providers.base import ProviderCdr
from providers.sandbox.data import (
    CustomerSettings,
    ResumableCdrs,
    cdrs,
    invoice_total,
    subscriptions,
)
from providers.sandbox.registry import Faults

SETTINGS = CustomerSettings("kpn_sp16", "ACME", subscriptions=30, cdrs_per_subscription=60)
MONTH = "2025-01"


def test_the_same_inputs_give_the_same_records() -> None:
    again = CustomerSettings("kpn_sp16", "ACME", subscriptions=30, cdrs_per_subscription=60)
    assert list(cdrs(SETTINGS, MONTH)) == list(cdrs(again, MONTH))
    assert list(subscriptions(SETTINGS, MONTH)) == list(subscriptions(again, MONTH))


def test_the_same_in_another_process() -> None:
    """No dependence on hash randomisation or anything else per process."""
    script = (
        "from providers.sandbox.data import CustomerSettings, cdrs\n"
        "s = CustomerSettings('kpn_sp16', 'ACME', subscriptions=30, cdrs_per_subscription=60)\n"
        "print(repr([c for _, c in cdrs(s, '2025-01')][-1]))\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    last = [cdr for _, cdr in cdrs(SETTINGS, MONTH)][-1]
    assert child.stdout.strip() == repr(last)


def test_other_customer_month_or_platform_differ() -> None:
    base = [cdr for _, cdr in cdrs(SETTINGS, MONTH)][:20]
    for other, month in [
        (CustomerSettings("kpn_sp16", "OTHER", subscriptions=30, cdrs_per_subscription=60), MONTH),
        (SETTINGS, "2025-02"),
        (CustomerSettings("vodafone", "ACME", subscriptions=30, cdrs_per_subscription=60), MONTH),
    ]:
        assert [cdr for _, cdr in cdrs(other, month)][:20] != base


def test_generation_is_lazy() -> None:
    huge = CustomerSettings("routit", "HUGE", subscriptions=1000, cdrs_per_subscription=1_000_000)
    stream = cdrs(huge, MONTH)
    assert isinstance(stream, GeneratorType)
    ordinal, first = next(stream)
    assert ordinal == 0 and first.number.startswith("+316")
    assert huge.month_cdr_count() > 900_000_000  # counted, not generated


def test_any_slice_equals_the_same_part_of_the_whole() -> None:
    whole = list(cdrs(SETTINGS, MONTH))
    assert len(whole) == SETTINGS.month_cdr_count()
    for start, stop in [(0, 7), (59, 61), (333, 1000), (len(whole) - 3, len(whole) + 10)]:
        assert list(cdrs(SETTINGS, MONTH, start, stop)) == whole[start:stop]
    resumable = ResumableCdrs()
    pages = [
        list(resumable.read(SETTINGS, MONTH, start, start + 97))
        for start in range(0, len(whole), 97)
    ]
    assert [row for page in pages for row in page] == whole


def test_what_the_month_looks_like() -> None:
    records = [cdr for _, cdr in cdrs(SETTINGS, MONTH)]
    lines = list(subscriptions(SETTINGS, MONTH))
    per_number = Counter(cdr.number for cdr in records)

    # flatliners (no usage) and a spike (three times the usage)
    flatliners = [line.number for line in lines if per_number[line.number] == 0]
    assert len(flatliners) == 2
    assert max(per_number.values()) == 3 * 60

    assert {cdr.call_type for cdr in records} == {"voice", "voice_in", "sms", "data"}
    assert any(cdr.roaming for cdr in records)
    assert not all(cdr.roaming for cdr in records)
    for prefix in ("+32", "+49", "+44"):
        assert any(cdr.destination.startswith(prefix) for cdr in records)

    weekday = sum(1 for cdr in records if cdr.call_date.weekday() < 5)
    office = sum(1 for cdr in records if 8 <= cdr.call_date.hour < 18)
    assert weekday / len(records) > 0.8 and office / len(records) > 0.6

    assert all(
        cdr.provider_cost == cdr.provider_cost.quantize(Decimal("0.0001")) for cdr in records
    )
    assert all(cdr.provider_cost > 0 for cdr in records)
    assert all(cdr.duration_s > 0 for cdr in records if cdr.call_type in ("voice", "voice_in"))
    assert all(cdr.volume_kb > 0 for cdr in records if cdr.call_type == "data")
    assert all(cdr.call_date.strftime("%Y-%m") == MONTH for cdr in records)
    assert len({cdr.provider_ref for cdr in records}) == len(records)

    assert len({line.number for line in lines}) == len(lines)
    assert all(len(line.sim or "") == 19 and len(line.imei or "") == 15 for line in lines)
    assert sum(1 for line in lines if line.portation_date) >= 10


def test_roaming_has_a_country_and_incoming_calls() -> None:
    """Abroad about two in five calls are incoming; at home platforms report none."""
    records = [cdr for _, cdr in cdrs(SETTINGS, MONTH)]
    roaming = [cdr for cdr in records if cdr.roaming]
    assert all(cdr.visited_country == "" for cdr in records if not cdr.roaming)
    assert all(cdr.roaming for cdr in records if cdr.call_type == "voice_in")
    calls = Counter(cdr.call_type for cdr in roaming if cdr.call_type.startswith("voice"))
    assert 0.25 < calls["voice_in"] / (calls["voice"] + calls["voice_in"]) < 0.55

    countries = Counter(cdr.visited_country for cdr in roaming)
    eu = sum(countries[code] for code in ("DE", "BE", "FR", "ES", "IT"))
    assert eu / len(roaming) > 0.5  # mostly the EU/EEA
    assert {"CH", "US"} <= set(countries) and 0 < countries[""] < 0.1 * len(roaming)

    # roam like at home: data in the EU/EEA costs what it costs at home, elsewhere 5 times more
    for cdr in (cdr for cdr in records if cdr.call_type == "data"):
        surcharged = cdr.roaming and cdr.visited_country not in ("DE", "BE", "FR", "ES", "IT")
        assert cdr.provider_cost == Decimal(cdr.volume_kb * (10 if surcharged else 2)).scaleb(-4)

    # an incoming call costs 0.01 a started minute in the EU/EEA and 0.25 outside it
    incoming = [cdr for cdr in roaming if cdr.call_type == "voice_in"]
    assert {cdr.visited_country in ("DE", "BE", "FR", "ES", "IT") for cdr in incoming} == {True, False}
    for cdr in incoming:
        rate = Decimal("0.01") if cdr.visited_country in ("DE", "BE", "FR", "ES", "IT") else Decimal("0.25")
        assert cdr.provider_cost == rate * -(-cdr.duration_s // 60)


def test_the_invoice_bills_every_cdr() -> None:
    total = invoice_total(SETTINGS, MONTH)
    records = [cdr for _, cdr in cdrs(SETTINGS, MONTH)]
    assert total.cdr_count == len(records)
    assert total.amount == sum((cdr.provider_cost for cdr in records), Decimal(0))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, Faults()),
        (["slow", "wrong_credentials"], Faults(slow=15.0, wrong_credentials=True)),
        ({"rate_limit": True}, Faults(rate_limit=30.0)),
        ({"server_error": 3, "malformed_rows": True}, Faults(server_error=3, malformed_rows=25)),
        ({"server_error": True, "slow": 0.5}, Faults(server_error=True, slow=0.5)),
    ],
)
def test_fault_options(given: object, expected: Faults) -> None:
    assert Faults.parse(given) == expected  # type: ignore[arg-type]


def test_unknown_faults_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown faults: typo"):
        Faults.parse(["typo"])


def _read_whole(settings: CustomerSettings) -> list[object]:
    return [cdr for _, cdr in cdrs(settings, MONTH)]


def _read_paged(settings: CustomerSettings) -> list[object]:
    paged = ResumableCdrs()
    return [cdr for start in range(0, settings.month_cdr_count(), 97)
            for _, cdr in paged.read(settings, MONTH, start, start + 97)]


@pytest.mark.parametrize(("seed", "read"), [(901, _read_whole), (902, _read_paged)])
def test_a_pass_over_the_whole_month_leaves_the_invoice_total(
        monkeypatch: pytest.MonkeyPatch, seed: int, read: Callable[[CustomerSettings], list[object]]) -> None:
    """A download (one pass, or pages read on through `ResumableCdrs`) sums the costs on the
    way, so the invoice total afterwards generates nothing."""
    settings = CustomerSettings("routit", "TOTALS", subscriptions=9, cdrs_per_subscription=40, seed=seed)
    records = [cdr for cdr in read(settings) if isinstance(cdr, ProviderCdr)]
    generated: list[object] = []

    def counting(*args: object) -> Iterator[object]:
        generated.append(args)
        return iter(())

    monkeypatch.setattr("providers.sandbox.data._day_cdrs", counting)
    total = invoice_total(settings, MONTH)
    assert not generated
    assert total.cdr_count == len(records)
    assert str(total.amount) == str(sum((cdr.provider_cost for cdr in records), Decimal("0.0000")))
