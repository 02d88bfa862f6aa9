"""`apply_setup`: make the database match a setup file, in one transaction.

Rows are matched on natural keys (partner name, rate plan name, tariff prefix and call
type within its plan, customer code, subscription number, sync profile name), without
regard to case so SQLite and MariaDB agree. A plan's tariffs not in the file are
removed; subscriptions and sync profiles not in the file are left alone. References
and everything else are checked before the first write; any error rolls back all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from core.db import Database
from core.models import (
    Customer,
    Partner,
    RatePlan,
    RatePlanBand,
    RatePlanPrice,
    RatePlanRoaming,
    RoamingZone,
    Subscription,
    SyncProfile,
    Tariff,
)
from core.models.base import Base
from core.security import audit, roles
from core.security.secrets import SecretBox, SecretError
from core.setup import schema
from core.setup.document import (
    CustomerSpec,
    Item,
    RatePlanSpec,
    SetupError,
    SetupSpec,
    SyncProfileSpec,
    parse_setup,
)
from core.setup.report import ApplyReport, show

M = TypeVar("M", bound=Base)
_IN_CHUNK = 500
_AUDIT_CHANGES = 200


class _DryRun(Exception):
    """Raised inside the transaction so a dry run rolls back everything it did."""

    def __init__(self, report: ApplyReport) -> None:
        self.report = report


def apply_setup(db: Database, text: str, *, secrets: SecretBox, operator: str,
                dry_run: bool = False) -> ApplyReport:
    """Apply a setup file; the report lists what changed (or would, on a dry run)."""
    setup = parse_setup(text)
    try:
        with db.transaction() as session:
            if not dry_run:
                roles.require(session, operator, roles.Action.SETUP_APPLY, target="setup")
            report = _Applier(session, secrets, ApplyReport(dry_run=dry_run)).apply(setup)
            if dry_run:
                raise _DryRun(report)
            audit.record(session, operator=operator, action=roles.Action.SETUP_APPLY, target="setup",
                         detail=_audit_detail(report))
    except _DryRun as rolled_back:
        return rolled_back.report
    except IntegrityError as exc:
        raise SetupError(f"the database refused the setup: {exc.orig}") from exc
    return report


def _audit_detail(report: ApplyReport) -> str:
    """The counts, then the changes (never credentials: change lines carry no secret)."""
    lines = [report.summary(), *report.changes[:_AUDIT_CHANGES]]
    if len(report.changes) > _AUDIT_CHANGES:
        lines.append(f"… and {len(report.changes) - _AUDIT_CHANGES} more change(s)")
    return "\n".join(lines)


def _fold(name: object) -> str:
    return str(name).casefold()


class _Applier:
    def __init__(self, session: Session, secrets: SecretBox, report: ApplyReport) -> None:
        self.session = session
        self.secrets = secrets
        self.report = report

    def apply(self, setup: SetupSpec) -> ApplyReport:
        partners = self._load(Partner, "name")
        plans = self._load(RatePlan, "name", selectinload(RatePlan.tariffs),
                           selectinload(RatePlan.prices), selectinload(RatePlan.bands),
                           selectinload(RatePlan.roaming))
        zones = self._load(RoamingZone, "name")
        customers = self._load(Customer, "code", selectinload(Customer.partner))
        numbers = [s.text("number") for c in setup.customers for s in c.subscriptions]
        subscriptions = self._subscriptions(numbers)
        profiles = self._load(SyncProfile, "name", selectinload(SyncProfile.customer))
        self._check_references(setup, partners, plans)
        self._check_zones(setup, zones)

        for item in setup.partners:
            partners[_fold(item.text("name"))] = self._upsert(
                "partner", f"partner {item.text('name')}", Partner,
                partners.get(_fold(item.text("name"))), item.values)
        for item in setup.roaming_zones:
            zones[_fold(item.text("name"))] = self._upsert(
                "roaming_zone", f"roaming zone {item.text('name')}", RoamingZone,
                zones.get(_fold(item.text("name"))), item.values)
        for plan_spec in setup.rate_plans:
            key = _fold(plan_spec.text("name"))
            plans[key] = self._rate_plan(plan_spec, plans.get(key))
        for spec in setup.customers:
            self._customer(spec, customers, partners, plans, subscriptions, profiles)
        self.session.flush()
        return self.report

    # -- loading -----------------------------------------------------------------

    def _load(self, model: type[M], key: str, *options: Any) -> dict[str, M]:
        rows = self.session.scalars(select(model).options(*options)).all()
        return {_fold(getattr(row, key)): row for row in rows}

    def _subscriptions(self, numbers: list[str]) -> dict[str, Subscription]:
        found: dict[str, Subscription] = {}
        for start in range(0, len(numbers), _IN_CHUNK):
            chunk = numbers[start:start + _IN_CHUNK]
            query = (select(Subscription).where(Subscription.number.in_(chunk))
                     .options(selectinload(Subscription.customer),
                              selectinload(Subscription.rate_plan)))
            found.update((s.number, s) for s in self.session.scalars(query))
        return found

    @staticmethod
    def _check_references(setup: SetupSpec, partners: dict[str, Partner],
                          plans: dict[str, RatePlan]) -> None:
        partner_names = set(partners) | {_fold(p.text("name")) for p in setup.partners}
        plan_names = set(plans) | {_fold(p.text("name")) for p in setup.rate_plans}
        for customer in setup.customers:
            if customer.partner is not None and _fold(customer.partner) not in partner_names:
                raise SetupError(f"{customer.where}.{schema.PARTNER_REF}: unknown partner "
                                 f"{customer.partner!r} (not in the file or the database)")
            for sub in customer.subscriptions:
                if sub.rate_plan is not None and _fold(sub.rate_plan) not in plan_names:
                    raise SetupError(f"{sub.where}.{schema.RATE_PLAN_REF}: unknown rate plan "
                                     f"{sub.rate_plan!r} (not in the file or the database)")

    @staticmethod
    def _check_zones(setup: SetupSpec, zones: dict[str, RoamingZone]) -> None:
        """Plans price zones that exist; a country stays in one zone with the database's too."""
        names = set(zones) | {_fold(z.text("name")) for z in setup.roaming_zones}
        for plan in setup.rate_plans:
            for price in plan.roaming:
                if _fold(price.text("zone")) not in names:
                    raise SetupError(f"{price.where}.zone: unknown roaming zone "
                                     f"{price.text('zone')!r} (not in the file or the database)")
        in_file = {_fold(z.text("name")): z for z in setup.roaming_zones}
        owner: dict[str, str] = {}
        for key, zone in zones.items():
            if key not in in_file:
                owner.update((code, zone.name) for code in zone.countries.split(",") if code)
        for zone_spec in setup.roaming_zones:
            for code in zone_spec.text(schema.ZONE_COUNTRIES).split(","):
                if code in owner:
                    raise SetupError(f"{zone_spec.where}.{schema.ZONE_COUNTRIES}: {code} is already "
                                     f"in roaming zone {owner[code]!r} in the database")

    # -- writing -----------------------------------------------------------------

    def _upsert(self, kind: str, label: str, model: type[M], row: M | None,
                values: Mapping[str, object], refs: Mapping[str, Base | None] | None = None) -> M:
        """Create `row` or update it to `values` and `refs` (related rows, shown by name)."""
        refs = refs or {}
        if row is None:
            row = model(**values, **refs)
            self.session.add(row)
            self.report.created(kind, label)
            return row
        self.report.compared(kind, label, self._assign(row, values, refs))
        return row

    @staticmethod
    def _assign(row: Base, values: Mapping[str, object],
                refs: Mapping[str, Base | None]) -> list[str]:
        changes: list[str] = []
        for attr, value in values.items():
            current = getattr(row, attr)
            if current != value:
                changes.append(f"{attr} {show(current)} → {show(value)}")
                setattr(row, attr, value)
        for attr, obj in refs.items():
            current = getattr(row, attr)
            if current is not obj:
                changes.append(f"{attr} {show(_name(current))} → {show(_name(obj))}")
                setattr(row, attr, obj)
        return changes

    def _rate_plan(self, spec: RatePlanSpec, plan: RatePlan | None) -> RatePlan:
        name = spec.text("name")
        plan = self._upsert("rate_plan", f"rate plan {name}", RatePlan, plan, spec.values)
        self._plan_rows(name, "tariff", plan.tariffs, spec.tariffs, Tariff,
                        ("prefix", "call_type", "valid_from"),
                        lambda *key: f"tariff {_tariff_label(*key)}")
        self._plan_rows(name, "price", plan.prices, spec.prices, RatePlanPrice, ("valid_from",),
                        "prices from {}".format)
        self._plan_rows(name, "band", plan.bands, spec.bands, RatePlanBand, ("name",),
                        "band {}".format, fold=True)
        self._plan_rows(name, "roaming", plan.roaming, spec.roaming, RatePlanRoaming, ("zone",),
                        "roaming {}".format, fold=True)
        return plan

    def _plan_rows(self, plan_name: str, kind: str, rows: list[Any], specs: Sequence[Item],
                   model: type[Base], fields: tuple[str, ...], describe: Callable[..., str], *,
                   fold: bool = False) -> None:
        """A rate plan's tariffs, dated prices, bands or roaming prices, matched to the file's on
        `fields` (`fold`: ignoring case): new ones are created, matched ones updated, and the
        ones not in the file removed."""
        def key(values: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(map(_fold, values)) if fold else values

        existing = {key(tuple(getattr(row, f) for f in fields)): row for row in rows}
        for item in specs:
            matched = tuple(item.values[f] for f in fields)
            label = f"rate plan {plan_name}: {describe(*matched)}"
            row = existing.pop(key(matched), None)
            if row is None:
                rows.append(model(**item.values))
                self.report.created(kind, label)
            else:
                self.report.compared(kind, label, self._assign(row, item.values, {}))
        stale = [(describe(*(getattr(row, f) for f in fields)), row) for row in existing.values()]
        for described, row in sorted(stale, key=lambda pair: _fold(pair[0])):
            rows.remove(row)
            self.report.removed(kind, f"rate plan {plan_name}: {described}")

    def _customer(self, spec: CustomerSpec, customers: dict[str, Customer],
                  partners: dict[str, Partner], plans: dict[str, RatePlan],
                  subscriptions: dict[str, Subscription],
                  profiles: dict[str, SyncProfile]) -> None:
        code = spec.text("code")
        partner = partners[_fold(spec.partner)] if spec.partner is not None else None
        customer = self._upsert("customer", f"customer {code}", Customer,
                                customers.get(_fold(code)), spec.values,
                                {"partner": partner})
        customers[_fold(code)] = customer
        for sub in spec.subscriptions:
            number = sub.text("number")
            plan = plans[_fold(sub.rate_plan)] if sub.rate_plan is not None else None
            subscriptions[number] = self._upsert(
                "subscription", f"subscription {number}", Subscription, subscriptions.get(number),
                sub.values, {"customer": customer, "rate_plan": plan})
        for profile_spec in spec.sync_profiles:
            key = _fold(profile_spec.text("name"))
            profiles[key] = self._sync_profile(profile_spec, profiles.get(key), customer)

    def _sync_profile(self, spec: SyncProfileSpec, profile: SyncProfile | None,
                      customer: Customer) -> SyncProfile:
        label = f"sync profile {spec.text('name')}"
        refs = {"customer": customer}
        if profile is None:
            profile = self._upsert("sync_profile", label, SyncProfile, None, spec.values, refs)
            if spec.credentials is not None:
                profile.credentials_encrypted = self.secrets.encrypt(spec.credentials)
            return profile
        changes = self._assign(profile, spec.values, refs)
        if spec.credentials is not None and not self._same_credentials(profile, spec.credentials):
            profile.credentials_encrypted = self.secrets.encrypt(spec.credentials)
            changes.append("credentials replaced")
        self.report.compared("sync_profile", label, changes)
        return profile

    def _same_credentials(self, profile: SyncProfile, credentials: dict[str, str]) -> bool:
        """Compared decrypted: a fresh encryption of the same values is no change."""
        if profile.credentials_encrypted is None:
            return False
        try:
            return self.secrets.decrypt(profile.credentials_encrypted) == credentials
        except SecretError:  # stored under another key: the file's credentials replace them
            return False


def _tariff_label(prefix: str, call_type: str, valid_from: date | None) -> str:
    return f"{prefix} {call_type}" + (f" from {valid_from}" if valid_from else "")


def _name(row: object) -> str | None:
    for attr in ("code", "name"):  # a customer is known by its code
        if isinstance(value := getattr(row, attr, None), str):
            return value
    return None
