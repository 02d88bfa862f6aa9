"""State-changing actions on sync profiles, each role-checked in core and written to the audit log.

Credentials are merged field by field and stored encrypted; the audit log names the
fields that changed, never their values.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from sqlalchemy.orm import Session

from core.db import Database
from core.models import SyncProfile
from core.security import audit, roles
from core.security.roles import NotAllowed  # noqa: F401  (the console catches it from here)
from core.security.secrets import SecretBox

# Role actions (DESIGN.md "Operators and security"): viewer reads, operator runs, admin configures.
SYNC_START: Final = roles.Action.SYNC_START
PROFILE_ACTIVATE: Final = roles.Action.PROFILE_ACTIVATE
PROFILE_DEACTIVATE: Final = roles.Action.PROFILE_DEACTIVATE
PROFILE_SCHEDULE: Final = roles.Action.PROFILE_SCHEDULE
PROFILE_CREDENTIALS: Final = roles.Action.PROFILE_CREDENTIALS
TOTALS_RECALCULATE: Final = roles.Action.TOTALS_RECALCULATE
TOTALS_PARTNER_RECALCULATE: Final = roles.Action.TOTALS_PARTNER_RECALCULATE

MIN_INTERVAL, MAX_INTERVAL = 5, 60 * 24 * 92


class ProfileError(ValueError):
    """The change cannot be made (unknown profile, a value out of range); safe to show."""


def can(role_action: str, role: str | None) -> bool:
    """Whether a role may perform `role_action`: the console's early answer, before asking.

    `None` (role not read yet) passes; core checks again (`roles.require`) in every action.
    """
    return role is None or roles.allows(role, role_action)


def _profile(session: Session, profile_id: int) -> SyncProfile:
    profile = session.get(SyncProfile, profile_id, with_for_update=True)
    if profile is None:
        raise ProfileError(f"no sync profile with id {profile_id}")
    return profile


def set_active(db: Database, profile_id: int, active: bool, *, operator: str) -> bool:
    """Activate or deactivate a profile; returns whether anything changed."""
    with db.transaction() as session:
        profile = _profile(session, profile_id)
        action = PROFILE_ACTIVATE if active else PROFILE_DEACTIVATE
        roles.require(session, operator, action, target=profile.name)
        changed = profile.active != active
        profile.active = active
        audit.record(session, operator=operator, action=action, target=profile.name, detail=None if changed else "no change")
    return changed


def update_schedule(db: Database, profile_id: int, interval_minutes: int, next_sync_date: datetime | None,
                    *, operator: str) -> None:
    """Set how often the profile syncs and when next (None: at the next sync-manager tick)."""
    if not MIN_INTERVAL <= interval_minutes <= MAX_INTERVAL:
        raise ProfileError(f"the interval must be {MIN_INTERVAL}..{MAX_INTERVAL} minutes, "
                           f"not {interval_minutes}")
    if next_sync_date is not None and next_sync_date.tzinfo is None:
        raise ProfileError("the next sync date needs a time zone")
    with db.transaction() as session:
        profile = _profile(session, profile_id)
        roles.require(session, operator, PROFILE_SCHEDULE, target=profile.name)
        before = (profile.interval_minutes, profile.next_sync_date)
        profile.interval_minutes = interval_minutes
        profile.next_sync_date = next_sync_date
        nxt = next_sync_date.isoformat(timespec="minutes") if next_sync_date else "next tick"
        audit.record(session, operator=operator, action=PROFILE_SCHEDULE, target=profile.name,
                     detail=f"every {interval_minutes} min, next {nxt} "
                            f"(was every {before[0]} min)")


def update_credentials(db: Database, profile_id: int, credentials: dict[str, str], *,
                       secrets: SecretBox, operator: str) -> list[str]:
    """Replace credential fields; an empty value keeps the field's current value.

    Returns the names of the fields that changed. Values are never logged or returned.
    """
    if any(not name.strip() for name in credentials):
        raise ProfileError("a credential field needs a name")
    with db.transaction() as session:
        profile = _profile(session, profile_id)
        roles.require(session, operator, PROFILE_CREDENTIALS, target=profile.name)
        current = (secrets.decrypt(profile.credentials_encrypted)
                   if profile.credentials_encrypted is not None else {})
        merged = dict(current)
        merged.update({name.strip(): value for name, value in credentials.items() if value != ""})
        changed = sorted(name for name in merged if current.get(name) != merged[name])
        if changed:
            profile.credentials_encrypted = secrets.encrypt(merged)
        audit.record(session, operator=operator, action=PROFILE_CREDENTIALS, target=profile.name,
                     detail=f"changed: {', '.join(changed)}" if changed else "no change")
    return changed
