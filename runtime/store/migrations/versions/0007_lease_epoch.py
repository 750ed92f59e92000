"""Fenced leases: every claim of an interaction bumps its lease epoch, and every write of its log
and status names the epoch it holds, so a worker whose run was taken over cannot write any more.

Revision ID: 0007
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("lease_epoch", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("lease_epoch")
