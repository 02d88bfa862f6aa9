"""One phone-number function: setup and CDR import accept and reject the same numbers."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from core.setup.schema import phone_number as setup_phone_number
from providers.numbers import normalise_destination, normalise_number
from providers.records import RowError, Wire, decode_cdr

WIRE = Wire()


def setup_reads(raw: str) -> str | None:
    """What `expensis setup` stores for a subscription number, None when it refuses it."""
    try:
        return setup_phone_number(raw)
    except ValueError:
        return None


def import_reads(raw: str) -> str | None:
    """What CDR import stores as the CDR's number, None when the row is quarantined."""
    row = {
        "provider_ref": "r1",
        "number": raw,
        "provider_cost": "0.10",
        "call_date": "2026-03-01T10:00:00+00:00",
        "call_type": "voice",
        "duration_s": "60",
        "volume_kb": "0",
    }
    try:
        return decode_cdr(row, WIRE).number
    except RowError:
        return None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Dutch M2M: 097 and nine more digits (11 national digits); import refused these
        ("0970 1234 5678", "+3197012345678"),
        ("+3197012345678", "+3197012345678"),
        ("0031 97 1234 56789", "+3197123456789"),
        # "31" without a plus: import took it, setup refused it
        ("31612345678", "+31612345678"),
        ("+31 (0)6 1234 5678", "+31612345678"),
        ("0044 20 7946 0000", "+442079460000"),
    ],
)
def test_setup_and_import_accept_the_same_numbers(raw: str, expected: str) -> None:
    assert setup_reads(raw) == expected
    assert import_reads(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "+316123456789",  # a Dutch mobile has nine national digits, not ten: setup took it
        "0612345",
        "+3197123",
        "112",
        "06 1234 5678 ext 9",
        "06-1234abcd",
        "+31 (0)",
    ],
)
def test_setup_and_import_refuse_the_same_numbers(raw: str) -> None:
    assert setup_reads(raw) is None
    assert import_reads(raw) is None


def test_short_codes_and_apns_stay_as_destinations() -> None:
    assert normalise_destination("1200") == "1200"
    assert normalise_destination("112") == "112"
    assert normalise_destination("internet") == "internet"
    assert normalise_destination("0970 1234 5678") == "+3197012345678"


_NUMBERISH = st.text(alphabet="0123456789 +-()", max_size=18)
_PREFIXED = st.builds(
    lambda prefix, digits: prefix + digits,
    st.sampled_from(["0", "06", "097", "+31", "0031", "31", "+44", "00", "+", "+31 (0)"]),
    st.text(alphabet="0123456789 ", min_size=0, max_size=14),
)


@given(st.one_of(_NUMBERISH, _PREFIXED, st.text(max_size=20)))
@example("31612345678")
@example("+316123456789")
@example("097012345678")
def test_setup_and_cdr_import_agree_on_every_input(raw: str) -> None:
    assert setup_reads(raw) == import_reads(raw)


@given(st.one_of(_NUMBERISH, _PREFIXED))
def test_a_normalised_number_normalises_to_itself(raw: str) -> None:
    try:
        e164 = normalise_number(raw)
    except ValueError:
        return
    assert e164.startswith("+") and e164[1:].isdigit()
    assert normalise_number(e164) == e164
