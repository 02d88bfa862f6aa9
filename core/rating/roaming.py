"""Roaming zones and their prices (issue 17.3).

- The EU/EEA zone is built in (``EU_EEA``): roam like at home. Calls, SMS and data
  there are rated as at home, from the bundle; data beyond the plan's EU fair-use volume
  in a cycle costs the plan's ``eu_surcharge_per_mb`` on top. Incoming calls are free.
- Other zones are named in the setup file (``[[roaming_zone]]``) and priced per plan
  (``RoamingPrice``): outgoing and incoming calls per minute (with the zone's increment
  scheme), SMS per message and data per MB, all outside the bundle.
- A roaming CDR whose country is missing, unknown, or in a zone the plan does not price,
  is rated at the plan's most expensive zone for its kind of usage and flagged
  (``RatedCdr.zone == UNKNOWN_ZONE``), never silently as domestic; a plan without any
  roaming zone rates it as at home, still flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["EU_EEA", "EU_ZONE", "UNKNOWN_ZONE", "RoamingPrice"]

EU_ZONE = "EU"
UNKNOWN_ZONE = "?"
# The 27 EU member states and the EEA's Iceland, Liechtenstein and Norway (ISO 3166 alpha-2).
EU_EEA: frozenset[str] = frozenset({
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
})


@dataclass(frozen=True, slots=True)
class RoamingPrice:
    """A plan's prices in one roaming zone (outside the bundle)."""

    zone: str
    countries: frozenset[str]
    voice_out_per_min: Decimal = Decimal("0")
    voice_in_per_min: Decimal = Decimal("0")
    sms_per_message: Decimal = Decimal("0")
    data_per_mb: Decimal = Decimal("0")
    voice_first_s: int = 60  # the zone's increment scheme a/b
    voice_increment_s: int = 60

    def __post_init__(self) -> None:
        if self.zone in (EU_ZONE, UNKNOWN_ZONE) or not self.zone.strip():
            raise ValueError(f"roaming zone name {self.zone!r} is reserved or empty")
        if self.countries & EU_EEA:
            raise ValueError(f"roaming zone {self.zone}: {', '.join(sorted(self.countries & EU_EEA))} "
                             "are in the built-in EU/EEA zone")
        for what in ("voice_out_per_min", "voice_in_per_min", "sms_per_message", "data_per_mb"):
            value = getattr(self, what)
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"roaming zone {self.zone}: {what} must be a non-negative amount")
        if self.voice_first_s < 1 or self.voice_increment_s < 1:
            raise ValueError(f"roaming zone {self.zone}: the increment must be at least 1/1")
