"""The newest migration in core/migrations/versions, in a module that imports nothing.

Start-up compares the database's revision with this constant instead of asking alembic
(0.1-0.2 s), and the quick read path (core.quickread) without importing SQLAlchemy; one
line for both. A new migration updates it, and
tests/test_startup.py::test_schema_head_constant_matches_the_migrations says so if not.
"""

from typing import Final

SCHEMA_HEAD: Final = "0022"
