"""The tables. Times are UNIX epoch seconds (floats): portable, and leases compare as numbers."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created", Float, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created", Float, nullable=False),
    Column("revoked", Float, nullable=True),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # "model" | "agent"
    Column("target", String(200), nullable=False),  # the model or agent id
    Column("status", String(32), nullable=False),
    Column("input", JSON, nullable=False),  # this turn's normalised input steps
    Column("config", JSON, nullable=False),  # the rest of the create request, echoed back
    Column("previous_interaction_id", String(64), nullable=True),
    Column("environment_id", String(64), nullable=True),
    Column("usage", JSON, nullable=True),
    Column("errors", JSON, nullable=True),
    Column("background", Boolean, nullable=False, default=False),
    Column("store", Boolean, nullable=False, default=True),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Index("ix_interactions_status_lease", "status", "lease_until"),
)

interaction_events = Table(
    "interaction_events",
    metadata,
    Column("interaction_id", String(64), ForeignKey("interactions.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event", JSON, nullable=False),
    Column("created", Float, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("project_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("interaction_id", String(64), nullable=False),
    Column("created", Float, nullable=False),
)
