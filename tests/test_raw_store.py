"""The rating's raw reads and writes (core/raw_store.py) give the same rows on SQLite and MariaDB.

MariaDB packs a cycle's rows into one text per subscription (pymysql decodes fields slowly);
a value holding one of the separators makes the packed text unusable, and the plain read
must then give the same rows.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pymysql
import pytest
from sqlalchemy import select

from core import raw_store
from core.db import Database
from core.models import Cdr, CdrRating
from tests.factories import make_setup

CYCLE = date(2026, 10, 1)
A, B = "+31610000001", "+31610000002"


def add_cdrs(db: Database, ids: dict[str, int], refs: tuple[str, str, str], destination: str = "+31201234567"
             ) -> list[int]:
    rows = [
        (refs[0], A, datetime(2026, 10, 3, 10, 0, 0, 123456, tzinfo=UTC), "voice", destination, 61, 0,
         Decimal("0.1234"), False, None),
        (refs[1], A, datetime(2026, 10, 4, 23, 59, 59, tzinfo=UTC), "data", "", 0, 2048, Decimal("0"), True, "CH"),
        (refs[2], B, datetime(2026, 10, 5, 8, 30, tzinfo=UTC), "sms", "+442071234567", 0, 0, Decimal("12.5"),
         True, None),
    ]
    with db.transaction() as s:
        cdrs = [Cdr(provider="p", provider_ref=ref, customer_id=ids["customer"], subscription_id=ids[number],
                    number=number, call_date=when, cycle_start_date=CYCLE, call_type=kind, destination=dest,
                    duration_s=seconds, volume_kb=kb, provider_cost=cost, roaming=roaming, visited_country=country)
                for ref, number, when, kind, dest, seconds, kb, cost, roaming, country in rows]
        s.add_all(cdrs)
        s.flush()
        return [c.id for c in cdrs]


def expected(ids: dict[str, int], cdr_ids: list[int], destination: str = "+31201234567"
             ) -> dict[int, list[tuple[Any, ...]]]:
    one, two, three = cdr_ids
    return {
        ids[A]: [(one, ids[A], "2026-10-03 10:00:00.123456", "voice", destination, 61, 0, 1234, None),
                 (two, ids[A], "2026-10-04 23:59:59.000000", "data", "", 0, 2048, 0, "CH")],
        ids[B]: [(three, ids[B], "2026-10-05 08:30:00.000000", "sms", "+442071234567", 0, 0, 125000,
                  "")],  # roaming where the provider did not say
    }


def read(db: Database, read_one: Any) -> Any:
    with db.transaction() as s:
        return read_one(s, ids_of(db)["customer"], CYCLE)


def ids_of(db: Database) -> dict[str, int]:
    from core.models import Customer, Subscription

    with db.reader() as s:
        customer = s.scalars(select(Customer)).one()
        return {"customer": customer.id, **{n: i for i, n in s.execute(select(Subscription.id, Subscription.number))}}


def cycle_rows(db: Database) -> dict[int, list[tuple[Any, ...]]]:
    by_sub = read(db, raw_store.cycle_cdrs)
    return {sub: sorted(rows) for sub, rows in by_sub.items()}


@pytest.mark.parametrize("destination", ["+31201234567", "+3120\x1f1234567"],
                         ids=["plain destination", "a destination holding the separator"])
def test_a_cycle_reads_the_same_rows_on_both_dialects(db: Database, destination: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ids = make_setup(db, numbers=(A, B))
    cdr_ids = add_cdrs(db, ids, ("r1", "r2", "r3"), destination)
    packed: list[bool] = []
    unpack = raw_store._packed

    def spy(*args: Any) -> Any:
        result = unpack(*args)
        packed.append(result is not None)
        return result

    monkeypatch.setattr(raw_store, "_packed", spy)
    assert cycle_rows(db) == expected(ids, cdr_ids, destination)
    if db.is_mysql:  # packed, unless a value holds a separator: then read the plain way
        assert packed == ["\x1f" not in destination]
    else:
        assert packed == []


@pytest.mark.parametrize("refs", [("r1", "r2", "r3"), ("r\x1f1", "r2\x1e", "r3")],
                         ids=["plain refs", "refs holding the separators"])
def test_provider_refs_are_read_by_id(db: Database, refs: tuple[str, str, str]) -> None:
    ids = make_setup(db, numbers=(A, B))
    one, two, three = add_cdrs(db, ids, refs)
    with db.transaction() as s:
        assert raw_store.provider_refs(s, [three, one]) == {one: refs[0], three: refs[2]}
        assert raw_store.provider_refs(s, list(range(one, one + 1200)) + [two]) == dict(
            zip((one, two, three), refs, strict=True))  # more ids than one statement takes (500)
        assert raw_store.provider_refs(s, []) == {}


def test_call_dates_decode_and_give_their_day_the_same_on_both_dialects(db: Database) -> None:
    ids = make_setup(db, numbers=(A, B))
    add_cdrs(db, ids, ("r1", "r2", "r3"))
    with db.transaction() as s:
        decode = raw_store.decoded_call_date(s)
        rows = [r for rows in raw_store.cycle_cdrs(s, ids["customer"], CYCLE).values() for r in rows]
    assert sorted(decode(r[2]) for r in rows) == [datetime(2026, 10, 3, 10, 0, 0, 123456, tzinfo=UTC),
                                                  datetime(2026, 10, 4, 23, 59, 59, tzinfo=UTC),
                                                  datetime(2026, 10, 5, 8, 30, tzinfo=UTC)]
    assert sorted(raw_store.stored_day(r[2]) for r in rows) == [date(2026, 10, 3), date(2026, 10, 4),
                                                                date(2026, 10, 5)]


@pytest.mark.parametrize("zone", ["EU", "z\x1fone"], ids=["plain zone", "a zone holding a separator"])
def test_stored_ratings_read_the_same_on_both_dialects(db: Database, zone: str) -> None:
    ids = make_setup(db, numbers=(A, B))
    one, two, three = add_cdrs(db, ids, ("r1", "r2", "r3"))
    ratings = [(one, ids[A], "voice", 1234, 60, None, 61, 0, 1234), (two, ids[A], "data", 0, 2048, zone, 0, 2048, 0),
               (three, ids[B], "sms", 125000, 0, None, 0, 0, 125000)]
    with db.transaction() as s:
        raw_store.store_ratings(s, ids["customer"], CYCLE, ratings, replace=[])
    assert one < two < three
    assert read(db, raw_store.stored_ratings) == [(one, 1234, 60, None), (two, 0, 2048, zone),
                                                  (three, 125000, 0, None)]  # in cdr_id order
    with db.reader() as s:  # and the ratings went in as money
        assert sorted(s.execute(select(CdrRating.cdr_id, CdrRating.rated_amount))) == [
            (one, Decimal("0.1234")), (two, Decimal("0")), (three, Decimal("12.5"))]


def test_ratings_of_any_sign_and_text_are_written_and_read_back_alike_on_both_dialects(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """MariaDB's INSERT text is built by raw_store itself: negative and sub-unit amounts, texts
    with quotes, backslashes, percent signs and non-ASCII, and statements split at their size."""
    ids = make_setup(db, numbers=(A, B))
    one, two, three = add_cdrs(db, ids, ("r1", "r2", "r3"))
    ratings = [(one, ids[A], "voice", -12345, 0, "o'h\\ara %s", 61, 0, -1),
               (two, ids[A], "da'ta", 9999, 7, "zoné", 0, 2048, 10000),
               (three, ids[B], "sms", -99_999_999_999_999, 0, None, 0, 0, 99_999_999_999_999)]
    monkeypatch.setattr(raw_store, "_STATEMENT_CHARS", 10)  # one row a statement on MariaDB
    with db.transaction() as s:
        raw_store.store_ratings(s, ids["customer"], CYCLE, ratings, replace=[])
    assert read(db, raw_store.stored_ratings) == [(one, -12345, 0, "o'h\\ara %s"), (two, 9999, 7, "zoné"),
                                                  (three, -99_999_999_999_999, 0, None)]
    with db.reader() as s:
        assert sorted(s.execute(select(CdrRating.cdr_id, CdrRating.call_type, CdrRating.rated_amount,
                                       CdrRating.provider_cost))) == [
            (one, "voice", Decimal("-1.2345"), Decimal("-0.0001")),
            (two, "da'ta", Decimal("0.9999"), Decimal("1")),
            (three, "sms", Decimal("-9999999999.9999"), Decimal("9999999999.9999"))]


def test_replaced_ratings_are_replaced_and_a_new_one_meeting_a_stored_one_still_fails(db: Database) -> None:
    ids = make_setup(db, numbers=(A, B))
    one, two, three = add_cdrs(db, ids, ("r1", "r2", "r3"))
    first = [(one, ids[A], "voice", 1200, 60, None, 61, 0, 1234), (two, ids[A], "data", 0, 2048, "EU", 0, 2048, 0)]
    with db.transaction() as s:
        raw_store.store_ratings(s, ids["customer"], CYCLE, first, replace=[])
    with db.transaction() as s:  # one replaced, one new; `two` replaced without a new rating goes
        raw_store.store_ratings(s, ids["customer"], CYCLE,
                                [(one, ids[A], "voice", 2400, 0, "?", 61, 0, 1234),
                                 (three, ids[B], "sms", 800, 0, None, 0, 0, 125000)], replace=[one, two])
    assert read(db, raw_store.stored_ratings) == [(one, 2400, 0, "?"), (three, 800, 0, None)]
    # not said to replace: the key refuses it (the driver's error: raw_store writes on its cursor)
    with pytest.raises((sqlite3.IntegrityError, pymysql.IntegrityError)), db.transaction() as s:
        raw_store.store_ratings(s, ids["customer"], CYCLE, [(three, ids[B], "sms", 900, 0, None, 0, 0, 125000)],
                                replace=[])
    assert read(db, raw_store.stored_ratings) == [(one, 2400, 0, "?"), (three, 800, 0, None)]


def test_a_sqlite_cycle_read_is_one_range_of_a_covering_index(sqlite_db: Database) -> None:
    """Issue 14.1: a cycle's SQLite read touches no table row. Through the narrow (customer, cycle,
    subscription) index it looked up each CDR's row, pages all over `cdr` in arrival order: 38 ms
    for 20,000 CDRs with the pages cached, 60 ms after another connection wrote (21 ms from the
    covering index either way). The read's own statement is traced and its plan asked."""
    ids = make_setup(sqlite_db, numbers=(A, B))
    add_cdrs(sqlite_db, ids, ("r1", "r2", "r3"))
    statements: list[str] = []
    with sqlite_db.transaction() as s:
        driver = s.connection().connection.driver_connection
        driver.set_trace_callback(statements.append)
        try:
            assert sum(map(len, raw_store.cycle_cdrs(s, ids["customer"], CYCLE).values())) == 3
        finally:
            driver.set_trace_callback(None)
        (read,) = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
        plan = " ".join(row[3] for row in driver.execute(f"EXPLAIN QUERY PLAN {read}"))
    assert plan == "SEARCH cdr USING COVERING INDEX ix_cdr_cycle_rows (customer_id=? AND cycle_start_date=?)"


def traced_plans(session: Any, call: Any) -> list[str]:
    """The plan of each SELECT that `call()` runs on the session's SQLite connection."""
    statements: list[str] = []
    driver = session.connection().connection.driver_connection
    driver.set_trace_callback(statements.append)
    try:
        call()
    finally:
        driver.set_trace_callback(None)
    return [" ".join(row[3] for row in driver.execute(f"EXPLAIN QUERY PLAN {sql}"))
            for sql in statements if sql.lstrip().upper().startswith("SELECT")]


def test_the_insights_ask_the_zoned_ratings_index_whether_a_cycle_roamed(sqlite_db: Database) -> None:
    """Issue 14.1: `zone IS NOT NULL` made SQLite scan the cycle's ratings (2 ms at 20,000) for
    an answer that is mostly no; `zone > ''` is a range of the partial index (migration 0022)."""
    from core.insights import _has_roaming

    ids = make_setup(sqlite_db, numbers=(A, B))
    one, _two, three = add_cdrs(sqlite_db, ids, ("r1", "r2", "r3"))
    with sqlite_db.transaction() as s:
        raw_store.store_ratings(s, ids["customer"], CYCLE, [(one, ids[A], "voice", 1200, 60, None, 61, 0, 1234)],
                                replace=[])
        found: list[bool] = []
        plans = traced_plans(s, lambda: found.append(_has_roaming(s, ids["customer"], CYCLE)))
        raw_store.store_ratings(s, ids["customer"], CYCLE, [(three, ids[B], "sms", 800, 0, "EU", 0, 0, 125000)],
                                replace=[])
        found.append(_has_roaming(s, ids["customer"], CYCLE))
    assert found == [False, True]
    assert any("USING INDEX ix_cdr_rating_zoned (customer_id=? AND cycle_start_date=? AND zone>?)" in p
               for p in plans), plans


def test_tied_calls_refs_are_primary_key_look_ups(sqlite_db: Database) -> None:
    """A provider_ref is read for calls of one moment only, by id: naming the customer-cycle too
    made SQLite scan the cycle's index range (3 ms for 4 ids at 20,000 CDRs)."""
    ids = make_setup(sqlite_db, numbers=(A, B))
    one, two, _three = add_cdrs(sqlite_db, ids, ("r1", "r2", "r3"))
    with sqlite_db.transaction() as s:
        plans = traced_plans(s, lambda: raw_store.provider_refs(s, [one, two]))
    assert plans == ["SEARCH cdr USING INTEGER PRIMARY KEY (rowid=?)"]


def test_a_rating_filed_under_another_cycle_than_its_cdrs_is_refused(db: Database) -> None:
    """A rating refers to its CDR in the CDR's own customer-cycle (migration 0019): filed under
    another cycle, it would be summed into that cycle's totals. By `cdr_id` alone it was accepted."""
    ids = make_setup(db, numbers=(A, B))
    one, _two, _three = add_cdrs(db, ids, ("r1", "r2", "r3"))
    with pytest.raises((sqlite3.IntegrityError, pymysql.IntegrityError)), db.transaction() as s:
        raw_store.store_ratings(s, ids["customer"], date(2026, 11, 1),
                                [(one, ids[A], "voice", 1200, 60, None, 61, 0, 1234)], replace=[])
    with db.transaction() as s:  # in its own cycle it is taken
        raw_store.store_ratings(s, ids["customer"], CYCLE, [(one, ids[A], "voice", 1200, 60, None, 61, 0, 1234)],
                                replace=[])
    assert read(db, raw_store.stored_ratings) == [(one, 1200, 60, None)]


def test_deleting_cdrs_looks_their_ratings_up_by_key_and_scans_no_table(sqlite_db: Database) -> None:
    """The import deletes the rows a refused statement left (core/cdr_store.py). Each deleted CDR
    makes SQLite look for a rating still referring to it: by `cdr_id` alone, which no index of
    `cdr_rating` leads with, that was a scan of every rating (1,000 CDRs beside 20,000 ratings:
    0.56 s, growing with the ratings). The plan of the import's own statement says how."""
    with sqlite_db.reader() as s:
        driver = s.connection().connection.driver_connection
        plan = [row[3] for row in driver.execute("EXPLAIN QUERY PLAN DELETE FROM cdr WHERE id > 0")]
    assert not [step for step in plan if step.startswith("SCAN")], plan
    assert "SEARCH cdr_rating USING PRIMARY KEY (customer_id=? AND cycle_start_date=? AND cdr_id=?)" in plan
