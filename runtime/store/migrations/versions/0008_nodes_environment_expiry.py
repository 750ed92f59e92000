"""Server nodes and their heartbeats (so a live node can reap a dead one's boxes), and the time an
environment expired (its volume removed; the id then answers 404).

Revision ID: 0008
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=False),
        sa.Column("stopped", sa.Float, nullable=True),
    )
    op.create_index("ix_nodes_namespace", "nodes", ["namespace", "heartbeat"])
    with op.batch_alter_table("environments") as batch:
        batch.add_column(sa.Column("expired", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("environments") as batch:
        batch.drop_column("expired")
    op.drop_index("ix_nodes_namespace", table_name="nodes")
    op.drop_table("nodes")
