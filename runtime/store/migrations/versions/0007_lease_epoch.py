"""Fenced leases: every claim of an interaction bumps its lease epoch, and every write of its log
and status names the epoch it holds, so a worker whose run was taken over cannot write any more.
Upload sessions move from one process's memory to the store (any server goes on with them).

Revision ID: 0007
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("lease_epoch", sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "upload_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("environment_id", sa.String(64), nullable=False),
        sa.Column("volume", sa.String(200), nullable=False),
        sa.Column("path", sa.String(4096), nullable=False),
        sa.Column("overwrite", sa.Boolean, nullable=False),
        sa.Column("extract", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("temp", sa.String(200), nullable=False),
        sa.Column("used_bytes", sa.BigInteger, nullable=False),
        sa.Column("used_entries", sa.Integer, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )
    op.create_index("ix_upload_sessions_created", "upload_sessions", ["created"])


def downgrade() -> None:
    op.drop_index("ix_upload_sessions_created", "upload_sessions")
    op.drop_table("upload_sessions")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("lease_epoch")
