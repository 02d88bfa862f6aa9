"""The sandbox: all seven provider APIs on 127.0.0.1, for the demo and the tests.

    with SandboxServer() as sandbox:
        sandbox.configure_customer("routit", "ACME", subscriptions=3)
        adapter = open_adapter(sandbox.connection("routit", "ACME"))

Platforms live under `/<platform>/` (a profile's base URL is
`sandbox.url_for(platform)`); the admin endpoint under `/_admin/`:

    GET    /_admin/customers
    PUT    /_admin/customers/<platform>/<customer>          JSON settings
    PUT    /_admin/customers/<platform>/<customer>/faults   {"slow": 2, ...}
    DELETE /_admin/customers/<platform>/<customer>/faults
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from providers.base import ProfileConnection
from providers.platforms import SPECS
from providers.sandbox.apis import PlatformApi
from providers.sandbox.nina import NinaApi
from providers.sandbox.registry import Clock, Customer, Faults, SandboxRegistry
from providers.sandbox.web import HttpServer, Refusal, Request, Router, send_json

SANDBOX_PLATFORMS: tuple[str, ...] = tuple(SPECS)

# the demo: two customers per platform; the T-Mobile pair shares one partner login
DEMO_CUSTOMERS: tuple[tuple[str, str, int, int], ...] = tuple(
    (platform, ref, subscriptions, cdrs)
    for platform in SANDBOX_PLATFORMS
    for ref, subscriptions, cdrs in (("ACME-001", 25, 60), ("BAKKERIJ-002", 8, 30))
)


class SandboxServer:
    """A real HTTP server in a background thread; `start()` returns its base URL."""

    def __init__(
        self, port: int = 0, *, host: str = "127.0.0.1", clock: Clock = time.monotonic
    ) -> None:
        self.host = host
        self.port = port
        self.registry = SandboxRegistry(clock)
        # the registry's customer API, offered on the server itself
        self.configure_customer = self.registry.configure_customer
        self.set_faults = self.registry.set_faults
        self.clear_faults = self.registry.clear_faults
        self.router = Router()
        for spec in SPECS.values():
            api = PlatformApi(spec, self.registry)
            api.install(self.router)
            if spec.platform == "routit":
                NinaApi(api).install(self.router)
        self._install_admin()
        self._httpd: HttpServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------

    def start(self) -> str:
        if self._httpd is None:
            self._httpd = HttpServer((self.host, self.port), self.router)
            self.port = self._httpd.server_address[1]
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.1},
                name=f"sandbox:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, platform: str) -> str:
        """The base URL a sync profile for `platform` uses."""
        return f"{self.base_url}/{platform}"

    # -- customers and faults ----------------------------------------------------

    def connection(
        self,
        platform: str,
        customer_ref: str,
        *,
        timeout_s: float = 10.0,
        credentials: Mapping[str, str] | None = None,
    ) -> ProfileConnection:
        """A profile connection for a configured customer (its own credentials by default)."""
        customer = self.registry.customer(platform, customer_ref)
        return ProfileConnection(
            platform=platform,
            base_url=self.url_for(platform),
            credentials=dict(credentials if credentials is not None else customer.credentials),
            customer_ref=customer_ref,
            timeout_s=timeout_s,
        )

    def configure_demo(self) -> list[Customer]:
        """The demo customers (`DEMO_CUSTOMERS`); T-Mobile's share one partner login."""
        configured = []
        partner: Mapping[str, str] | None = None
        for platform, ref, subscriptions, cdrs in DEMO_CUSTOMERS:
            credentials = partner if platform == "tmobile_calvi" else None
            customer = self.configure_customer(
                platform,
                ref,
                subscriptions=subscriptions,
                cdrs_per_subscription=cdrs,
                credentials=credentials,
            )
            if platform == "tmobile_calvi":
                partner = customer.credentials
            configured.append(customer)
        return configured

    # -- the admin endpoint ------------------------------------------------------

    def _install_admin(self) -> None:
        self.router.add("GET", "/_admin/customers", self._admin_list)
        self.router.add("PUT", "/_admin/customers/{platform}/{customer}", self._admin_configure)
        self.router.add("PUT", "/_admin/customers/{platform}/{customer}/faults", self._admin_faults)
        self.router.add(
            "DELETE", "/_admin/customers/{platform}/{customer}/faults", self._admin_faults
        )

    def _admin_list(self, request: Request, values: dict[str, str]) -> None:
        customers = [customer.describe() for customer in self.registry.customers()]
        send_json(request.handler, 200, {"customers": customers})

    def _admin_configure(self, request: Request, values: dict[str, str]) -> None:
        settings = request.json()
        if not isinstance(settings, dict):
            raise Refusal(400, {"error": "settings must be a JSON object"})
        try:
            customer = self.configure_customer(values["platform"], values["customer"], **settings)
        except (TypeError, ValueError) as error:
            raise Refusal(400, {"error": str(error)}) from None
        send_json(request.handler, 200, customer.describe())

    def _admin_faults(self, request: Request, values: dict[str, str]) -> None:
        faults = request.json() if request.method == "PUT" else {}
        try:
            parsed = self.set_faults(values["platform"], values["customer"], Faults.parse(faults))
        except LookupError as error:
            raise Refusal(404, {"error": str(error)}) from None
        except (TypeError, ValueError) as error:
            raise Refusal(400, {"error": str(error)}) from None
        send_json(request.handler, 200, {"faults": parsed.active()})


def serve(port: int = 8765, *, host: str = "127.0.0.1", demo: bool = True) -> None:
    """Run the sandbox in the foreground until Ctrl+C (`expensis sandbox serve`)."""
    sandbox = SandboxServer(port, host=host)
    if demo:
        sandbox.configure_demo()
    url = sandbox.start()
    print(f"sandbox listening on {url}", flush=True)
    if demo:
        for customer in sandbox.registry.customers():
            names = ", ".join(sorted(customer.credentials))
            print(f"  {sandbox.url_for(customer.platform)}  {customer.customer_ref}  ({names})")
        print("  credentials: GET /_admin/customers", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
