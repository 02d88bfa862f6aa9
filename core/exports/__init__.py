"""Excel and CSV export writers (streaming; no database access)."""
