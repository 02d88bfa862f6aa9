"""Resolving what operators type (customer codes, partner names, "YYYY-MM") to rows."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Customer, Partner
from core.month import Month
from core.rating.cycles import cycle_for_label


class NotFound(LookupError):
    """Nothing matches what the operator typed; the message says what was looked for."""


def customer_by_code(session: Session, code: str) -> Customer:
    """By exact code, else by code in any case (codes are unique either way), else by id."""
    customer = session.scalars(select(Customer).where(Customer.code == code)).first()
    if customer is None:
        found = session.scalars(select(Customer).where(func.lower(Customer.code) == code.lower())).all()
        customer = found[0] if len(found) == 1 else None
    if customer is None and code.isdigit():
        customer = session.get(Customer, int(code))
    if customer is None:
        raise NotFound(f"no customer with code {code!r}")
    return customer


def customer_names(session: Session) -> dict[str, str]:
    """Every customer's code and name, by code (for completing a typed code)."""
    return {code: name for code, name in session.execute(select(Customer.code, Customer.name).order_by(Customer.code))}


def partner_by_name(session: Session, name: str) -> Partner:
    partner = session.scalars(select(Partner).where(Partner.name == name)).first()
    if partner is None and name.isdigit():
        partner = session.get(Partner, int(name))
    if partner is None:
        raise NotFound(f"no partner named {name!r}")
    return partner


def partner_customers(session: Session, partner_id: int) -> list[Customer]:
    return list(session.scalars(select(Customer).where(Customer.partner_id == partner_id,
                                                       Customer.active.is_(True))
                                .order_by(Customer.code)))


def cycle_start(customer: Customer, label: str | Month) -> date:
    """The start date of the customer's cycle labelled YYYY-MM."""
    try:
        return cycle_for_label(label, customer.billing_day).start
    except ValueError as exc:
        raise NotFound(f"{label!r} is not a cycle (use YYYY-MM): {exc}") from exc
