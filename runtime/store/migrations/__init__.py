"""Alembic migrations, run programmatically at start-up (no alembic.ini)."""
