"""`Month`: one value type for "YYYY-MM", and the same usage error from every command."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.month import CustomerCycle, Cycle, Month
from tests.test_cli_totals import cli, setup_db


def test_parse_and_format() -> None:
    assert Month.parse("2026-03") == Month(2026, 3)
    assert str(Month(2026, 3)) == "2026-03" == Month(2026, 3).label
    assert Month.of(date(2026, 3, 31)) == Month(2026, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-13", "2026-13: there is no month 13"),
        ("2026-00", "2026-00: there is no month 0"),
        ("2026-1", "'2026-1' is not a month: write it as YYYY-MM, e.g. 2026-03"),
        ("March", "'March' is not a month: write it as YYYY-MM, e.g. 2026-03"),
        ("0000-05", "0000-05: there is no year 0"),
    ],
)
def test_a_month_that_does_not_exist_says_why(text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        Month.parse(text)
    assert str(raised.value) == message


def test_step_compare_and_range() -> None:
    assert Month(2026, 12) + 1 == Month(2027, 1)
    assert Month(2026, 1) - 1 == Month(2025, 12)
    assert Month(2026, 3) + 22 == Month(2028, 1)
    assert Month(2026, 3) - 15 == Month(2024, 12)
    assert Month(2025, 12) < Month(2026, 1)
    assert Month(2026, 2).months_since(Month(2025, 11)) == 3
    assert [str(m) for m in Month(2025, 11).through(Month(2026, 2))] == [
        "2025-11", "2025-12", "2026-01", "2026-02"]
    with pytest.raises(ValueError, match="ends before it starts"):
        Month(2026, 2).through(Month(2026, 1))


def test_first_and_last_day() -> None:
    assert Month(2024, 2).first_day == date(2024, 2, 1)
    assert Month(2024, 2).last_day == date(2024, 2, 29)  # leap year
    assert Month(2026, 2).last_day == date(2026, 2, 28)
    assert Month(2026, 12).last_day == date(2026, 12, 31)


def test_cycle_for_a_billing_day() -> None:
    assert Month(2025, 12).cycle(15) == Cycle(date(2025, 12, 15), date(2026, 1, 15))
    assert Month(2025, 12).cycle(15).month == Month(2025, 12)
    assert Month(2026, 2).cycle(1).days == 28
    with pytest.raises(ValueError, match="billing_day"):
        Month(2026, 2).cycle(29)
    assert CustomerCycle(7, date(2026, 3, 15)).month == Month(2026, 3)


@given(st.integers(100, 9000), st.integers(1, 12), st.integers(-500, 500))
def test_stepping_is_arithmetic_on_month_numbers(year: int, number: int, step: int) -> None:
    month = Month(year, number)
    assert (month + step) - step == month
    assert (month + step).months_since(month) == step
    assert Month.parse(str(month)) == month


@pytest.mark.parametrize(
    "args",
    [
        ("totals", "show", "ACME", "--cycle", "2026-13"),
        ("totals", "partner", "Partner A", "--cycle", "2026-13"),
        ("totals", "recalc", "--partner", "Partner A", "--from", "2026-01", "--to", "2026-13"),
        ("insights", "show", "ACME", "--cycle", "2026-13"),
        ("export", "csv", "ACME", "--cycle", "2026-13"),
        ("sync", "run", "any-profile", "--month", "2026-13"),
        ("invoices", "run", "--cycle", "2026-13"),
    ],
)
def test_month_13_is_a_usage_error_from_every_command(tmp_path: Path, args: tuple[str, ...]) -> None:
    data, _ = setup_db(tmp_path)
    code, _out, err = cli(data, *args)
    assert code == 2, err
    assert "2026-13: there is no month 13" in err


def test_a_reversed_month_range_is_a_usage_error(tmp_path: Path) -> None:
    data, _ = setup_db(tmp_path)
    code, _out, err = cli(data, "totals", "recalc", "--partner", "Partner A",
                          "--from", "2026-10", "--to", "2026-08")
    assert code == 2 and "2026-08 is before 2026-10" in err
