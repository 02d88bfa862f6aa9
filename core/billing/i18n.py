"""Money, dates and labels on invoices, in Dutch or English (Babel for the formats)."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal

LANGUAGES: tuple[str, ...] = ("nl", "en")
_LOCALES = {"nl": "nl_NL", "en": "en_GB"}

# Templates use str.format fields; the caller fills them in.
_LABELS: dict[str, tuple[str, str]] = {
    # key: (nl, en)
    "invoice": ("Factuur", "Invoice"),
    "credit_note": ("Creditnota", "Credit note"),
    "invoice_number": ("Factuurnummer", "Invoice number"),
    "credit_note_number": ("Creditnotanummer", "Credit note number"),
    "date": ("Factuurdatum", "Invoice date"),
    "due_date": ("Vervaldatum", "Due date"),
    "period": ("Periode", "Period"),
    "customer_number": ("Klantnummer", "Customer number"),
    "credited_invoice": ("Correctie op factuur", "Correction of invoice"),
    "description": ("Omschrijving", "Description"),
    "quantity": ("Aantal", "Quantity"),
    "unit": ("Eenheid", "Unit"),
    "unit_price": ("Prijs", "Unit price"),
    "amount": ("Bedrag", "Amount"),
    "subtotal": ("Subtotaal", "Subtotal"),
    "vat": ("Btw", "VAT"),
    "vat_with_rate": ("Btw {rate}%", "VAT {rate}%"),
    "total": ("Totaal", "Total"),
    "credit_applied": ("Verrekend tegoed", "Credit applied"),
    "amount_due": ("Te betalen", "Amount due"),
    "vat_number": ("Btw-nummer", "VAT number"),
    "chamber_of_commerce": ("KvK", "Chamber of Commerce"),
    "iban": ("IBAN", "IBAN"),
    "email": ("E-mail", "E-mail"),
    "reverse_charge_note": (
        "Btw verlegd naar de afnemer (art. 196 Btw-richtlijn 2006/112/EG).",
        "VAT reverse charged to the customer (Art. 196 VAT Directive 2006/112/EC).",
    ),
    "payment_terms": (
        "Wij verzoeken u het totaalbedrag binnen {days} dagen over te maken",
        "Please pay the total amount within {days} days",
    ),
    "payment_terms_iban": (
        " op {iban} t.n.v. {name}",
        " to {iban} in the name of {name}",
    ),
    "payment_reference": (
        ", onder vermelding van {reference}.",
        ", quoting {reference} as payment reference.",
    ),
    "betalingskenmerk": (
        "Betalingskenmerk: {reference}.",
        "Payment reference (betalingskenmerk): {reference}.",
    ),
    "direct_debit_terms": (
        "Het totaalbedrag wordt op of na {due} automatisch afgeschreven van {iban} (machtiging {mandate}).",
        "The total amount will be collected by direct debit on or after {due} from {iban} (mandate {mandate}).",
    ),
    "credit_terms": (
        "Dit bedrag wordt binnen {days} dagen verrekend of teruggestort; kenmerk {reference}.",
        "This amount will be settled or refunded within {days} days; reference {reference}.",
    ),
    "reverse_charge": ("Btw verlegd", "VAT reverse charged"),
    "test_marker": ("TEST", "TEST"),
    "test_banner": (
        "TESTFACTUUR - niet betalen, geen fiscale waarde",
        "TEST INVOICE - do not pay, no fiscal value",
    ),
    "page": ("Pagina", "Page"),
    "line_subscription": ("Abonnement {plan}", "Subscription {plan}"),
    "line_usage_voice": ("Bellen buiten bundel", "Calls beyond bundle"),
    "line_usage_sms": ("Sms buiten bundel", "Text messages beyond bundle"),
    "line_usage_data": ("Data buiten bundel", "Data beyond bundle"),
    "line_usage_other": ("Verbruik {call_type}", "Usage {call_type}"),
    "line_to_voice": ("Bellen naar {prefix} ({country})", "Calls to {prefix} ({country})"),
    "line_to_sms": ("Sms naar {prefix} ({country})", "Text messages to {prefix} ({country})"),
    "line_to_data": ("Data naar {prefix} ({country})", "Data to {prefix} ({country})"),
    "line_in_bundle_voice": ("Bellen binnen bundel", "Calls within bundle"),
    "line_in_bundle_sms": ("Sms binnen bundel", "Text messages within bundle"),
    "line_in_bundle_data": ("Data binnen bundel", "Data within bundle"),
    "line_usage_voice_in": ("Inkomend bellen", "Incoming calls"),
    "line_in_bundle_voice_in": ("Inkomend bellen binnen bundel", "Incoming calls within bundle"),
    "line_zone_voice": ("Bellen in zone {zone}", "Calls in zone {zone}"),
    "line_zone_voice_in": ("Inkomend bellen in zone {zone}", "Incoming calls in zone {zone}"),
    "line_zone_sms": ("Sms in zone {zone}", "Text messages in zone {zone}"),
    "line_zone_data": ("Data in zone {zone}", "Data in zone {zone}"),
    "line_zone_unknown_voice": ("Bellen in het buitenland, land onbekend", "Calls abroad, country unknown"),
    "line_zone_unknown_voice_in": ("Inkomend bellen in het buitenland, land onbekend",
                                   "Incoming calls abroad, country unknown"),
    "line_zone_unknown_sms": ("Sms in het buitenland, land onbekend", "Text messages abroad, country unknown"),
    "line_zone_unknown_data": ("Data in het buitenland, land onbekend", "Data abroad, country unknown"),
    "line_eu_roaming": (" in de EU (roaming)", " in the EU (roaming)"),
    "line_eu_fair_use": ("Data in de EU boven redelijk gebruik", "EU data beyond fair use"),
    "line_band": (", tijdvak {band}", ", band {band}"),
    "line_minimum": ("Minimumtarief per gesprek: {usage}", "Minimum charge per call: {usage}"),
    "line_remainder_voice_in": ("Inkomend bellen: restant seconden en afronding per gesprek",
                                "Incoming calls: remaining seconds and rounding per call"),
    "line_setup": ("Opstartkosten gesprekken", "Call set-up fees"),
    "line_setup_to": ("Opstartkosten {prefix}", "Set-up fees {prefix}"),
    "line_remainder_voice": ("Bellen: restant seconden en afronding per gesprek",
                             "Calls: remaining seconds and rounding per call"),
    "line_remainder_sms": ("Sms: afronding per bericht", "Text messages: rounding per message"),
    "line_remainder_data": ("Data: restant KB en afronding per sessie",
                            "Data: remaining KB and rounding per session"),
    "line_passthrough_voice": ("Bellen volgens tarief provider ({quantity} min)",
                               "Calls at the provider's rates ({quantity} min)"),
    "line_passthrough_sms": ("Sms volgens tarief provider ({quantity} st.)",
                             "Text messages at the provider's rates ({quantity} pcs)"),
    "line_passthrough_data": ("Data volgens tarief provider ({quantity} MB)",
                              "Data at the provider's rates ({quantity} MB)"),
    "line_passthrough_other": ("Verbruik {call_type} volgens tarief provider ({quantity})",
                               "Usage {call_type} at the provider's rates ({quantity})"),
    "unknown_country": ("onbekend land", "unknown country"),
    "line_correction": ("Correctie factuur {number} ({period})", "Correction of invoice {number} ({period})"),
    "line_addon": ("Add-on {addon}", "Add-on {addon}"),
    "specification": ("Specificatie verbruik", "Usage specification"),
    "spec_number": ("Nummer", "Number"),
    "spec_cost_centre": ("Kostenplaats", "Cost centre"),
    "spec_call_type": ("Soort", "Type"),
    "spec_zone": ("Zone", "Zone"),
    "zone_unknown": ("onbekend", "unknown"),
    "spec_count": ("Aantal", "Count"),
    "spec_usage": ("Verbruik", "Usage"),
    "spec_in_bundle": ("In bundel", "In bundle"),
    "spec_beyond": ("Buiten bundel", "Beyond"),
    "spec_total": ("Totaal verbruik", "Total usage"),
    "call_type_voice": ("Bellen", "Calls"),
    "call_type_voice_in": ("Inkomend", "Incoming calls"),
    "call_type_sms": ("Sms", "Text messages"),
    "call_type_data": ("Data", "Data"),
    "unit_pieces": ("st.", "pcs"),
    "unit_minutes": ("min", "min"),
}


def _index(language: str) -> int:
    try:
        return LANGUAGES.index(language)
    except ValueError:
        raise ValueError(f"unsupported language {language!r}; use one of {LANGUAGES}") from None


def t(key: str, language: str) -> str:
    """The label (or str.format template) for `key`; KeyError for an unknown key."""
    return _LABELS[key][_index(language)]


def format_money(amount: Decimal, language: str = "en", *, places: int = 2,
                 symbol: bool = True) -> str:
    """Euro amount, rounded half-up to `places` (at least 2 shown): nl "€ 1.234,56", en "€1,234.56".

    The one money formatter of invoices, console and CLI; `symbol=False` gives "1,234.56"
    for a table column whose header names the currency. Plain spaces, never non-breaking
    ones, so the text compares and searches simply.
    """
    _index(language)
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)  # never print "€ -0,00"
    from babel.numbers import format_currency  # babel loads on first use, not at start-up

    pattern = None if symbol else "#,##0." + "0" * places
    text = format_currency(rounded, "EUR", format=pattern, locale=_LOCALES[language],
                           decimal_quantization=False)
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def format_decimal(value: Decimal, language: str) -> str:
    """A plain number (a quantity) with the language's separators, trailing zeros dropped."""
    _index(language)
    text = f"{value.normalize():,f}" if value != 0 else "0"
    if language == "nl":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def format_percent(rate: Decimal, language: str) -> str:
    """A VAT rate such as 21 or 9.5 without trailing zeros: "21", nl "9,5", en "9.5"."""
    return format_decimal(rate, language)


def format_date(d: date, language: str) -> str:
    """Long date: nl "21 november 2026", en "21 November 2026"."""
    _index(language)
    from babel.dates import format_date as babel_format_date

    return babel_format_date(d, "d MMMM y", locale=_LOCALES[language])


def format_time(moment: datetime | None, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M", *,
                zone_name: bool = False) -> str:
    """A moment in `zone` (naive moments are stored UTC); "—" for none. The one time formatter of
    the console and CLI: columns name their zone in the header (`time_zone_label`), a time standing
    alone names it after the time (`zone_name=True`: "2026-11-29 14:05 CET")."""
    if moment is None:
        return "—"
    local = (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(zone)
    return f"{local.strftime(fmt)} {local.strftime('%Z')}" if zone_name else local.strftime(fmt)


def time_zone_label(zone: tzinfo, moment: datetime) -> str:
    """The zone's short name at `moment` ("CET", "CEST", "UTC"), for a time column's header."""
    return moment.astimezone(zone).strftime("%Z")


def format_day(d: date, language: str) -> str:
    """Short day: nl "1 nov", en "1 Nov" (the days of a price in force for part of a cycle)."""
    _index(language)
    from babel.dates import format_date as babel_format_date

    return babel_format_date(d, "d MMM", locale=_LOCALES[language]).rstrip(".")


def country_of_prefix(prefix: str, language: str) -> str:
    """The country a "+44..." prefix dials, named in `language` (phonenumbers + Babel).

    The country calling code is the prefix's leading 1-3 digits that phonenumbers knows;
    a shared code (+1) names its main territory.
    """
    import phonenumbers  # imported on first use: only invoices with destination lines need it
    from babel import Locale

    digits = prefix.lstrip("+")
    for length in (1, 2, 3):
        region = phonenumbers.region_code_for_country_code(int(digits[:length])) if digits[:length] else "ZZ"
        if region != "ZZ":
            name = Locale.parse(_LOCALES[language]).territories.get(region)
            return str(name) if name else region
    return t("unknown_country", language)


def call_type_label(call_type: str, language: str) -> str:
    """A call type as the customer reads it ("Bellen", "Data"); an unknown one as stored."""
    key = f"call_type_{call_type}"
    return t(key, language) if key in _LABELS else call_type


def zone_label(zone: str, language: str) -> str:
    """A roaming zone as printed: "" at home, "EU", the zone's name, "onbekend" when unknown."""
    return t("zone_unknown", language) if zone == "?" else zone


def invoice_line_cells(description: str, quantity: Decimal, unit: str, unit_price: Decimal, amount: Decimal,
                       language: str) -> tuple[str, str, str, str, str]:
    """One invoice line as the customer reads it: description, quantity, unit, unit price, amount."""
    exponent = unit_price.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2  # 0.0155 keeps its 4 decimals
    return (description, format_decimal(quantity, language), unit,
            format_money(unit_price, language, places=places), format_money(amount, language))


def total_labels(vat_rate: Decimal, reverse_charge: bool, language: str) -> tuple[str, str, str]:
    """The subtotal, VAT and total labels of an invoice in `language`."""
    vat = t("reverse_charge", language) if reverse_charge else t("vat_with_rate", language).format(
        rate=format_percent(vat_rate, language))
    return t("subtotal", language), vat, t("total", language)
