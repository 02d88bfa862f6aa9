"""Billing cycles: local-midnight boundaries, DST days, labels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.rating import Cycle, cycle_for, cycle_for_label, month_labels

AMS = ZoneInfo("Europe/Amsterdam")
SANTIAGO = ZoneInfo("America/Santiago")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --- the DST end day in Amsterdam (2025-10-26, 03:00 CEST -> 02:00 CET) --------------------


def test_cdr_on_the_dst_end_day_billing_day_15() -> None:
    moment = datetime(2025, 10, 26, 0, 30, tzinfo=AMS)  # still CEST: 2025-10-25 22:30 UTC
    cycle = cycle_for(moment, 15, AMS)
    assert cycle == Cycle(date(2025, 10, 15), date(2025, 11, 15))
    assert cycle.label == "2025-10"
    assert cycle.days == 31
    # 15 Oct 00:00 CEST (+2) = 14 Oct 22:00 UTC; 15 Nov 00:00 CET (+1) = 14 Nov 23:00 UTC
    assert cycle.start_utc(AMS) == utc(2025, 10, 14, 22, 0)
    assert cycle.end_utc(AMS) == utc(2025, 11, 14, 23, 0)
    # The clocks went back once inside it: 31 days and one hour of real time.
    assert cycle.end_utc(AMS) - cycle.start_utc(AMS) == timedelta(days=31, hours=1)
    assert cycle.start_utc(AMS) <= moment < cycle.end_utc(AMS)


def test_cycles_around_the_dst_end_day_meet_without_gaps() -> None:
    before = cycle_for(utc(2025, 10, 1, 12, 0), 15, AMS)
    during = cycle_for(datetime(2025, 10, 26, 0, 30, tzinfo=AMS), 15, AMS)
    after = cycle_for(utc(2025, 11, 20, 12, 0), 15, AMS)
    assert before == Cycle(date(2025, 9, 15), date(2025, 10, 15))
    assert after == Cycle(date(2025, 11, 15), date(2025, 12, 15))
    # 15 Sep 00:00 CEST = 14 Sep 22:00 UTC; 15 Dec 00:00 CET = 14 Dec 23:00 UTC
    assert before.start_utc(AMS) == utc(2025, 9, 14, 22, 0)
    assert before.end_utc(AMS) == during.start_utc(AMS)
    assert during.end_utc(AMS) == after.start_utc(AMS) == utc(2025, 11, 14, 23, 0)
    assert after.end_utc(AMS) == utc(2025, 12, 14, 23, 0)


def test_cycle_starting_on_the_dst_end_day() -> None:
    # Billing day 26: the cycle starts at 26 Oct 00:00 CEST = 25 Oct 22:00 UTC.
    cycle = cycle_for(datetime(2025, 10, 26, 0, 30, tzinfo=AMS), 26, AMS)
    assert cycle == Cycle(date(2025, 10, 26), date(2025, 11, 26))
    assert cycle.start_utc(AMS) == utc(2025, 10, 25, 22, 0)
    assert cycle.end_utc(AMS) == utc(2025, 11, 25, 23, 0)
    # One second earlier is 25 Oct 23:59:59 local, the previous cycle.
    assert cycle_for(utc(2025, 10, 25, 21, 59, 59), 26, AMS) == Cycle(
        date(2025, 9, 26), date(2025, 10, 26)
    )
    # Both 02:30s of the repeated hour are in the new cycle.
    for fold in (0, 1):
        assert cycle_for(datetime(2025, 10, 26, 2, 30, fold=fold, tzinfo=AMS), 26, AMS) == cycle


def test_cycle_across_the_dst_start_day() -> None:
    # 2025-03-30 02:00 CET -> 03:00 CEST. 28 Mar 00:00 CET (+1) = 27 Mar 23:00 UTC;
    # 28 Apr 00:00 CEST (+2) = 27 Apr 22:00 UTC: 31 days less one hour.
    cycle = cycle_for(datetime(2025, 3, 30, 3, 30, tzinfo=AMS), 28, AMS)
    assert cycle == cycle_for_label("2025-03", 28)
    assert cycle.start_utc(AMS) == utc(2025, 3, 27, 23, 0)
    assert cycle.end_utc(AMS) == utc(2025, 4, 27, 22, 0)
    assert cycle.end_utc(AMS) - cycle.start_utc(AMS) == timedelta(days=31) - timedelta(hours=1)
    assert cycle.days == 31


# --- boundaries expressed in UTC ------------------------------------------------------------


def test_cdr_just_before_and_after_a_winter_boundary_in_utc() -> None:
    # 15 Nov 00:00 CET is 14 Nov 23:00 UTC: still the 14th in UTC, already the 15th locally.
    assert cycle_for(utc(2025, 11, 14, 22, 59, 59, 999999), 15, AMS).label == "2025-10"
    assert cycle_for(utc(2025, 11, 14, 23, 0, 0), 15, AMS).label == "2025-11"


def test_cdr_just_before_and_after_a_summer_boundary_in_utc() -> None:
    # 15 Jul 00:00 CEST is 14 Jul 22:00 UTC.
    assert cycle_for(utc(2025, 7, 14, 21, 59, 59), 15, AMS).label == "2025-06"
    assert cycle_for(utc(2025, 7, 14, 22, 0, 0), 15, AMS).label == "2025-07"


def test_the_moment_is_converted_to_local_time_whatever_its_offset() -> None:
    instant = utc(2025, 11, 14, 23, 30)  # 15 Nov 00:30 in Amsterdam
    in_india = instant.astimezone(timezone(timedelta(hours=5, minutes=30)))
    in_new_york = instant.astimezone(ZoneInfo("America/New_York"))
    expected = Cycle(date(2025, 11, 15), date(2025, 12, 15))
    assert cycle_for(instant, 15, AMS) == cycle_for(in_india, 15, AMS) == expected
    assert cycle_for(in_new_york, 15, AMS) == expected


def test_zone_where_midnight_does_not_exist() -> None:
    # Chile moved its clocks from 2024-09-08 00:00 (-04) to 01:00 (-03): the day started at
    # 04:00 UTC, and that instant is where the cycle starts.
    cycle = cycle_for_label("2024-09", 8)
    assert cycle.start_utc(SANTIAGO) == utc(2024, 9, 8, 4, 0)
    assert cycle_for(utc(2024, 9, 8, 3, 59, 59), 8, SANTIAGO).label == "2024-08"
    assert cycle_for(utc(2024, 9, 8, 4, 0, 0), 8, SANTIAGO) == cycle


# --- labels and shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "billing_day", "start", "end", "days"),
    [
        ("2025-10", 15, date(2025, 10, 15), date(2025, 11, 15), 31),
        ("2025-12", 1, date(2025, 12, 1), date(2026, 1, 1), 31),  # over the year end
        ("2024-02", 1, date(2024, 2, 1), date(2024, 3, 1), 29),  # leap year
        ("2025-02", 1, date(2025, 2, 1), date(2025, 3, 1), 28),
        ("2025-01", 28, date(2025, 1, 28), date(2025, 2, 28), 31),
        ("2025-02", 28, date(2025, 2, 28), date(2025, 3, 28), 28),
    ],
)
def test_cycle_for_label(label: str, billing_day: int, start: date, end: date, days: int) -> None:
    cycle = cycle_for_label(label, billing_day)
    assert (cycle.start, cycle.end, cycle.days, cycle.label) == (start, end, days, label)


def test_billing_day_1_at_the_turn_of_the_year() -> None:
    # 1 Jan 2026 00:00 CET = 31 Dec 2025 23:00 UTC
    assert cycle_for(utc(2025, 12, 31, 22, 59), 1, AMS).label == "2025-12"
    assert cycle_for(utc(2025, 12, 31, 23, 0), 1, AMS).label == "2026-01"


@pytest.mark.parametrize(
    "label", ["2025-13", "2025-00", "2025-1", "25-10", "2025-10-01", "", "abcd-ef", "0000-01"]
)
def test_bad_labels(label: str) -> None:
    with pytest.raises(ValueError):
        cycle_for_label(label, 15)


@pytest.mark.parametrize("billing_day", [0, 29, 31, -1])
def test_billing_day_out_of_range(billing_day: int) -> None:
    with pytest.raises(ValueError):
        cycle_for(utc(2025, 10, 1), billing_day, AMS)
    with pytest.raises(ValueError):
        cycle_for_label("2025-10", billing_day)


def test_naive_moment_is_rejected() -> None:
    with pytest.raises(ValueError):
        cycle_for(datetime(2025, 10, 26, 0, 30), 15, AMS)


def test_empty_cycle_is_rejected() -> None:
    with pytest.raises(ValueError):
        Cycle(date(2025, 10, 15), date(2025, 10, 15))


def test_month_labels() -> None:
    assert month_labels("2025-01", "2025-03") == ["2025-01", "2025-02", "2025-03"]
    assert month_labels("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert month_labels("2025-10", "2025-10") == ["2025-10"]
    assert len(month_labels("2020-01", "2025-12")) == 6 * 12
    with pytest.raises(ValueError):
        month_labels("2025-03", "2025-01")
    with pytest.raises(ValueError):
        month_labels("2025-3", "2025-04")


# --- properties ------------------------------------------------------------------------------------

ZONES = [AMS, SANTIAGO, ZoneInfo("America/New_York"), ZoneInfo("Australia/Sydney"), ZoneInfo("UTC")]


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2040, 1, 1),
        timezones=st.sampled_from([UTC, AMS]),
        allow_imaginary=False,
    ),
    billing_day=st.integers(1, 28),
    tz=st.sampled_from(ZONES),
)
def test_every_moment_lies_in_its_cycle(moment: datetime, billing_day: int, tz: ZoneInfo) -> None:
    cycle = cycle_for(moment, billing_day, tz)
    assert cycle.start_utc(tz) <= moment < cycle.end_utc(tz)
    assert cycle.start.day == cycle.end.day == billing_day
    assert 28 <= cycle.days <= 31
    assert cycle_for_label(cycle.label, billing_day) == cycle
    # The next cycle starts exactly where this one ends.
    assert cycle_for(cycle.end_utc(tz), billing_day, tz).start == cycle.end
