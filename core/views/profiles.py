"""Sync profiles for the console: a searchable page, and one profile's detail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ScalarSelect, or_, select

from core.db import Database
from core.models import Customer, SyncProfile, SyncTask
from core.security.secrets import MASK, SecretBox, SecretError
from core.views.paging import PAGE_SIZE, AnySelect, Page, each_word_in, fetch_page, like_pattern


@dataclass(frozen=True)
class ProfileRow:
    id: int
    name: str
    customer_code: str
    customer_name: str
    provider: str
    active: bool
    interval_minutes: int
    next_sync_date: datetime | None
    last_status: str | None
    last_reason: str | None


@dataclass(frozen=True)
class RecentTask:
    id: int
    cycle_start_date: date
    status: str
    reason: str | None
    trigger: str
    created_at: datetime


@dataclass(frozen=True)
class ProfileDetail:
    row: ProfileRow
    base_url: str
    customer_ref: str
    credentials: dict[str, str]  # masked: field name → "****"
    credentials_note: str
    recent: list[RecentTask]


def _last_task_column(column: Any) -> ScalarSelect[Any]:
    return (select(column).where(SyncTask.sync_profile_id == SyncProfile.id)
            .order_by(SyncTask.id.desc()).limit(1).scalar_subquery())


def _row_query() -> AnySelect:
    return (select(SyncProfile.id, SyncProfile.name, Customer.code, Customer.name, SyncProfile.provider,
                   SyncProfile.active, SyncProfile.interval_minutes, SyncProfile.next_sync_date,
                   _last_task_column(SyncTask.status), _last_task_column(SyncTask.reason))
            .join(Customer, Customer.id == SyncProfile.customer_id))


def list_profiles(db: Database, *, search: str = "", words: Sequence[str] = (), offset: int = 0,
                  limit: int = PAGE_SIZE) -> Page[ProfileRow]:
    """Profiles ordered by customer code, then provider; `search` matches code, name or provider,
    and so must each of `words` (the console's filter)."""
    query = _row_query().where(each_word_in(words, Customer.code, Customer.name, SyncProfile.name,
                                            SyncProfile.provider))
    if search.strip():
        pattern = like_pattern(search.strip())
        query = query.where(or_(Customer.code.like(pattern, escape="\\"),
                                Customer.name.like(pattern, escape="\\"),
                                SyncProfile.name.like(pattern, escape="\\"),
                                SyncProfile.provider.like(pattern, escape="\\")))
    query = query.order_by(Customer.code, SyncProfile.provider, SyncProfile.id)
    with db.reader() as session:
        total, rows = fetch_page(session, query, offset, limit)
    return Page([ProfileRow(*r) for r in rows], max(0, offset), limit, total)


def profile_detail(db: Database, profile_id: int, secrets: SecretBox | None) -> ProfileDetail | None:
    """One profile with its credential fields masked and its five most recent sync tasks."""
    with db.reader() as session:
        r = session.execute(_row_query().where(SyncProfile.id == profile_id)).first()
        if r is None:
            return None
        profile = session.get_one(SyncProfile, profile_id)
        recent = session.execute(
            select(SyncTask.id, SyncTask.cycle_start_date, SyncTask.status, SyncTask.reason,
                   SyncTask.trigger, SyncTask.created_at)
            .where(SyncTask.sync_profile_id == profile_id).order_by(SyncTask.id.desc()).limit(5)).all()
        base_url, ref, token = profile.base_url, profile.customer_ref, profile.credentials_encrypted
    masked, note = masked_credentials(token, secrets)
    return ProfileDetail(ProfileRow(*r), base_url, ref, masked, note, [RecentTask(*t) for t in recent])


def masked_credentials(token: bytes | None, secrets: SecretBox | None) -> tuple[dict[str, str], str]:
    """The credential field names with hidden values, and a note on their state."""
    if token is None:
        return {}, "no credentials stored"
    if secrets is None:
        return {}, "credentials stored (no key available to list their fields)"
    try:
        fields = secrets.decrypt(token)
    except SecretError as exc:
        return {}, str(exc)
    return dict.fromkeys(sorted(fields), MASK), f"{len(fields)} field(s), encrypted at rest"
