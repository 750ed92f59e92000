"""Engine lifetime and schema migrations.

SQLite (WAL, a busy timeout, foreign keys on) is the embedded default; any SQLAlchemy async URL
works (PostgreSQL through asyncpg for several processes). Migrations are Alembic revisions in
``runtime/store/migrations/versions``, applied programmatically by :func:`migrate` at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from runtime.errors import InfraError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON", "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; for a SQLite file, creates its directory and sets the pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True)


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision. Raises :class:`InfraError` when that fails."""
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    except Exception as e:  # a failed migration must stop start-up with a clear message
        raise InfraError(f"database migration failed: {e}", code="migration_failed", retryable=False) from e
