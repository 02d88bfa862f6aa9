"""Read models for the console: small read-only query functions, paged in SQL.

Every function takes a `Database` and plain values, returns frozen dataclasses,
and is meant to be called from a worker thread, never from the event loop.
"""
