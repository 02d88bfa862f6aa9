"""Invoice lines and amounts: pure Decimal arithmetic, no database.

Per-CDR and per-total amounts keep 4 decimals; an invoice line is rounded to
cents half-up once, VAT is computed on the subtotal of the rounded lines and
rounded half-up once. Nothing here ever touches a float.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from core.billing.i18n import t

CENT = Decimal("0.01")
PLACES_4 = Decimal("0.0001")
ZERO = Decimal("0")

#: Call types in the order their usage lines appear on an invoice.
CALL_TYPES: tuple[str, ...] = ("voice", "sms", "data")

#: Member states of the EU by ISO 3166 code; Greece also by its VAT prefix "EL".
EU_COUNTRIES: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "GR", "HR",
        "HU", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip


def round_cents(amount: Decimal) -> Decimal:
    """Round to cents, half-up (away from zero on a tie: 0.005 -> 0.01, -0.005 -> -0.01)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class InvoiceLine:
    """One printed line. `amount` is authoritative and in cents.

    For fee and add-on lines `quantity * unit_price == amount` (before rounding);
    for usage lines `unit_price` is the average price per unit (4 dp), shown
    for information only.
    """

    description: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class UsageTotal:
    """Rated usage of one subscription and call type in a cycle (rated_amount has 4 dp)."""

    subscription_number: str
    call_type: str
    count: int
    duration_s: int
    volume_kb: int
    rated_amount: Decimal


@dataclass(frozen=True)
class FeeTotal:
    """The monthly fee of one subscription on its rate plan (4 dp)."""

    subscription_number: str
    plan_name: str
    monthly_fee: Decimal


@dataclass(frozen=True)
class AddonCharge:
    subscription_number: str
    addon_name: str
    amount: Decimal


@dataclass(frozen=True)
class VatRule:
    """VAT percentage to charge, or reverse charge (then no VAT is charged)."""

    rate: Decimal = Decimal("21")
    reverse_charge: bool = False


@dataclass(frozen=True)
class InvoiceAmounts:
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    vat_rate: Decimal
    vat: Decimal
    total: Decimal
    reverse_charge: bool


def build_invoice_lines(
    fees: Iterable[FeeTotal],
    usage: Iterable[UsageTotal],
    addons: Iterable[AddonCharge],
    *,
    language: str,
) -> list[InvoiceLine]:
    """Group a cycle's fees, usage beyond bundles and add-ons into invoice lines.

    Order: fees per plan (by plan name), usage per call type (voice, sms, data,
    then any other type alphabetically), add-ons (by name). Each line's amount
    is the sum of its 4-dp inputs rounded once to cents; lines that round to
    zero are left out. A usage line's quantity (minutes, messages, MB) is the
    usage of the subscriptions that have a rated amount for that call type.
    """
    lines = [
        *_fee_lines(fees, language),
        *_usage_lines(usage, language),
        *_addon_lines(addons, language),
    ]
    return [line for line in lines if line.amount != ZERO]


def _fee_lines(fees: Iterable[FeeTotal], language: str) -> list[InvoiceLine]:
    return _counted_lines(((f.plan_name, f.monthly_fee) for f in fees),
                          t("line_subscription", language), "plan", language)


def _counted_lines(items: Iterable[tuple[str, Decimal]], description: str, placeholder: str,
                   language: str) -> list[InvoiceLine]:
    """One line per (name, price), counted: quantity x unit price always equals the amount."""
    groups: dict[tuple[str, Decimal], int] = defaultdict(int)
    for name, price in items:
        groups[(name, price)] += 1
    return [
        InvoiceLine(
            description=description.format(**{placeholder: name}),
            quantity=Decimal(count),
            unit=t("unit_pieces", language),
            unit_price=price,
            amount=round_cents(price * count),
        )
        for (name, price), count in sorted(groups.items())
    ]


def _usage_lines(usage: Iterable[UsageTotal], language: str) -> list[InvoiceLine]:
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    counts: dict[str, int] = defaultdict(int)
    seconds: dict[str, int] = defaultdict(int)
    kilobytes: dict[str, int] = defaultdict(int)
    for total in usage:
        if total.rated_amount == ZERO:
            continue  # a subscription that stayed inside its bundles adds no quantity
        amounts[total.call_type] += total.rated_amount
        counts[total.call_type] += total.count
        seconds[total.call_type] += total.duration_s
        kilobytes[total.call_type] += total.volume_kb

    def order(call_type: str) -> tuple[int, str]:
        known = call_type in CALL_TYPES
        return (CALL_TYPES.index(call_type) if known else len(CALL_TYPES), call_type)

    lines = []
    for call_type in sorted(amounts, key=order):
        amount = amounts[call_type]
        if call_type == "voice":
            quantity, unit = Decimal(seconds[call_type]) / 60, t("unit_minutes", language)
        elif call_type == "data":
            quantity, unit = Decimal(kilobytes[call_type]) / 1024, "MB"
        else:
            quantity, unit = Decimal(counts[call_type]), t("unit_pieces", language)
        quantity = quantity.quantize(CENT, rounding=ROUND_HALF_UP)
        unit_price = (amount / quantity).quantize(PLACES_4, ROUND_HALF_UP) if quantity else amount
        key = f"line_usage_{call_type}" if call_type in CALL_TYPES else "line_usage_other"
        lines.append(
            InvoiceLine(
                description=t(key, language).format(call_type=call_type),
                quantity=quantity,
                unit=unit,
                unit_price=unit_price,
                amount=round_cents(amount),
            )
        )
    return lines


def _addon_lines(addons: Iterable[AddonCharge], language: str) -> list[InvoiceLine]:
    return _counted_lines(((a.addon_name, a.amount) for a in addons), t("line_addon", language),
                          "addon", language)


def compute_amounts(lines: Sequence[InvoiceLine], vat: VatRule) -> InvoiceAmounts:
    """Round each line to cents, add them up, and charge VAT on the subtotal (half-up)."""
    rounded = tuple(replace(line, amount=round_cents(line.amount)) for line in lines)
    subtotal = sum((line.amount for line in rounded), start=Decimal("0.00"))
    if vat.reverse_charge:
        vat_rate, vat_amount = ZERO, Decimal("0.00")
    else:
        vat_rate, vat_amount = vat.rate, round_cents(subtotal * vat.rate / 100)
    return InvoiceAmounts(
        lines=rounded,
        subtotal=subtotal,
        vat_rate=vat_rate,
        vat=vat_amount,
        total=subtotal + vat_amount,
        reverse_charge=vat.reverse_charge,
    )


def vat_rule_for(
    customer_country: str,
    customer_vat_number: str | None,
    issuer_country: str = "NL",
    default_rate: Decimal = Decimal("21"),
) -> VatRule:
    """Reverse charge for a business (VAT number given) in another EU member state.

    Everything else, including customers outside the EU, is charged the
    default rate: the place-of-supply rules for those cases need an
    accountant's decision and are not guessed here.
    """
    customer = _eu_code(customer_country)
    issuer = _eu_code(issuer_country)
    has_vat_number = bool(customer_vat_number and customer_vat_number.strip())
    if (
        has_vat_number
        and customer != issuer
        and customer in EU_COUNTRIES
        and issuer in EU_COUNTRIES
    ):
        return VatRule(rate=ZERO, reverse_charge=True)
    return VatRule(rate=default_rate, reverse_charge=False)


def _eu_code(country: str) -> str:
    code = country.strip().upper()
    return "GR" if code == "EL" else code


def credit_note_amounts(original: InvoiceAmounts) -> InvoiceAmounts:
    """The full correction of an invoice: every line and total negated, same VAT treatment."""
    lines = tuple(
        replace(line, quantity=_negate(line.quantity), amount=_negate(line.amount))
        for line in original.lines
    )
    return InvoiceAmounts(
        lines=lines,
        subtotal=_negate(original.subtotal),
        vat_rate=original.vat_rate,
        vat=_negate(original.vat),
        total=_negate(original.total),
        reverse_charge=original.reverse_charge,
    )


def _negate(amount: Decimal) -> Decimal:
    # ZERO - x, unlike -x, keeps zero positive: no "-0.00" on a reverse-charge credit note.
    return ZERO - amount
