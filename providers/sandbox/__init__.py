"""Simulated provider APIs on loopback, with deterministic data and switchable faults."""

from __future__ import annotations

from providers.sandbox.data import CustomerSettings
from providers.sandbox.registry import Faults
from providers.sandbox.server import DEMO_CUSTOMERS, SANDBOX_PLATFORMS, SandboxServer, serve

__all__ = [
    "DEMO_CUSTOMERS",
    "SANDBOX_PLATFORMS",
    "CustomerSettings",
    "Faults",
    "SandboxServer",
    "serve",
]
