"""Triggers (cron-scheduled agent runs) and their executions, one row per tick.

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "triggers",
        sa.Column("project_id", sa.String(64), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("interaction", sa.JSON, nullable=False),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(100), nullable=False),
        sa.Column("environment_id", sa.String(64), nullable=True),
        sa.Column("execution_timeout_seconds", sa.Integer, nullable=True),
        sa.Column("max_consecutive_failures", sa.Integer, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("consecutive_failure_count", sa.Integer, nullable=False),
        sa.Column("previous_interaction_id", sa.String(64), nullable=True),
        sa.Column("next_run_time", sa.Float, nullable=True),
        sa.Column("last_run_time", sa.Float, nullable=True),
        sa.Column("last_pause_time", sa.Float, nullable=True),
        sa.Column("last_resume_time", sa.Float, nullable=True),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("updated", sa.Float, nullable=False),
    )
    op.create_index("ix_triggers_project", "triggers", ["project_id", "created"])
    op.create_index("ix_triggers_due", "triggers", ["status", "next_run_time"])
    op.create_table(
        "trigger_executions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "trigger_id", sa.String(64), sa.ForeignKey("triggers.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("project_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("scheduled_time", sa.Float, nullable=False),
        sa.Column("start_time", sa.Float, nullable=True),
        sa.Column("end_time", sa.Float, nullable=True),
        sa.Column("interaction_id", sa.String(64), nullable=True),
        sa.Column("environment_id", sa.String(64), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.UniqueConstraint("trigger_id", "scheduled_time", name="uq_trigger_executions_tick"),
    )
    op.create_index("ix_trigger_executions_status", "trigger_executions", ["status"])


def downgrade() -> None:
    op.drop_table("trigger_executions")
    op.drop_table("triggers")
