"""Plain records the store hands to the service. JSON columns stay JSON-shaped here; the service
turns them into typed wire models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class ApiKeyRecord:
    id: str
    project_id: str
    prefix: str
    name: str
    created: float
    revoked: float | None


@dataclass(frozen=True)
class InteractionRecord:
    id: str
    project_id: str
    kind: str
    """``"model"`` or ``"agent"``."""
    target: str
    """The model id or agent id."""
    status: str
    input: list[JsonObject]
    """This turn's input, normalised into steps."""
    config: JsonObject
    """The rest of the create request (system_instruction, tools, generation_config, ...)."""
    previous_interaction_id: str | None
    environment_id: str | None
    usage: JsonObject | None
    errors: list[JsonObject] | None
    background: bool
    store: bool
    created: float
    updated: float
    cancel_requested: bool = False
    lease_epoch: int = 0
    """How many times the interaction was claimed; the claim's epoch fences its writes."""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event: JsonObject


@dataclass(frozen=True)
class Lease:
    """Who may write an interaction's log and status: the owner of the claim of this epoch."""

    owner: str
    epoch: int
