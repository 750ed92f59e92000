"""The tables. Times are UNIX epoch seconds (floats): portable, and leases compare as numbers."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
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
    # Bumped by every claim; writes of the log and status name the epoch they hold (fencing).
    Column("lease_epoch", Integer, nullable=False, default=0, server_default="0"),
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

# Agents created through the API (the shipped YAML agents live in runtime/agents, not here).
agents = Table(
    "agents",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id"), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("spec", JSON, nullable=False),  # the AgentSpec, as AgentSpec.model_dump(mode="json")
    Column("created", Float, nullable=False),
)

# Environments: a workspace (a Docker volume) that interactions can share.
environments = Table(
    "environments",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("id", String(64), primary_key=True),
    Column("config", JSON, nullable=False),  # the create request's config, echoed back
    Column("volume", String(200), nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Column("last_accessed", Float, nullable=True),  # last interaction or file access
    Column("applied_sources", JSON, nullable=True),  # digests of the sources placed in the workspace
    Column("expired", Float, nullable=True),  # when retention removed its volume (the id then answers 404)
    Column("workspace_bytes", BigInteger, nullable=True),  # last measured usage of the workspace
    Column("workspace_measured", Float, nullable=True),  # when it was measured
    Index("ix_environments_project", "project_id", "created"),
)

# Server processes (nodes): the owner label of the boxes and volumes each creates, and a heartbeat,
# so a live node can tell a dead node's boxes on a shared engine from a live one's.
nodes = Table(
    "nodes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("namespace", String(64), nullable=False),
    Column("hostname", String(255), nullable=False),
    Column("started", Float, nullable=False),
    Column("heartbeat", Float, nullable=False),
    Column("stopped", Float, nullable=True),  # a clean stop: dead at once, no need to wait
    # Project id -> this node's boxes HANGAR_PROJECT_MAX_LIVE_BOXES counts besides runs (kept warm,
    # file boxes), as of its last beat: the other servers add them to their count.
    Column("live_boxes", JSON, nullable=True),
    Index("ix_nodes_namespace", "namespace", "heartbeat"),
)

# Webhooks: project-level endpoints, and the outbox of their deliveries (so delivery survives a restart).
webhooks = Table(
    "webhooks",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id"), nullable=False),
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=True),
    Column("uri", String(2048), nullable=False),
    Column("subscribed_events", JSON, nullable=False),  # list of event types
    Column("secrets", JSON, nullable=False),  # [{"secret": "whsec_...", "created": t, "expires": t | None}]
    Column("state", String(40), nullable=False),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_webhooks_project", "project_id", "created"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),  # also the `webhook-id` header: stable across retries
    Column("project_id", String(64), nullable=False),
    Column("webhook_id", String(64), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True),
    Column("uri", String(2048), nullable=False),  # the webhook's, or a per-request `webhook_config` uri
    Column("event_type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("status", String(16), nullable=False),  # "pending" | "delivered" | "failed"
    Column("last_error", String(500), nullable=True),
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

# Credentials (secrets the egress proxy injects): the id is the tenant's, unique within its project.
credentials = Table(
    "credentials",
    metadata,
    Column("project_id", String(64), ForeignKey("projects.id"), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("type", String(32), nullable=False),  # bearer_token | oauth2 | environment_variable
    Column("status", String(16), nullable=False),  # active | revoked
    Column("config", JSON, nullable=False),  # the non-secret fields (header name, token URL, domains, ...)
    Column("secret", String, nullable=False),  # Fernet token of the secret fields (never plaintext)
    Column("created", Float, nullable=False),
    Column("updated", Float, nullable=False),
    Index("ix_credentials_project", "project_id", "created"),
)

# Resumable upload sessions of environment files: the state here, the bytes received so far in a
# hidden file of the workspace volume, so any server (or a restart) goes on with a session.
upload_sessions = Table(
    "upload_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # sha256 of the session id (a credential)
    Column("project_id", String(64), nullable=False),
    Column("environment_id", String(64), nullable=False),
    Column("volume", String(200), nullable=False),
    Column("path", String(4096), nullable=False),
    Column("overwrite", Boolean, nullable=False),
    Column("extract", Boolean, nullable=False),
    Column("size", BigInteger, nullable=True),
    Column("temp", String(200), nullable=False),
    Column("used_bytes", BigInteger, nullable=False),
    Column("used_entries", Integer, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("created", Float, nullable=False),
    Index("ix_upload_sessions_created", "created"),
)
