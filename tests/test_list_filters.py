"""The console's list filter in SQL: words ANDed, case-insensitive, wildcards literal, on
SQLite and MariaDB alike."""

from __future__ import annotations

from datetime import date

from core.db import Database
from core.models import Customer, SyncProfile, SyncTask
from core.security.audit import record
from core.views.audit import list_audit
from core.views.tasks import list_tasks


def targets(db: Database, *words: str) -> list[str]:
    return sorted(row.target for row in list_audit(db, words=words, limit=100).rows)


def test_filter_words_are_anded_case_insensitive_and_literal(db: Database) -> None:
    with db.transaction() as s:
        for target in ("ACME 2026-10", "acme 50%_off", "Bakkerij Vodafone", "BAKKERIJ kpn", "a_c"):
            record(s, operator="alice", action="totals.recalculate", target=target)
    assert targets(db, "acme") == ["ACME 2026-10", "acme 50%_off"]
    assert targets(db, "bakkerij", "VODA") == ["Bakkerij Vodafone"]  # both words, any case
    assert targets(db, "50%") == ["acme 50%_off"]  # % and _ are letters here, not wildcards
    assert targets(db, "a_c") == ["a_c"]
    assert targets(db, "alice", "kpn") == ["BAKKERIJ kpn"]  # the operator column counts too
    assert len(targets(db)) == 5  # no words: every row


def test_task_prefixes_take_wildcards_literally(db: Database) -> None:
    """`tasks list --customer A_` means codes starting with "A_", not "A" and any letter."""
    with db.transaction() as s:
        for code in ("A_C", "ABC", "A%Z"):
            customer = Customer(code=code, name=f"Customer {code}")
            s.add(customer)
            s.flush()
            profile = SyncProfile(name=f"p-{code}", customer_id=customer.id, provider="kpn_sp16",
                                  base_url="http://127.0.0.1:1", customer_ref=code)
            s.add(profile)
            s.flush()
            s.add(SyncTask(sync_profile_id=profile.id, customer_id=customer.id,
                           cycle_start_date=date(2026, 10, 1), status="completed"))

    def codes(**prefixes: str) -> list[str]:
        return sorted(task.customer_code for task in list_tasks(db, **prefixes).rows)

    assert codes(customer="A_") == ["A_C"]
    assert codes(customer="A%") == ["A%Z"]
    assert codes(customer="A") == ["A%Z", "ABC", "A_C"]
    assert codes(provider="kpn_") == ["A%Z", "ABC", "A_C"]
    assert codes(provider="kpn%") == []
