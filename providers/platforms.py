"""The seven HTTP platforms, as data.

Paths are relative to the profile's base URL (the sandbox serves each
platform under `/<platform>/`). The sandbox reads these same specs to serve
the wire formats, so a spec is the one description of a provider's API.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from providers.adapter import DeclarativeAdapter, InvoiceResource, PlatformSpec, Resource
from providers.auth import ApiKeyHeader, HttpBasic, OAuth2ClientCredentials, SessionLogin
from providers.base import register_adapter
from providers.listing import (
    CsvBody,
    Cursor,
    Endpoint,
    FileQueue,
    JsonBody,
    Listing,
    NdjsonBody,
    NextLink,
    PageNumbers,
    SinglePage,
)
from providers.records import Wire

KPN_SP16 = PlatformSpec(
    platform="kpn_sp16",
    auth=OAuth2ClientCredentials(token_path="oauth/token"),
    wire=Wire(call_types={"voice": "VOICE", "sms": "SMS", "data": "DATA", "voice_in": "VOICE_IN"}),
    subscriptions=Resource(
        Listing(
            Endpoint("v2/customers/{customer}/subscriptions", {"period": "{month}"}),
            JsonBody(items="items"),
            PageNumbers(param="page", total_pages="total_pages"),
        ),
        {
            "number": "phoneNumber",
            "customer_ref": "customerId",
            "sim": "simNumber",
            "imei": "imei",
            "device_model": "deviceModel",
            "start_date": "startDate",
            "end_date": "endDate",
            "portation_date": "portationDate",
            "plan_code": "tariffPlan",
        },
    ),
    cdrs=Resource(
        Listing(
            Endpoint("v2/customers/{customer}/cdrs", {"period": "{month}"}),
            JsonBody(items="items"),
            PageNumbers(param="page", total_pages="total_pages"),
        ),
        {
            "provider_ref": "recordId",
            "number": "phoneNumber",
            "call_date": "callDate",
            "call_type": "callType",
            "destination": "destination",
            "duration_s": "durationSeconds",
            "volume_kb": "volumeKb",
            "provider_cost": "cost",
            "roaming": "roaming",
            "visited_country": "visitedCountry",
        },
    ),
    invoice=InvoiceResource(
        Endpoint("v2/customers/{customer}/invoices/{month}/total"),
        {
            "amount": "totalAmount",
            "cdr_count": "recordCount",
            "currency": "currency",
        },
    ),
)

KPN_EEN = PlatformSpec(
    platform="kpn_een",
    auth=ApiKeyHeader(header="X-Api-Key"),
    wire=Wire(
        decimal_comma=True,
        dutch_dates=True,
        call_types={"voice": "spraak", "sms": "sms", "data": "data", "voice_in": "spraak_in"},
        true_false=("J", "N"),
    ),
    subscriptions=Resource(
        Listing(
            Endpoint("api/klanten/{customer}/abonnementen", {"periode": "{month}"}),
            CsvBody(delimiter=";"),
            PageNumbers(param="pagina", total_pages=None, total_pages_header="X-Total-Pages"),
        ),
        {
            "number": "nummer",
            "customer_ref": "klantnummer",
            "sim": "simkaart",
            "imei": "imei",
            "device_model": "toestel",
            "start_date": "ingangsdatum",
            "end_date": "einddatum",
            "portation_date": "porteringsdatum",
            "plan_code": "abonnement",
        },
    ),
    cdrs=Resource(
        Listing(
            Endpoint("api/klanten/{customer}/gesprekken", {"periode": "{month}"}),
            CsvBody(delimiter=";"),
            PageNumbers(param="pagina", total_pages=None, total_pages_header="X-Total-Pages"),
        ),
        {
            "provider_ref": "id",
            "number": "nummer",
            "call_date": "datum",
            "call_type": "soort",
            "destination": "bestemming",
            "duration_s": "duur",
            "volume_kb": "volume_kb",
            "provider_cost": "kosten",
            "roaming": "roaming",
            "visited_country": "land",
        },
    ),
    invoice=InvoiceResource(
        Endpoint("api/klanten/{customer}/facturen/{month}"),
        {"amount": "bedrag"},  # KPN EEN does not report a CDR count
    ),
)

KPN_GRIP = PlatformSpec(
    platform="kpn_grip",
    auth=OAuth2ClientCredentials(token_path="auth/token"),
    wire=Wire(),
    subscriptions=Resource(
        Listing(
            Endpoint("grip/v1/accounts/{customer}/lines", {"month": "{month}"}),
            JsonBody(items="records"),
            Cursor(param="cursor", next_cursor="next_cursor"),
        ),
        {
            "number": "msisdn",
            "customer_ref": "account_id",
            "sim": "iccid",
            "imei": "imei",
            "device_model": "handset",
            "start_date": "activated_on",
            "end_date": "deactivated_on",
            "portation_date": "ported_on",
            "plan_code": "product",
        },
    ),
    cdrs=Resource(
        Listing(
            Endpoint("grip/v1/accounts/{customer}/usage-records", {"month": "{month}"}),
            JsonBody(items="records"),
            Cursor(param="cursor", next_cursor="next_cursor"),
        ),
        {
            "provider_ref": "record_id",
            "number": "msisdn",
            "call_date": "started_at",
            "call_type": "service",
            "destination": "destination",
            "duration_s": "duration",
            "volume_kb": "data_kb",
            "provider_cost": "charge",
            "roaming": "roaming",
            "visited_country": "visited_country",
        },
    ),
    invoice=InvoiceResource(
        Endpoint("grip/v1/accounts/{customer}/invoices/{month}"),
        {
            "amount": "amount.value",
            "currency": "amount.currency",
            "cdr_count": "usage_records",
        },
    ),
)

VODAFONE = PlatformSpec(
    platform="vodafone",
    auth=HttpBasic(),
    wire=Wire(call_types={"voice": "CALL", "sms": "SMS", "data": "DATA", "voice_in": "CALL_IN"}),
    subscriptions=Resource(
        Listing(
            Endpoint("api/accounts/{customer}/subscriptions", {"billingPeriod": "{month}"}),
            JsonBody(items="_embedded.subscriptions"),
            NextLink(href="_links.next.href"),
        ),
        {
            "number": "msisdn",
            "customer_ref": "accountNumber",
            "sim": "simCardNumber",
            "imei": "imei",
            "device_model": "deviceName",
            "start_date": "contractStart",
            "end_date": "contractEnd",
            "portation_date": "numberPortingDate",
            "plan_code": "pricePlan",
        },
    ),
    cdrs=Resource(
        Listing(
            Endpoint("api/accounts/{customer}/usage", {"billingPeriod": "{month}"}),
            JsonBody(items="_embedded.usage"),
            NextLink(href="_links.next.href"),
        ),
        {
            "provider_ref": "usageId",
            "number": "msisdn",
            "call_date": "eventTime",
            "call_type": "eventType",
            "destination": "calledNumber",
            "duration_s": "durationSec",
            "volume_kb": "volumeKB",
            "provider_cost": "chargeAmount",
            "roaming": "isRoaming",
            "visited_country": "roamingCountry",
        },
    ),
    invoice=InvoiceResource(
        Endpoint("api/accounts/{customer}/bills/{month}"),
        {
            "amount": "billAmount",
            "currency": "currency",
            "cdr_count": "usageCount",
        },
    ),
)

TMOBILE_CALVI = PlatformSpec(
    platform="tmobile_calvi",
    auth=SessionLogin(login_path="calvi/login", cookie="CALVISESSION"),
    wire=Wire(call_types={"voice": "Voice", "sms": "SMS", "data": "Data", "voice_in": "Voice in"},
              true_false=("Y", "N")),
    subscriptions=Resource(
        Listing(
            Endpoint(
                "calvi/export/subscriptions.csv", {"customer": "{customer}", "period": "{month}"}
            ),
            CsvBody(delimiter=","),
        ),
        {
            "number": "MSISDN",
            "customer_ref": "Customer",
            "sim": "ICCID",
            "imei": "IMEI",
            "device_model": "Device",
            "start_date": "Start",
            "end_date": "End",
            "portation_date": "Porting date",
            "plan_code": "Tariff",
        },
    ),
    cdrs=Resource(
        Listing(
            Endpoint("calvi/export/cdrs.csv", {"customer": "{customer}", "period": "{month}"}),
            CsvBody(delimiter=","),
        ),
        {
            "provider_ref": "Record ID",
            "number": "MSISDN",
            "call_date": "Start time",
            "call_type": "Type",
            "destination": "Dialled number",
            "duration_s": "Duration (s)",
            "volume_kb": "Data (KB)",
            "provider_cost": "Amount (EUR)",
            "roaming": "Roaming",
            "visited_country": "Country",
        },
    ),
    invoice=InvoiceResource(
        Endpoint("calvi/invoices", {"customer": "{customer}", "period": "{month}"}),
        {
            "amount": "invoice.total",
            "cdr_count": "invoice.cdr_count",
        },
    ),
)

ROUTIT = PlatformSpec(
    platform="routit",
    auth=ApiKeyHeader(header="Authorization", prefix="Token "),
    wire=Wire(),
    subscriptions=Resource(
        Listing(
            Endpoint("v1/customers/{customer}/subscriptions", {"month": "{month}"}),
            JsonBody(items=""),
            SinglePage(),
        ),
        {
            "number": "number",
            "customer_ref": "customer",
            "sim": "iccid",
            "imei": "imei",
            "device_model": "device",
            "start_date": "start",
            "end_date": "end",
            "portation_date": "ported",
            "plan_code": "plan",
        },
    ),
    cdrs=Resource(
        Listing(
            Endpoint("v1/customers/{customer}/cdrs", {"month": "{month}"}),
            NdjsonBody(),
            SinglePage(),
        ),
        {
            "provider_ref": "id",
            "number": "number",
            "call_date": "date",
            "call_type": "type",
            "destination": "destination",
            "duration_s": "seconds",
            "volume_kb": "kilobytes",
            "provider_cost": "price",
            "roaming": "roaming",
            "visited_country": "country",
        },
    ),
    invoice=InvoiceResource(
        Endpoint("v1/customers/{customer}/invoices/{month}/summary"),
        {
            "amount": "total",
            "cdr_count": "cdrs",
        },
    ),
)

YIELDER = PlatformSpec(
    platform="yielder",
    auth=ApiKeyHeader(header="X-Yielder-Token"),
    wire=Wire(call_types={"voice": "MOC", "sms": "SMS-MO", "data": "GPRS", "voice_in": "MTC"},
              true_false=("1", "0")),
    subscriptions=Resource(
        Listing(
            Endpoint("queue/{customer}/subscriptions", {"period": "{month}"}),
            JsonBody(items="subscriptions"),
        ),
        {
            "number": "a_number",
            "customer_ref": "debtor",
            "sim": "iccid",
            "imei": "imei",
            "device_model": "device",
            "start_date": "since",
            "end_date": "until",
            "portation_date": "port_in_date",
            "plan_code": "bundle",
        },
    ),
    cdrs=Resource(
        FileQueue(
            files=Endpoint("queue/{customer}/files", {"period": "{month}"}),
            download=Endpoint("queue/{customer}/files/{file_id}"),
            acknowledge=Endpoint("queue/{customer}/files/{file_id}/ack"),
            body=CsvBody(delimiter=",", gzip=True),
        ),
        {
            "provider_ref": "cdr_id",
            "number": "a_number",
            "call_date": "timestamp",
            "call_type": "type",
            "destination": "b_number",
            "duration_s": "duration",
            "volume_kb": "kb",
            "provider_cost": "cost_eur",
            "roaming": "roaming",
            "visited_country": "visited_country",
        },
    ),
    invoice=InvoiceResource(
        Endpoint("queue/{customer}/invoice", {"period": "{month}"}),
        {
            "amount": "amount",
            "currency": "currency",
            "cdr_count": "records",
        },
    ),
)

SPECS: Mapping[str, PlatformSpec] = {
    spec.platform: spec
    for spec in (KPN_SP16, KPN_EEN, KPN_GRIP, VODAFONE, TMOBILE_CALVI, ROUTIT, YIELDER)
}


for _spec in SPECS.values():
    register_adapter(_spec.platform, partial(DeclarativeAdapter, _spec))
