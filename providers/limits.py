"""Published rate limits of the provider APIs, in a module of their own so that core can
read them without importing the HTTP clients (httpx) at start-up."""

from __future__ import annotations

NINA_RATE_LIMIT = 10  # requests per window per customer
NINA_WINDOW_S = 60.0
