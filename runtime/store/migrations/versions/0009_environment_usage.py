"""The last measured workspace usage of each environment (bytes, and when it was measured), summed
per project for ``HANGAR_PROJECT_MAX_WORKSPACE_BYTES``.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("workspace_bytes", sa.BigInteger, nullable=True))
        batch.add_column(sa.Column("workspace_measured", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.drop_column("workspace_measured")
        batch.drop_column("workspace_bytes")
