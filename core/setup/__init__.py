"""Setup as code: partners, rate plans, customers, subscriptions and sync profiles in TOML.

`apply_setup` makes the database match a setup file (one transaction, upserts by
natural key, a report of what changed); `export_setup` writes the database back in
the same format. The format is documented in docs/formats/setup.md.
"""

from __future__ import annotations

from core.setup.apply import apply_setup
from core.setup.document import SetupError, SetupSpec, parse_setup
from core.setup.export import export_setup
from core.setup.report import ApplyReport, KindCounts

__all__ = ["ApplyReport", "KindCounts", "SetupError", "SetupSpec", "apply_setup",
           "export_setup", "parse_setup"]
