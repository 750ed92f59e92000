"""Environments remember when they were last used and which sources their workspace got.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("last_accessed", sa.Float, nullable=True))
        batch.add_column(sa.Column("applied_sources", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.drop_column("applied_sources")
        batch.drop_column("last_accessed")
