"""Routit's Nina add-on API in the sandbox, with its 10 requests/minute/customer limit."""

from __future__ import annotations

from decimal import Decimal

from providers.base import AddonType
from providers.routit_nina import ADDON, ADDON_TYPES, ADDONS, NINA_RATE_LIMIT
from providers.sandbox.apis import PlatformApi
from providers.sandbox.registry import Customer
from providers.sandbox.web import Refusal, Request, Router, send_json

CATALOGUE: tuple[AddonType, ...] = (
    AddonType("DATA-10GB", "Extra data 10 GB", Decimal("10.00"), "Eenmalig 10 GB extra data"),
    AddonType("DATA-EU-5GB", "EU data 5 GB", Decimal("7.50"), "5 GB in de EU"),
    AddonType("CALL-INTL-100", "100 internationale minuten", Decimal("5.00")),
    AddonType("ROAM-WORLD-1GB", "Wereld roaming 1 GB", Decimal("15.00")),
)
_CODES = {addon.code for addon in CATALOGUE}


class NinaApi:
    def __init__(self, api: PlatformApi) -> None:
        self.api = api
        self.registry = api.registry

    def install(self, router: Router) -> None:
        self.api.route(router, "GET", ADDON_TYPES, self._addon_types)
        self.api.route(router, "GET", ADDONS, self._addons)
        self.api.route(router, "POST", ADDONS, self._activate)
        self.api.route(router, "DELETE", ADDON, self._cancel)

    def _guard(self, request: Request, values: dict[str, str]) -> Customer:
        customer = self.api.guard(request, values["customer"])
        wait = self.registry.nina_wait(customer)
        if wait is not None:
            body = {"error": f"rate limit: {NINA_RATE_LIMIT} requests per minute per customer"}
            raise Refusal(429, body, {"Retry-After": str(int(wait))})
        number = values.get("number")
        if number is not None and number not in customer.numbers():
            raise Refusal(404, {"error": f"unknown number {number}"})
        return customer

    def _addon_types(self, request: Request, values: dict[str, str]) -> None:
        self._guard(request, values)
        types = [
            {
                "code": addon.code,
                "name": addon.name,
                "monthly_fee": str(addon.monthly_fee),
                "description": addon.description,
            }
            for addon in CATALOGUE
        ]
        send_json(request.handler, 200, {"addon_types": types})

    def _addons(self, request: Request, values: dict[str, str]) -> None:
        customer = self._guard(request, values)
        active = sorted(customer.addons.get(values["number"], {}))
        send_json(request.handler, 200, {"addons": active})

    def _activate(self, request: Request, values: dict[str, str]) -> None:
        customer = self._guard(request, values)
        code = request.json().get("code")
        if code not in _CODES:
            raise Refusal(422, {"error": f"unknown add-on {code!r}"})
        active = customer.addons.setdefault(values["number"], {})
        if code not in active:  # activating twice returns the first request id
            active[code] = self.registry.next_request_id()
            customer.cancellations.pop((values["number"], code), None)
        send_json(request.handler, 202, {"request_id": active[code], "status": "accepted"})

    def _cancel(self, request: Request, values: dict[str, str]) -> None:
        customer = self._guard(request, values)
        number, code = values["number"], values["code"]
        key = (number, code)
        if key not in customer.cancellations:  # cancelling twice returns the first request id
            if code not in customer.addons.get(number, {}):
                raise Refusal(404, {"error": f"add-on {code} is not active on {number}"})
            del customer.addons[number][code]
            customer.cancellations[key] = self.registry.next_request_id()
        send_json(
            request.handler, 202, {"request_id": customer.cancellations[key], "status": "accepted"}
        )
