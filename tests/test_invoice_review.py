"""Validation before issue: each rule holds an invoice for review; release numbers it, no gap."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.billing import invoices as inv
from core.db import Database
from core.models import AuditLog, Invoice, Operator, SyncProfile
from core.security.roles import NotAllowed
from tests.test_invoices import add_customer, billing_settings, put_totals

D = Decimal
SEP, OCT = date(2026, 9, 1), date(2026, 10, 1)
ISSUE = date(2026, 11, 15)


def customer_with(db: Database, code: str, rows: list[tuple[str, int, int, int, str, str]],
                  cycle: date = OCT) -> dict[str, int]:
    """A customer with one subscription and totals rows (call type, count, s, KB, rated, cost)."""
    number = f"+3161{abs(hash(code)) % 10**7:07d}"
    ids = add_customer(db, code, subscriptions=(number,))
    ids["sub"] = ids[number]
    add_totals(db, ids, cycle, rows)
    return ids


def add_totals(db: Database, ids: dict[str, int], cycle: date,
               rows: list[tuple[str, int, int, int, str, str]]) -> None:
    put_totals(db, ids["customer"], cycle, [(ids["sub"], ct, n, sec, kb, rated) for ct, n, sec, kb, rated, _c in rows])
    costs = {ct: D(cost) for ct, *_rest, cost in rows}
    from core.models import Total

    with db.transaction() as s:
        for total in s.scalars(select(Total).where(Total.customer_id == ids["customer"],
                                                   Total.cycle_start_date == cycle)):
            total.provider_cost = costs[total.call_type]


def issue(db: Database, customer_id: int, cycle: date, tmp_path: Path) -> inv.IssueOutcome:
    with db.transaction() as s:
        return inv.issue_in(s, customer_id, cycle, issue_date=ISSUE, settings=billing_settings(tmp_path))


def test_a_total_far_above_the_previous_invoice_is_held(db: Database, tmp_path: Path) -> None:
    ids = customer_with(db, "JUMP", [("fee", 1, 0, 0, "100.0000", "0")], SEP)
    assert issue(db, ids["customer"], SEP, tmp_path).number == "2026-00001"  # 100 + 21 = 121.00
    add_totals(db, ids, OCT, [("fee", 1, 0, 0, "100.0000", "0"), ("voice", 9, 600, 0, "82.0000", "10")])
    outcome = issue(db, ids["customer"], OCT, tmp_path)
    # 182.00 + 21 % 38.22 = 220.22; (220.22 - 121.00) / 121.00 = 82.0 % above, limit 50 %
    assert (outcome.outcome, outcome.number) == ("review", None)
    assert outcome.reason == ("total € 220.22 is 82 % above the previous invoice 2026-00001 (€ 121.00); "
                              "limit 50 %")


def test_a_total_within_the_limit_is_issued(db: Database, tmp_path: Path) -> None:
    ids = customer_with(db, "STEADY", [("fee", 1, 0, 0, "100.0000", "0")], SEP)
    issue(db, ids["customer"], SEP, tmp_path)
    add_totals(db, ids, OCT, [("fee", 1, 0, 0, "100.0000", "0"), ("voice", 9, 600, 0, "50.0000", "10")])
    # 150.00 + 31.50 = 181.50: 50.0 % above 121.00 is not more than 50 %
    assert issue(db, ids["customer"], OCT, tmp_path).number == "2026-00002"


def test_a_negative_total_is_held(db: Database, tmp_path: Path) -> None:
    ids = customer_with(db, "MINUS", [("fee", 1, 0, 0, "-10.0000", "0")])
    outcome = issue(db, ids["customer"], OCT, tmp_path)
    # -10.00 + 21 % -2.10 = -12.10
    assert (outcome.outcome, outcome.reason) == ("review", "negative total € -12.10")


def test_rated_usage_below_provider_cost_is_held(db: Database, tmp_path: Path) -> None:
    ids = customer_with(db, "LOSS", [("fee", 1, 0, 0, "10.0000", "0"), ("voice", 3, 180, 0, "1.5000", "2.2500")])
    outcome = issue(db, ids["customer"], OCT, tmp_path)
    assert (outcome.outcome, outcome.reason) == ("review", "rated usage € 1.5000 below provider cost € 2.2500")


def test_a_synced_subscription_without_any_usage_is_held(db: Database, tmp_path: Path) -> None:
    ids = customer_with(db, "QUIET", [("fee", 1, 0, 0, "12.5000", "0")])
    with db.transaction() as s:
        s.add(SyncProfile(name="quiet-routit", customer_id=ids["customer"], provider="routit",
                          base_url="http://127.0.0.1:1", customer_ref="Q1"))
        number = s.scalars(select(Invoice.id)).first()  # none yet
    assert number is None
    outcome = issue(db, ids["customer"], OCT, tmp_path)
    assert outcome.outcome == "review" and outcome.reason is not None
    assert outcome.reason.startswith("no usage at all on +3161")


def test_release_issues_the_next_number_without_a_gap_and_drop_numbers_nothing(
        db: Database, tmp_path: Path) -> None:
    settings = billing_settings(tmp_path)
    first = customer_with(db, "AAA", [("fee", 1, 0, 0, "10.0000", "0")])
    held = customer_with(db, "BBB", [("fee", 1, 0, 0, "-5.0000", "0")])
    dropped = customer_with(db, "CCC", [("fee", 1, 0, 0, "-1.0000", "0")])
    last = customer_with(db, "DDD", [("fee", 1, 0, 0, "10.0000", "0")])
    with db.transaction() as s:
        s.add(Operator(username="alice", role="operator"))
        s.add(Operator(username="vera", role="viewer"))
    assert issue(db, first["customer"], OCT, tmp_path).number == "2026-00001"
    held_id = issue(db, held["customer"], OCT, tmp_path).invoice_id
    dropped_id = issue(db, dropped["customer"], OCT, tmp_path).invoice_id
    assert issue(db, last["customer"], OCT, tmp_path).number == "2026-00002"
    assert held_id is not None and dropped_id is not None
    assert [h.customer_code for h in inv.held_for_review(db)] == ["BBB", "CCC"]
    with pytest.raises(NotAllowed):
        inv.release_invoice(db, held_id, operator="vera", issue_date=ISSUE, settings=settings)
    inv.drop_invoice(db, dropped_id, operator="alice", reason="duplicate customer")
    assert inv.release_invoice(db, held_id, operator="alice", issue_date=ISSUE, settings=settings) == "2026-00003"
    assert inv.held_for_review(db) == []
    # a run leaves both alone now: the released one stands, the dropped one is not re-made
    assert issue(db, dropped["customer"], OCT, tmp_path).outcome == "dropped"
    with db.reader() as s:
        audits = [(a.action, a.operator, a.result, a.detail) for a in s.scalars(
            select(AuditLog).where(AuditLog.action.in_(("invoice.release", "invoice.drop")))
            .order_by(AuditLog.id))]
    assert audits == [("invoice.release", "vera", "denied", audits[0][3]),
                      ("invoice.drop", "alice", "ok", "duplicate customer"),
                      ("invoice.release", "alice", "ok", "negative total € -6.05")]
