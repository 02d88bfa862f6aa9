"""The console's list filter in SQL: words ANDed, case-insensitive, wildcards literal, on
SQLite and MariaDB alike."""

from __future__ import annotations

from core.db import Database
from core.security.audit import record
from core.views.audit import list_audit


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
