"""Margin per roaming zone (issue 17.6): rated amount against provider cost, per zone
per customer-cycle. SQLite and MariaDB; every figure worked out by hand in a comment."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from core.db import Database
from core.insights import list_insights
from core.security.secrets import SecretBox
from core.setup import apply_setup
from tests.test_roaming_setup import MB, NOV, SETUP, box, import_and_total  # noqa: F401  (fixture)


def test_margin_per_roaming_zone(db: Database, box: SecretBox, tmp_path: Path) -> None:  # noqa: F811
    apply_setup(db, SETUP, secrets=box, operator="alice")
    customer_id = import_and_total(db, tmp_path, [
        # EU/EEA: 100 MB in Germany from the bundle: rated 0, the provider charges 0.10.
        ("eu", "2026-11-03T10:00:00+01:00", "data", "", 0, 100 * MB, "0.10", "1", "DE"),
        # world1 (0.80/min out, 0.20/min in, 60/60, 0.50/MB):
        #   200 MB in the US = 100.00 (cost 2.00); 90 s out in the US = 2 min × 0.80 = 1.60
        #   (cost 0.90); 61 s in, in Switzerland = 2 min × 0.20 = 0.40 (cost 0.10).
        ("us-data", "2026-11-04T10:00:00+01:00", "data", "", 0, 200 * MB, "2.00", "1", "US"),
        ("us-out", "2026-11-04T11:00:00+01:00", "voice", "+31201234567", 90, 0, "0.90", "1", "US"),
        ("ch-in", "2026-11-05T11:00:00+01:00", "voice_in", "+31201234567", 61, 0, "0.10", "1", "CH"),
        # world2 (1.00/MB): 10 MB in Japan = 10.00 against a cost of 12.50: a loss.
        ("jp", "2026-11-06T10:00:00+01:00", "data", "", 0, 10 * MB, "12.50", "1", "JP"),
        # no country: the most expensive data zone, world2: 1 MB = 1.00 (cost 0.01).
        ("lost", "2026-11-07T10:00:00+01:00", "data", "", 0, MB, "0.01", "1", ""),
        # at home: no roaming zone, not in any roaming margin.
        ("home", "2026-11-08T10:00:00+01:00", "data", "", 0, 10 * MB, "5.00", "0", ""),
    ])
    with db.reader() as s:
        margins = [(i.severity, i.message, i.score) for i in list_insights(s, customer_id, NOV)
                   if i.kind == "roaming_margin"]
    # unknown: 1.00 - 0.01 = 0.99, 99.0 %.  EU/EEA: 0 - 0.10 = -0.10, nothing rated: -100 %.
    # world1: 100.00 + 1.60 + 0.40 = 102.00 against 2.00 + 0.90 + 0.10 = 3.00: 99.00,
    # 99 / 102 = 97.06 %.  world2: 10.00 - 12.50 = -2.50, -25.0 %.
    assert margins == [  # warnings first, then by zone
        ("warn", "roaming EU/EEA: rated € 0.00 against provider cost € 0.10: margin € -0.10 (-100.0%)",
         Decimal("-100.0000")),
        ("warn", "roaming world2: rated € 10.00 against provider cost € 12.50: margin € -2.50 (-25.0%)",
         Decimal("-25.0000")),
        ("info", "roaming unknown zone: rated € 1.00 against provider cost € 0.01: margin € 0.99 (99.0%)",
         Decimal("99.0000")),
        ("info", "roaming world1: rated € 102.00 against provider cost € 3.00: margin € 99.00 (97.1%)",
         Decimal("97.0588")),
    ]
