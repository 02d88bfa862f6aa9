"""Helpers for tests and benchmarks: a frozen clock, the sandbox in a child process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from providers.base import ProfileConnection


class FrozenClock:
    """A clock for `SandboxServer(clock=...)` that moves only when told to."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RemoteSandbox:
    """A sandbox in another process, driven through its HTTP admin endpoint."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.admin = httpx.Client(base_url=f"{base_url}/_admin/", timeout=30)
        self.credentials: dict[tuple[str, str], dict[str, str]] = {}

    def url_for(self, platform: str) -> str:
        return f"{self.base_url}/{platform}"

    def configure_customer(self, platform: str, customer_ref: str, **settings: Any) -> Any:
        response = self.admin.put(f"customers/{platform}/{customer_ref}", json=settings)
        response.raise_for_status()
        described = response.json()
        self.credentials[(platform, customer_ref)] = described["credentials"]
        return described

    def set_faults(self, platform: str, customer_ref: str, **faults: Any) -> Any:
        response = self.admin.put(f"customers/{platform}/{customer_ref}/faults", json=faults)
        response.raise_for_status()
        return response.json()["faults"]

    def clear_faults(self, platform: str, customer_ref: str) -> None:
        self.admin.delete(f"customers/{platform}/{customer_ref}/faults").raise_for_status()

    def connection(
        self, platform: str, customer_ref: str, *, timeout_s: float = 10.0
    ) -> ProfileConnection:
        return ProfileConnection(
            platform=platform,
            base_url=self.url_for(platform),
            credentials=dict(self.credentials[(platform, customer_ref)]),
            customer_ref=customer_ref,
            timeout_s=timeout_s,
        )


@contextmanager
def sandbox_process(port: int = 0) -> Iterator[RemoteSandbox]:
    """`python -m providers.sandbox` in a child process (its own CPU, its own memory)."""
    command = [sys.executable, "-m", "providers.sandbox", "--port", str(port), "--no-demo"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        if "listening on" not in first_line:
            raise RuntimeError(f"sandbox did not start: {first_line!r}")
        remote = RemoteSandbox(first_line.split()[-1])
        try:
            yield remote
        finally:
            remote.admin.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
