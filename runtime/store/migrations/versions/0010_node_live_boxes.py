"""Each node's per-project count of its kept-warm and file boxes, published with its heartbeat, so
``HANGAR_PROJECT_MAX_LIVE_BOXES`` counts a project's boxes on every live server.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.add_column(sa.Column("live_boxes", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nodes") as batch:
        batch.drop_column("live_boxes")
