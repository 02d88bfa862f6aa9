"""Import → rate → totals → insights → history, with amounts worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from core.bus import Bus, run_until_idle
from core.bus.command import default_registry
from core.db import Database
from core.imports import import_cdrs
from core.insights import list_insights
from core.models import (
    Cdr,
    CdrRating,
    CustomerStatus,
    Message,
    QuarantinedRow,
    RatePlan,
    Subscription,
    Total,
    TotalHistory,
)
from core.totals import history_versions, partner_totals, preview_recalculation, totals_version
from core.workflows import load_all
from core.workflows.totals import dispatch_totals, request_recalculation
from providers.csvformat import parse_cdr_csv
from tests.factories import make_setup, write_cdrs

load_all()
A, B = "+31610000001", "+31610000002"
OCT = date(2026, 10, 1)

# Cycle 2026-10 for billing day 1, sub A. Plan: 10 min voice, 2 SMS, 1 MB bundle.
OCTOBER = [
    ("r1", A, "2026-10-05T09:00:00+02:00", "voice", "+31201234567", 300, 0, "0.0100"),  # 5 min, in bundle
    ("r2", A, "2026-10-06T09:00:00+02:00", "voice", "+31201234567", 361, 0, "0.0200"),  # crosses bundle end
    ("r3", A, "2026-10-07T09:00:00+02:00", "voice", "+442071234567", 61, 0, "0.0300"),  # +44 tariff
    ("r4", A, "2026-10-08T09:00:00+02:00", "sms", "+31612345678", 0, 0, "0.0010"),
    ("r5", A, "2026-10-08T09:01:00+02:00", "sms", "+31612345678", 0, 0, "0.0010"),
    ("r6", A, "2026-10-08T09:02:00+02:00", "sms", "+31612345678", 0, 0, "0.0010"),  # 3rd SMS: paid
    ("r7", A, "2026-10-09T09:00:00+02:00", "data", "", 0, 2048, "0.0040"),  # 1 MB over bundle
]


def run(db: Database) -> Bus:
    bus = Bus(db, default_registry)
    run_until_idle(bus)
    return bus


def import_rows(db: Database, tmp_path: Path, rows, name: str = "cdrs.csv", provider: str = "kpn_sp16"):  # type: ignore[no-untyped-def]
    path = write_cdrs(tmp_path / name, rows)
    with path.open("rb") as f:
        return import_cdrs(db, parse_cdr_csv(f), provider=provider, source=str(path))


def by_key(rows) -> dict[tuple[int, str], Decimal]:  # type: ignore[no-untyped-def]
    return {(r.subscription_id, r.call_type): r.rated_amount for r in rows}


def test_rate_plan_customer_totals_by_hand(db: Database, tmp_path: Path) -> None:
    ids = make_setup(db, starts=(date(2025, 1, 1), date(2026, 10, 17)))
    result = import_rows(db, tmp_path, OCTOBER)
    assert (result.imported, result.duplicates, result.quarantined) == (7, 0, 0)
    bus = Bus(db, default_registry)
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    rows = totals_version(db, ids["customer"], OCT)
    a, b = ids[A], ids[B]
    # voice: r1 300 s in bundle (300 s left); r2 361 s → billed 420 s: 300 s free, 120 s = 2 min × 0.20
    # = 0.40; r3 +44 61 s → billed 120 s = 2 min × 1.00 + 0.25 set-up = 2.25; voice = 2.65.
    # sms: 2 in bundle, 1 × 0.10 = 0.10. data: 2048 KB − 1024 KB bundle = 1024 KB × 0.50/1024 = 0.50.
    # fee A: full cycle 10.00. fee B: starts 17 Oct → active 17..31 = 15 of 31 days:
    # 10.00 × 15 / 31 = 4.838709… → 4.8387.
    assert by_key(rows) == {
        (a, "voice"): Decimal("2.6500"), (a, "sms"): Decimal("0.1000"),
        (a, "data"): Decimal("0.5000"), (a, "fee"): Decimal("10.0000"), (b, "fee"): Decimal("4.8387"),
    }
    voice = next(r for r in rows if r.key == (a, "voice"))
    assert (voice.count, voice.duration_s, voice.bundle_used) == (3, 722, 600)
    assert voice.provider_cost == Decimal("0.0600")
    with db.reader() as s:
        per_cdr = dict(s.execute(select(Cdr.provider_ref, CdrRating.rated_amount)
                                 .join(CdrRating, CdrRating.cdr_id == Cdr.id)).all())
        status = s.scalars(select(CustomerStatus)).one()
        kinds = {(i.kind, i.subscription_id) for i in list_insights(s, ids["customer"], OCT)}
    assert per_cdr == {"r1": Decimal("0.0000"), "r2": Decimal("0.4000"), "r3": Decimal("2.2500"),
                       "r4": Decimal("0.0000"), "r5": Decimal("0.0000"), "r6": Decimal("0.1000"),
                       "r7": Decimal("0.5000")}
    assert (status.totals_version, status.backed_up_version, status.status) == (1, 1, "ready")
    assert ("flatliner", b) in kinds and ("flatliner", a) not in kinds
    assert ("margin", None) in kinds and ("top_spender", a) in kinds


def test_customer_without_rate_plan_is_billed_provider_cost(db: Database, tmp_path: Path) -> None:
    ids = make_setup(db, rateplan_customer=False)
    import_rows(db, tmp_path, OCTOBER)
    bus = Bus(db, default_registry)
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    a = ids[A]
    # pass-through: voice 0.01 + 0.02 + 0.03 = 0.06; sms 3 × 0.001 = 0.003; data 0.004; no fees
    assert by_key(totals_version(db, ids["customer"], OCT)) == {
        (a, "voice"): Decimal("0.0600"), (a, "sms"): Decimal("0.0030"), (a, "data"): Decimal("0.0040")}


def test_cycle_boundaries_in_local_time_across_the_october_dst_change(db: Database, tmp_path: Path) -> None:
    ids = make_setup(db, billing_day=15)
    rows = [
        # 2026-10-14 21:59:59Z = 23:59:59 CEST on the 14th → cycle starting 15 Sep
        ("b1", A, "2026-10-14T21:59:59+00:00", "sms", "", 0, 0, "0.01"),
        # 2026-10-14 22:00:00Z = 00:00 CEST on the 15th → cycle starting 15 Oct
        ("b2", A, "2026-10-14T22:00:00+00:00", "sms", "", 0, 0, "0.01"),
        # after the 25 Oct DST change the offset is +01:00: 2026-11-14 22:30Z = 23:30 CET on the 14th
        ("b3", A, "2026-11-14T22:30:00+00:00", "sms", "", 0, 0, "0.01"),
        # 2026-11-14 23:00Z = 00:00 CET on the 15th → cycle starting 15 Nov
        ("b4", A, "2026-11-14T23:00:00+00:00", "sms", "", 0, 0, "0.01"),
        # 02:30 on 25 Oct happens twice; both belong to the October cycle
        ("b5", A, "2026-10-25T02:30:00+02:00", "sms", "", 0, 0, "0.01"),
        ("b6", A, "2026-10-25T02:30:00+01:00", "sms", "", 0, 0, "0.01"),
    ]
    import_rows(db, tmp_path, rows)
    with db.reader() as s:
        cycles = dict(s.execute(select(Cdr.provider_ref, Cdr.cycle_start_date)).all())
    assert cycles == {"b1": date(2026, 9, 15), "b2": date(2026, 10, 15), "b3": date(2026, 10, 15),
                      "b4": date(2026, 11, 15), "b5": date(2026, 10, 15), "b6": date(2026, 10, 15)}
    assert ids


def test_duplicates_and_out_of_order_imports_give_the_same_totals(db: Database, tmp_path: Path) -> None:
    ids = make_setup(db)
    second = import_rows(db, tmp_path, OCTOBER[4:], "late.csv")
    first = import_rows(db, tmp_path, OCTOBER[:5], "early.csv")  # r5 overlaps: a duplicate
    again = import_rows(db, tmp_path, OCTOBER, "all.csv")
    assert (second.imported, first.imported, first.duplicates) == (3, 4, 1)
    assert (again.imported, again.duplicates) == (0, 7)
    bus = Bus(db, default_registry)
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    a = ids[A]
    totals = by_key(totals_version(db, ids["customer"], OCT))
    assert totals[(a, "voice")] == Decimal("2.6500") and totals[(a, "sms")] == Decimal("0.1000")


def test_bad_rows_are_quarantined_with_line_and_reason_and_good_rows_land(db: Database, tmp_path: Path) -> None:
    make_setup(db)
    path = tmp_path / "mixed.csv"
    lines = [
        b"provider_ref,number,call_date,call_type,destination,duration_s,volume_kb,provider_cost",
        b"g1,+31610000001,2026-10-05T09:00:00+02:00,voice,+31201234567,60,0,0.01",
        b"x1,+31699999999,2026-10-05T09:00:00+02:00,voice,+31201234567,60,0,0.01",
        b"x2,+31610000001,yesterday,voice,+31201234567,60,0,0.01",
        b"x3,+31610000001,2026-10-05T09:00:00+02:00,voice,+31201234567,-5,0,0.01",
        b"x4,+31610000001,2026-10-05T09:00:00+02:00,fax,+31201234567,60,0,0.01",
        b"x5,+31610000001,2026-10-05T09:00:00+02:00,voice",
        b"x6,+31610000001,2026-10-05T09:00:00+02:00,voice,+3120\xff\xfe,60,0,0.01",
        b"g2,+31610000001,2026-10-05T10:00:00+02:00,sms,+31612345678,0,0,0.01",
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    with path.open("rb") as f:
        result = import_cdrs(db, parse_cdr_csv(f), provider="kpn_sp16", source=str(path))
    assert (result.imported, result.quarantined, result.rows_read) == (2, 6, 8)
    with db.reader() as s:
        q = {r.line: r.reason for r in s.scalars(select(QuarantinedRow))}
    assert sorted(q) == [3, 4, 5, 6, 7, 8]
    assert "unknown number +31699999999" in q[3]
    assert "date" in q[4].lower()
    assert "negative" in q[5].lower()
    assert "fax" in q[6]
    assert "column" in q[7].lower()
    assert "utf-8" in q[8].lower() or "encoding" in q[8].lower()


def test_recalculation_keeps_history_and_dry_run_changes_nothing(db: Database, tmp_path: Path) -> None:
    ids = make_setup(db)
    import_rows(db, tmp_path, OCTOBER)
    bus = Bus(db, default_registry)
    dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    a = ids[A]
    with db.transaction() as s:  # the operator fixes the plan: €0.30 per minute beyond the bundle
        s.execute(update(RatePlan).values(price_per_minute=Decimal("0.30")))
    diffs = preview_recalculation(db, ids["customer"], OCT)
    # r2's 2 paid minutes: 2 × 0.30 = 0.60 instead of 0.40 → voice 2.65 + 0.20 = 2.85
    assert [(d.subscription_id, d.call_type, d.old.rated_amount, d.new.rated_amount)  # type: ignore[union-attr]
            for d in diffs] == [(a, "voice", Decimal("2.6500"), Decimal("2.8500"))]
    assert by_key(totals_version(db, ids["customer"], OCT))[(a, "voice")] == Decimal("2.6500")
    with db.reader() as s:
        assert s.execute(select(CdrRating.rated_amount).join(Cdr, Cdr.id == CdrRating.cdr_id)
                         .where(Cdr.provider_ref == "r2")).scalar() == Decimal("0.4000")

    request_recalculation(bus, ids["customer"], OCT, operator="alice")
    run_until_idle(bus)
    assert by_key(totals_version(db, ids["customer"], OCT))[(a, "voice")] == Decimal("2.8500")
    assert history_versions(db, ids["customer"], OCT) == [1, 2]
    assert by_key(totals_version(db, ids["customer"], OCT, version=1))[(a, "voice")] == Decimal("2.6500")
    with db.reader() as s:
        status = s.scalars(select(CustomerStatus)).one()
        archived = s.execute(select(TotalHistory.version)).scalars().all()
    assert (status.totals_version, status.recalc_requested) == (2, False)
    assert sorted(set(archived)) == [1, 2] and len(archived) == 2 * 5  # each version archived once


def test_partner_aggregation(db: Database, tmp_path: Path) -> None:
    first = make_setup(db, code="ACME")
    second = make_setup(db, code="BETA", numbers=("+31620000001",))
    import_rows(db, tmp_path, OCTOBER + [("z1", "+31620000001", "2026-10-09T09:00:00+02:00", "sms", "",
                                          0, 0, "0.0010")])
    bus = Bus(db, default_registry)
    for ids in (first, second):
        dispatch_totals(bus, ids["customer"], OCT)
    run_until_idle(bus)
    with db.reader() as s:
        from core.models import Partner

        partner_id = s.scalars(select(Partner.id)).one()
    result = {r.call_type: r for r in partner_totals(db, partner_id, OCT)}
    # fees: ACME 10.00 + 10.00 (B from 2025) + BETA 10.00 = 30.00; sms: ACME 0.10 + BETA 0 (in bundle)
    assert result["fee"].rated_amount == Decimal("30.0000") and result["fee"].customers == 2
    assert result["sms"].rated_amount == Decimal("0.1000") and result["sms"].count == 4


@pytest.mark.parametrize("spike", [True, False])
def test_usage_spike_against_own_baseline(sqlite_db: Database, tmp_path: Path, spike: bool) -> None:
    db = sqlite_db
    ids = make_setup(db, numbers=(A,))
    rows = []
    for month, minutes in [(5, 20), (6, 22), (7, 18), (8, 21), (9, 19), (10, 200 if spike else 23)]:
        rows.append((f"m{month}", A, f"2026-{month:02d}-10T10:00:00+02:00", "voice", "+31201234567",
                     minutes * 60, 0, "0.01"))
    import_rows(db, tmp_path, rows)
    bus = Bus(db, default_registry)
    for month in range(5, 11):
        dispatch_totals(bus, ids["customer"], date(2026, month, 1))
        run_until_idle(bus)
    with db.reader() as s:
        kinds = [i.kind for i in list_insights(s, ids["customer"], OCT)]
    assert ("spike" in kinds) is spike


def test_a_cycle_is_recalculated_from_its_first_local_day_not_before(db: Database) -> None:
    """Refused in core, so the console, the CLI and the bus alike: a cycle that has not begun in
    the customer's time zone (Amsterdam: 1 November begins at 23:00 UTC on 31 October)."""
    from datetime import UTC, datetime

    from core.models import Customer
    from core.totals import CycleNotBegun
    from core.workflows.totals import request_partner_recalculation

    ids = make_setup(db)
    with db.reader() as s:
        partner = s.get_one(Customer, ids["customer"]).partner_id
    assert partner is not None
    nov = date(2026, 11, 1)
    for now, begun in ((datetime(2026, 10, 31, 22, 59, tzinfo=UTC), False),
                       (datetime(2026, 10, 31, 23, 0, tzinfo=UTC), True)):
        bus = Bus(db, default_registry, clock=lambda now=now: now)
        if begun:
            request_recalculation(bus, ids["customer"], nov, operator="alice")
            request_partner_recalculation(bus, partner, ["2026-10", "2026-11"], operator="alice")
        else:
            with pytest.raises(CycleNotBegun, match="ACME 2026-11 has not begun .today is 2026-10-31."):
                request_recalculation(bus, ids["customer"], nov, operator="alice")
            with pytest.raises(CycleNotBegun):
                request_partner_recalculation(bus, partner, ["2026-10", "2026-11"], operator="alice")
            with pytest.raises(CycleNotBegun):  # its dry run too: it would list fees not yet due as changes
                preview_recalculation(db, ids["customer"], nov, clock=lambda now=now: now)
            with db.reader() as s:  # refused before anything was marked or queued
                assert s.scalars(select(CustomerStatus)).all() == []
                assert s.scalars(select(Message)).all() == []
    with db.reader() as s:
        assert len(s.scalars(select(Message)).all()) == 3


def test_a_ten_month_recalculation_leaves_the_insights_of_cycles_with_usage_unchanged(
        sqlite_db: Database, tmp_path: Path) -> None:
    db = sqlite_db
    ids = make_setup(db, numbers=(A, B, "+31610000003"))
    rows = [(f"{n}{month}", n, f"2026-{month:02d}-10T10:00:00+02:00", "voice", "+31201234567", minutes * 60, 0,
             "0.01") for month in (9, 10) for n, minutes in ((A, 20), (B, 30))]
    import_rows(db, tmp_path, rows)
    bus = Bus(db, default_registry)

    def insights_of(month: int) -> list[tuple[str, str]]:
        with db.reader() as s:
            return sorted((i.kind, i.message) for i in list_insights(s, ids["customer"], date(2026, month, 1)))

    for month in (9, 10):
        dispatch_totals(bus, ids["customer"], date(2026, month, 1))
        run_until_idle(bus)
    before = {month: insights_of(month) for month in (9, 10)}
    assert not any(kind == "spike" for kind, _ in before[9] + before[10])
    for month in range(1, 11):  # the partner recalculation January–October: fee-only totals before September
        dispatch_totals(bus, ids["customer"], date(2026, month, 1))
        run_until_idle(bus)
    assert {month: insights_of(month) for month in (9, 10)} == before


def test_ratings_carry_their_cdrs_usage_and_totals_sum_them_only_when_every_cdr_is_rated(
        db: Database, tmp_path: Path) -> None:
    """Issue 14.1: totals from the rating pass (cdr_rating's usage columns), never from a partial one."""
    from core.totals import compute_totals, get_customer, rate_cycle

    ids = make_setup(db)
    import_rows(db, tmp_path, OCTOBER)
    with db.transaction() as s:
        rate_cycle(s, ids["customer"], OCT)
    with db.reader() as s:
        usage = s.execute(select(Cdr.duration_s, Cdr.volume_kb, Cdr.provider_cost, CdrRating.duration_s,
                                 CdrRating.volume_kb, CdrRating.provider_cost)
                          .join(CdrRating, CdrRating.cdr_id == Cdr.id)).all()
        assert len(usage) == len(OCTOBER) and all(row[:3] == row[3:] for row in usage)
        rated = compute_totals(s, get_customer(s, ids["customer"]), OCT)
    # one more CDR, not rated yet: the totals count it (rated 0), as a sum over `cdr` would
    import_rows(db, tmp_path, [("r8", A, "2026-10-10T09:00:00+02:00", "voice", "+31201234567", 30, 0, "0.0100")],
                name="late.csv")
    with db.reader() as s:
        later = {r.key: r for r in compute_totals(s, get_customer(s, ids["customer"]), OCT)}
    voice = next(r for r in rated if r.call_type == "voice")
    assert (later[voice.key].count, later[voice.key].duration_s) == (voice.count + 1, voice.duration_s + 30)
    assert later[voice.key].rated_amount == voice.rated_amount


def test_a_recalculation_writes_only_the_ratings_that_changed(db: Database, tmp_path: Path) -> None:
    """Issue 14.1: a recalculation that changes nothing writes nothing; a price change rewrites
    only the CDRs it reprices (here the one SMS beyond the 2-SMS bundle: 0.10 -> 0.20)."""
    from core.totals import rate_cycle

    ids = make_setup(db)
    import_rows(db, tmp_path, OCTOBER)
    with db.transaction() as s:
        assert rate_cycle(s, ids["customer"], OCT).written == len(OCTOBER)
    with db.transaction() as s:
        assert rate_cycle(s, ids["customer"], OCT).written == 0
        s.execute(update(RatePlan).where(RatePlan.id == ids["plan"]).values(price_per_sms=Decimal("0.20")))
    with db.transaction() as s:
        assert rate_cycle(s, ids["customer"], OCT).written == 1
    with db.reader() as s:
        per_cdr = dict(s.execute(select(Cdr.provider_ref, CdrRating.rated_amount)
                                 .join(CdrRating, CdrRating.cdr_id == Cdr.id)).all())
    assert per_cdr == {"r1": Decimal("0.0000"), "r2": Decimal("0.4000"), "r3": Decimal("2.2500"),
                       "r4": Decimal("0.0000"), "r5": Decimal("0.0000"), "r6": Decimal("0.2000"),
                       "r7": Decimal("0.5000")}


def test_an_unchanged_recalculation_reads_no_stored_rating_back(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14.1: a pass whose fresh ratings have the digest the last pass recorded, with as many
    ratings stored, neither reads nor writes one; a price change still rewrites what it reprices."""
    from core import raw_store
    from core.totals import rate_cycle, ratings_digest

    ids = make_setup(db)
    import_rows(db, tmp_path, OCTOBER)
    with db.transaction() as s:
        assert rate_cycle(s, ids["customer"], OCT).written == len(OCTOBER)
    reads: list[int] = []
    stored = raw_store.stored_ratings

    def counted(*args):  # type: ignore[no-untyped-def]
        reads.append(1)
        return stored(*args)

    monkeypatch.setattr(raw_store, "stored_ratings", counted)
    with db.transaction() as s:
        assert rate_cycle(s, ids["customer"], OCT).written == 0
    assert reads == []
    with db.reader() as s:
        digest = s.scalar(select(CustomerStatus.ratings_digest).where(CustomerStatus.customer_id == ids["customer"]))
        ratings = [(cdr_id, 0, "", int(amount * 10000), used, zone, 0, 0, 0) for cdr_id, amount, used, zone in s.execute(
            select(CdrRating.cdr_id, CdrRating.rated_amount, CdrRating.bundle_used, CdrRating.zone)
            .order_by(CdrRating.cdr_id))]
    assert digest is not None and digest == ratings_digest(ratings)  # the digest of what is stored
    with db.transaction() as s:
        s.execute(update(RatePlan).where(RatePlan.id == ids["plan"]).values(price_per_sms=Decimal("0.20")))
    with db.transaction() as s:
        assert rate_cycle(s, ids["customer"], OCT).written == 1
    assert reads == [1]


def test_a_stored_rating_gone_is_written_again_whatever_the_digest_says(db: Database, tmp_path: Path) -> None:
    """The digest stands for the stored ratings only with as many stored as rated: a rating
    deleted behind the pass's back (by hand, or by a path that forgot the digest) comes back."""
    from core.totals import rate_cycle

    ids = make_setup(db)
    import_rows(db, tmp_path, OCTOBER)
    with db.transaction() as s:
        rate_cycle(s, ids["customer"], OCT)
    with db.transaction() as s:
        r6 = s.scalar(select(Cdr.id).where(Cdr.provider_ref == "r6"))
        s.execute(delete(CdrRating).where(CdrRating.cdr_id == r6))
    with db.transaction() as s:
        assert rate_cycle(s, ids["customer"], OCT).written == 1
    with db.reader() as s:
        assert s.scalar(select(CdrRating.rated_amount).where(CdrRating.cdr_id == r6)) == Decimal("0.1000")


def test_the_digest_tells_ratings_apart_by_amount_bundle_zone_and_cdr() -> None:
    from core.totals import ratings_digest

    base = [(1, 7, "voice", 1200, 60, None, 60, 0, 100), (2, 7, "data", 500, 0, "EU", 0, 10, 100)]
    variants = [
        [(1, 7, "voice", 1201, 60, None, 60, 0, 100), base[1]],  # an amount
        [(1, 7, "voice", 1200, 59, None, 60, 0, 100), base[1]],  # the bundle used
        [base[0], (2, 7, "data", 500, 0, "ROW", 0, 10, 100)],  # a zone
        [base[0], (2, 7, "data", 500, 0, None, 0, 10, 100)],  # a zone against none
        [base[0], (3, 7, "data", 500, 0, "EU", 0, 10, 100)],  # another CDR
        base[:1],  # one fewer
    ]
    digests = {ratings_digest(v) for v in [base, *variants]}
    assert len(digests) == len(variants) + 1 and None not in digests
    # what the comparison ignores (the usage it carries) the digest ignores too
    assert ratings_digest([(1, 8, "sms", 1200, 60, None, 1, 2, 3), base[1]]) == ratings_digest(base)
    assert ratings_digest([(1, 7, "voice", 2**63, 0, None, 0, 0, 0)]) is None  # beyond 64 bits: compare in full


def test_the_rating_pass_pauses_the_cyclic_collector_and_gives_it_back(
        sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14.1: the collector is off while a cycle's rows are read and rated (their tuples are
    never in a reference cycle), on again after, also when the pass fails, and left off when it was."""
    import gc

    from core import raw_store
    from core.totals import rate_cycle

    ids = make_setup(sqlite_db)
    import_rows(sqlite_db, tmp_path, OCTOBER)
    seen: list[bool] = []
    read = raw_store.cycle_cdrs

    def watched(*args):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        return read(*args)

    monkeypatch.setattr(raw_store, "cycle_cdrs", watched)
    assert gc.isenabled()
    with sqlite_db.transaction() as s:
        rate_cycle(s, ids["customer"], OCT)
    assert seen == [False] and gc.isenabled()

    def failing(*args):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk gone")

    monkeypatch.setattr(raw_store, "cycle_cdrs", failing)
    with pytest.raises(RuntimeError), sqlite_db.transaction() as s:
        rate_cycle(s, ids["customer"], OCT)
    assert gc.isenabled()
    monkeypatch.setattr(raw_store, "cycle_cdrs", watched)
    gc.disable()
    try:
        with sqlite_db.transaction() as s:
            rate_cycle(s, ids["customer"], OCT)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_calculating_a_rated_cycle_reads_its_rate_plan_once(sqlite_db: Database, tmp_path: Path) -> None:
    """Issue 14.1: CalculateTotalsRateplan takes the monthly fees from the price histories the
    rating pass read, not from a second read of the plan and its prices, tariffs, bands and roaming."""
    from sqlalchemy import event

    from core.totals import calculate_totals, rate_cycle

    ids = make_setup(sqlite_db)
    import_rows(sqlite_db, tmp_path, OCTOBER)
    plan_reads: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        words = statement.split()
        if words[0] == "SELECT" and "FROM" in words and words[words.index("FROM") + 1].startswith("rate_plan"):
            plan_reads.append(words[words.index("FROM") + 1])

    event.listen(sqlite_db.engine, "before_cursor_execute", count)
    with sqlite_db.transaction() as s:
        rated = rate_cycle(s, ids["customer"], OCT)
        calculate_totals(s, ids["customer"], OCT, usage=rated.usage, plans=rated.plans)
    assert sorted(plan_reads) == ["rate_plan", "rate_plan_band", "rate_plan_price", "rate_plan_roaming"]
    with sqlite_db.reader() as s:
        fees = s.scalars(select(Total.rated_amount).where(Total.call_type == "fee")).all()
    assert fees == [Decimal("10.0000")] * 2  # two subscriptions, a whole cycle each


def test_totals_summed_in_the_rating_pass_equal_the_tables_sums(db: Database, tmp_path: Path) -> None:
    """Issue 14.1: CalculateTotalsRateplan takes its totals from the rating pass; they must be
    the sums `compute_totals` reads back from the stored ratings, on the integer path (A), the
    Decimal engine (B: a roaming CDR) and a subscription without a plan (C: the provider's price)."""
    from core.totals import compute_totals, get_customer, rate_cycle
    from tests.factories import HEADER

    c = "+31610000003"
    ids = make_setup(db, numbers=(A, B, c))
    with db.transaction() as s:
        s.execute(update(Subscription).where(Subscription.id == ids[c]).values(rate_plan_id=None))
    rows = [(*row, "0", "") for row in OCTOBER] + [
        ("b1", B, "2026-10-05T10:00:00+02:00", "voice", "+31201234567", 700, 0, "0.0500", "0", ""),
        ("b2", B, "2026-10-06T10:00:00+02:00", "data", "", 0, 3000, "0.0700", "1", "DE"),
        ("c1", c, "2026-10-07T10:00:00+02:00", "voice", "+31201234567", 61, 0, "0.0123", "0", ""),
        ("c2", c, "2026-10-07T11:00:00+02:00", "sms", "+31612345678", 0, 0, "0.0456", "0", "")]
    path = write_cdrs(tmp_path / "cdrs.csv", rows, header=(*HEADER, "roaming", "visited_country"))
    with path.open("rb") as f:
        assert import_cdrs(db, parse_cdr_csv(f), provider="kpn_sp16", source=str(path)).imported == len(rows)
    with db.transaction() as s:
        customer = get_customer(s, ids["customer"])
        rated = rate_cycle(s, ids["customer"], OCT)
        from_pass = compute_totals(s, customer, OCT, rated.usage)
        assert from_pass == compute_totals(s, customer, OCT)
    by_sub = {(r.subscription_id, r.call_type): (r.count, r.provider_cost, r.rated_amount) for r in from_pass}
    assert by_sub[(ids[c], "voice")] == (1, Decimal("0.0123"), Decimal("0.0123"))  # the provider's price
    assert by_sub[(ids[c], "sms")] == (1, Decimal("0.0456"), Decimal("0.0456"))
    assert by_sub[(ids[A], "voice")][2] == Decimal("2.6500")  # as in the hand-worked test above
    assert {k for k in by_sub if k[0] == ids[B]} == {(ids[B], "voice"), (ids[B], "data"), (ids[B], "fee")}
