"""Routit's Nina add-on API: list, activate and cancel mobile add-ons.

Nina allows 10 requests per minute per customer and answers 429 with
Retry-After beyond that; the client raises `RateLimited` (retrying once only
for waits of two seconds or less) and leaves back-off to the command bus.
Activation and cancellation are idempotent on Nina's side: repeating one
returns the original request id, so an at-least-once handler is safe.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from providers.base import AddonType, BadData, ProfileConnection
from providers.http import ProviderHttp
from providers.limits import NINA_RATE_LIMIT as NINA_RATE_LIMIT  # re-exported
from providers.limits import NINA_WINDOW_S as NINA_WINDOW_S
from providers.listing import Endpoint
from providers.numbers import normalise_number
from providers.platforms import ROUTIT

ADDON_TYPES = Endpoint("nina/customers/{customer}/addon-types")
ADDONS = Endpoint("nina/customers/{customer}/numbers/{number}/addons")
ADDON = Endpoint("nina/customers/{customer}/numbers/{number}/addons/{code}")


class NinaClient:
    """One customer's Nina session over the shared client (Routit credentials)."""

    def __init__(self, conn: ProfileConnection) -> None:
        self.conn = conn
        self.http = ProviderHttp(conn, ROUTIT.auth.bind(conn))

    def __enter__(self) -> NinaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, endpoint: Endpoint, body: Any = None, **values: str) -> Any:
        url, params = endpoint.resolve({"customer": self.conn.customer_ref, **values})
        return self.http.json(method, url, params=params, json=body)

    def list_addon_types(self) -> list[AddonType]:
        answer = self._call("GET", ADDON_TYPES)
        try:
            return [
                AddonType(
                    code=str(item["code"]),
                    name=str(item["name"]),
                    monthly_fee=Decimal(str(item["monthly_fee"])),
                    description=str(item.get("description") or ""),
                )
                for item in answer["addon_types"]
            ]
        except (KeyError, TypeError, ArithmeticError):
            raise BadData("routit nina: unreadable add-on type list") from None

    def list_addons(self, number: str) -> list[str]:
        """Codes of the add-ons active on `number`."""
        answer = self._call("GET", ADDONS, number=normalise_number(number))
        addons = answer.get("addons") if isinstance(answer, dict) else None
        if not isinstance(addons, list):
            raise BadData("routit nina: unreadable add-on list")
        return [str(code) for code in addons]

    def activate(self, number: str, addon_code: str) -> str:
        """Ask Nina to activate an add-on; returns Nina's request id."""
        number = normalise_number(number)
        return self._request_id(self._call("POST", ADDONS, {"code": addon_code}, number=number))

    def cancel(self, number: str, addon_code: str) -> str:
        """Ask Nina to cancel an add-on; returns Nina's request id."""
        number = normalise_number(number)
        return self._request_id(self._call("DELETE", ADDON, number=number, code=addon_code))

    @staticmethod
    def _request_id(answer: Any) -> str:
        request_id = answer.get("request_id") if isinstance(answer, dict) else None
        if not request_id:
            raise BadData("routit nina: answer without request_id")
        return str(request_id)
