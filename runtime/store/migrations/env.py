"""Alembic environment: always run with a connection handed over by :func:`runtime.store.db.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from runtime.store.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("Hangar migrations run only through runtime.store.db.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
