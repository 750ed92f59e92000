"""The webhook use cases (spec §10): create, list, get, update, delete, ping, rotate the secret.

The full signing secret is shown twice only: in ``new_signing_secret`` on create and in the answer
of a rotation. Afterwards the resource lists the valid secrets truncated, with their expiry.
"""

from __future__ import annotations

import secrets
import time
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from runtime.errors import InputError, NotFound
from runtime.outbound import OutboundGuard
from runtime.store import Store
from runtime.store.webhooks import WebhookRecord
from runtime.worker.timefmt import iso
from runtime.worker.webhooks import WebhookDispatcher, new_secret, valid_secrets

EVENTS = frozenset({
    "batch.succeeded", "batch.cancelled", "batch.expired", "batch.failed", "interaction.requires_action",
    "interaction.completed", "interaction.failed", "interaction.cancelled", "video.generated",
})
State = Literal["enabled", "disabled", "disabled_due_to_failed_deliveries"]
RevocationBehavior = Literal["revoke_previous_secrets_after_h24", "revoke_previous_secrets_immediately"]
UPDATABLE = ("name", "uri", "subscribed_events", "state")
GRACE_SECONDS = 24 * 3600.0
DEFAULT_PAGE, MAX_PAGE = 50, 1000


_EVENT_ITEMS: dict[str, Any] = {"items": {"type": "string", "enum": sorted(EVENTS)}}
"""The documented items of ``subscribed_events`` (checked by :func:`_check_events`, naming them)."""


class WebhookInput(BaseModel):
    """``POST /{v}/webhooks``. Unknown fields are refused (accepted means applied)."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(max_length=2048)
    subscribed_events: list[str] = Field(min_length=1, max_length=len(EVENTS), json_schema_extra=_EVENT_ITEMS)
    name: str | None = Field(default=None, max_length=200)


class WebhookUpdate(BaseModel):
    """``PATCH /{v}/webhooks/{id}?update_mask=...``."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    uri: str | None = Field(default=None, max_length=2048)
    subscribed_events: list[str] | None = Field(
        default=None, min_length=1, max_length=len(EVENTS), json_schema_extra=_EVENT_ITEMS
    )
    state: State | None = None


class RotateSigningSecretRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revocation_behavior: RevocationBehavior | None = None


class SigningSecret(BaseModel):
    truncated_secret: str
    expire_time: str | None = None


class Webhook(BaseModel):
    id: str
    name: str | None = None
    uri: str
    subscribed_events: list[str]
    state: str
    signing_secrets: list[SigningSecret]
    new_signing_secret: str | None = None
    create_time: str
    update_time: str


class WebhookList(BaseModel):
    webhooks: list[Webhook]
    next_page_token: str | None = None


class WebhookService:
    def __init__(self, store: Store, dispatcher: WebhookDispatcher, guard: OutboundGuard) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._guard = guard

    async def create(self, project_id: str, request: WebhookInput) -> Webhook:
        """Raises :class:`InputError` for a URI that is not http(s) or an unknown event, and
        :class:`~runtime.outbound.OutboundRefused` for one the server may not contact."""
        now = time.time()
        secret = new_secret()
        uri = check_uri(request.uri)
        await self._guard.check_field("uri", uri)
        record = WebhookRecord(
            id="wh_" + secrets.token_hex(10),
            project_id=project_id,
            name=request.name,
            uri=uri,
            subscribed_events=_check_events(request.subscribed_events),
            secrets=[{"secret": secret, "created": now, "expires": None}],
            state="enabled",
            created=now,
            updated=now,
        )
        await self._store.webhooks.insert(record)
        return _webhook(record).model_copy(update={"new_signing_secret": secret})

    async def list(self, project_id: str, page_size: int | None, page_token: str | None) -> WebhookList:
        size = min(page_size or DEFAULT_PAGE, MAX_PAGE)
        if page_size is not None and page_size < 0:
            raise InputError("page_size must not be negative")
        offset = _offset(page_token)
        records = await self._store.webhooks.page(project_id, offset, size + 1)
        more = len(records) > size
        return WebhookList(
            webhooks=[_webhook(r) for r in records[:size]],
            next_page_token=str(offset + size) if more else None,
        )

    async def get(self, project_id: str, webhook_id: str) -> Webhook:
        return _webhook(await self._record(project_id, webhook_id))

    async def update(
        self, project_id: str, webhook_id: str, request: WebhookUpdate, mask: str | None
    ) -> Webhook:
        """Set the fields named in ``mask`` (comma-separated), or every field sent when there is none."""
        fields = _mask(mask) if mask else [f for f in UPDATABLE if f in request.model_fields_set]
        values: dict[str, Any] = {}
        for name in fields:
            value = getattr(request, name)
            if value is None and name != "name":
                raise InputError(f"`{name}` is in update_mask but has no value")
            values[name] = value
        if "uri" in values:
            values["uri"] = check_uri(values["uri"])
            await self._guard.check_field("uri", values["uri"])
        if "subscribed_events" in values:
            values["subscribed_events"] = _check_events(values["subscribed_events"])
        if not values:
            return await self.get(project_id, webhook_id)
        record = await self._store.webhooks.update(project_id, webhook_id, values)
        if record is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return _webhook(record)

    async def delete(self, project_id: str, webhook_id: str) -> None:
        if not await self._store.webhooks.delete(project_id, webhook_id):
            raise NotFound(f"webhook {webhook_id} not found")

    async def ping(self, project_id: str, webhook_id: str) -> None:
        """Queue a ``webhook.ping`` event to the webhook (whatever its state and subscriptions)."""
        await self._dispatcher.ping(await self._record(project_id, webhook_id))

    async def rotate_signing_secret(
        self, project_id: str, webhook_id: str, behavior: RevocationBehavior | None
    ) -> str:
        """Add a new secret and return it. Previous secrets stay valid for 24 hours (the default)
        or are revoked at once (``revoke_previous_secrets_immediately``)."""
        record = await self._record(project_id, webhook_id)
        now = time.time()
        kept = []
        if behavior != "revoke_previous_secrets_immediately":
            deadline = now + GRACE_SECONDS
            for old in record.secrets:
                expires = old.get("expires")
                if expires is None or expires > now:
                    kept.append({**old, "expires": deadline if expires is None else min(expires, deadline)})
        secret = new_secret()
        kept.append({"secret": secret, "created": now, "expires": None})
        if await self._store.webhooks.update(project_id, webhook_id, {"secrets": kept}) is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return secret

    async def _record(self, project_id: str, webhook_id: str) -> WebhookRecord:
        record = await self._store.webhooks.get(project_id, webhook_id)
        if record is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return record


def check_uri(uri: str) -> str:
    """``uri`` when it is an absolute http(s) URL with a host; raises :class:`InputError` otherwise."""
    try:
        parts = urlsplit(uri)
    except ValueError as e:
        raise InputError(f"invalid webhook uri: {e}") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("webhook uri must be an absolute http:// or https:// URL")
    return uri


def _check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - EVENTS)
    if unknown:
        raise InputError(f"unknown subscribed_events {unknown}; known: {sorted(EVENTS)}")
    return list(dict.fromkeys(events))


def _mask(mask: str) -> list[str]:
    fields = [f.strip() for f in mask.split(",") if f.strip()]
    unknown = [f for f in fields if f not in UPDATABLE]
    if unknown:
        raise InputError(f"update_mask names unknown fields {unknown}; updatable: {list(UPDATABLE)}")
    return fields


def _offset(page_token: str | None) -> int:
    if not page_token:
        return 0
    if not page_token.isdigit():
        raise InputError("invalid page_token")
    return int(page_token)


def _webhook(record: WebhookRecord) -> Webhook:
    now = time.time()
    valid = set(valid_secrets(record, now))
    return Webhook(
        id=record.id,
        name=record.name,
        uri=record.uri,
        subscribed_events=record.subscribed_events,
        state=record.state,
        signing_secrets=[
            SigningSecret(
                truncated_secret=s["secret"][:10] + "…",
                expire_time=iso(s["expires"]) if s.get("expires") is not None else None,
            )
            for s in record.secrets
            if s["secret"] in valid
        ],
        create_time=iso(record.created),
        update_time=iso(record.updated),
    )
