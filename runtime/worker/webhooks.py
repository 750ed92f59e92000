"""Webhook delivery: events go to an outbox table, a background task POSTs them, signed.

Signing follows the Standard Webhooks scheme (https://www.standardwebhooks.com/): headers
``webhook-id`` (the delivery id, the same on every retry), ``webhook-timestamp`` (UNIX seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``,
one per valid secret of the webhook (two while a rotated secret is still honoured). Secrets are
``whsec_`` + base64 of the key bytes. Deliveries to per-request ``webhook_config`` targets carry
the same ``webhook-id`` and ``webhook-timestamp``, and an RS256 JWT in ``webhook-signature``
(:mod:`runtime.worker.webhook_jwt`), verifiable against the JWKS Hangar serves.

Which event an ended interaction sends: ``completed``, ``budget_exceeded``, ``incomplete`` (and any
other end) → ``interaction.completed`` (the ``status`` inside tells them apart); ``failed`` →
``interaction.failed``; ``requires_action`` → ``interaction.requires_action``; ``cancelled`` →
``interaction.cancelled`` (the event newer SDKs list; nothing is sent to a webhook not subscribed
to it). Body: ``{"type": ..., "version": "v1", "timestamp": ..., "data": {interaction id, status, model/agent,
usage, and the request's ``user_metadata`` for per-request targets}}``.

A 2xx answer marks a delivery delivered; a network error or any other status schedules a retry
with exponential backoff until ``max_attempts``, then it is marked failed. Every attempt goes
through the :class:`~runtime.outbound.OutboundGuard` (resolved, checked, pinned; redirects are not
followed), so a target that passed at create but now resolves to an internal address is refused
without being contacted. What is recorded of a failure never includes the receiver's body.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx2
import structlog

from runtime.outbound import OutboundGuard, OutboundRefused
from runtime.store import InteractionRecord, Store
from runtime.store.webhooks import DELIVERED, FAILED, PENDING, DeliveryRecord, WebhookRecord
from runtime.wire import InteractionStatus
from runtime.worker.events import Usage
from runtime.worker.timefmt import iso
from runtime.worker.webhook_jwt import DeliverySigner

log = structlog.get_logger(__name__)

PING_EVENT = "webhook.ping"
_EVENT_BY_STATUS: dict[str, str] = {
    InteractionStatus.FAILED: "interaction.failed",
    InteractionStatus.REQUIRES_ACTION: "interaction.requires_action",
    InteractionStatus.CANCELLED: "interaction.cancelled",
}
ENVELOPE_VERSION = "v1"
_BATCH = 32
_SENDERS = 16


def event_for_status(status: str) -> str:
    return _EVENT_BY_STATUS.get(status, "interaction.completed")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<signature>`` entry of ``webhook-signature`` for one secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def valid_secrets(webhook: WebhookRecord, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    return [s["secret"] for s in webhook.secrets if s.get("expires") is None or s["expires"] > now]


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 6
    retry_seconds: float = 10.0
    retry_max_seconds: float = 600.0
    timeout_seconds: float = 10.0

    def delay(self, attempts: int) -> float:
        return float(min(self.retry_seconds * 2 ** (attempts - 1), self.retry_max_seconds))


class WebhookDispatcher:
    """Enqueues webhook events and delivers them in the background. ``start``/``stop`` bound it."""

    def __init__(
        self,
        store: Store,
        policy: DeliveryPolicy,
        *,
        poll_seconds: float = 1.0,
        guard: OutboundGuard | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        signer: DeliverySigner | None = None,
    ) -> None:
        """``signer`` signs deliveries to per-request targets (unsigned without one); ``guard``
        checks and pins every target (a strict one, allowing no internal host, when
        ``None``); ``transport`` replaces the network and the guard's pinning (tests mount an
        ``httpx2.MockTransport``)."""
        self._store = store
        self._guard = guard or OutboundGuard()
        self._transport = transport
        self._policy = policy
        self._signer = signer
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(_SENDERS)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.Task[None] | None = None
        self._client: httpx2.AsyncClient | None = None

    async def start(self) -> None:
        timeout = self._policy.timeout_seconds
        if self._transport is None:
            self._client = self._guard.client(timeout=timeout)
        else:
            self._client = httpx2.AsyncClient(
                timeout=timeout, follow_redirects=False, transport=self._transport
            )
        self._loop = asyncio.create_task(self._run(), name="hangar-webhooks")

    async def stop(self) -> None:
        """Stop sending. Undelivered rows stay pending and are sent after the next start."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- enqueueing --------------------------------------------------------------------------------

    async def interaction_ended(self, record: InteractionRecord, status: str, usage: Usage | None) -> None:
        """Queue the event of an interaction that reached ``status`` for every subscribed webhook
        of its project and every ``webhook_config.uris`` target of its request."""
        event_type = event_for_status(status)
        data: dict[str, Any] = {
            "id": record.id,
            "object": "interaction",
            "status": status,
            record.kind: record.target,
            "created": iso(record.created),
            "updated": iso(time.time()),
        }
        if usage is not None:
            data["usage"] = usage.model_dump(mode="json")
        enabled = await self._store.webhooks.enabled(record.project_id)
        hooks = [h for h in enabled if event_type in h.subscribed_events]
        deliveries = [self._delivery(record.project_id, h.id, h.uri, event_type, data) for h in hooks]
        config = record.config.get("webhook_config") or {}
        metadata = config.get("user_metadata")
        target_data = {**data, "user_metadata": metadata} if metadata else data
        for uri in _uris(config.get("uris")):
            deliveries.append(self._delivery(record.project_id, None, uri, event_type, target_data))
        await self._enqueue(deliveries)

    async def ping(self, webhook: WebhookRecord) -> None:
        data = {"webhook_id": webhook.id}
        await self._enqueue([self._delivery(webhook.project_id, webhook.id, webhook.uri, PING_EVENT, data)])

    def _delivery(
        self, project_id: str, webhook_id: str | None, uri: str, event_type: str, data: dict[str, Any]
    ) -> DeliveryRecord:
        now = time.time()
        return DeliveryRecord(
            id="msg_" + secrets.token_hex(12),
            project_id=project_id,
            webhook_id=webhook_id,
            uri=uri,
            event_type=event_type,
            payload={"type": event_type, "version": ENVELOPE_VERSION, "timestamp": iso(now), "data": data},
            attempts=0,
            next_attempt_at=now,
            status=PENDING,
            last_error=None,
            created=now,
        )

    async def _enqueue(self, deliveries: list[DeliveryRecord]) -> None:
        await self._store.webhooks.enqueue(deliveries)
        if deliveries:
            self._wake.set()

    # -- sending -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        hold = self._policy.timeout_seconds + 30.0
        while True:
            self._wake.clear()
            try:
                for delivery in await self._store.webhooks.claim_due(hold, _BATCH):
                    await self._slots.acquire()
                    task = asyncio.create_task(self._attempt(delivery), name=f"webhook-{delivery.id}")
                    self._tasks.add(task)
                    task.add_done_callback(self._done)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhooks.claim_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _attempt(self, delivery: DeliveryRecord) -> None:
        bound = log.bind(
            delivery_id=delivery.id, event_type=delivery.event_type, webhook_id=delivery.webhook_id
        )
        attempts = delivery.attempts + 1
        repo = self._store.webhooks
        keys = await self._keys(delivery)
        if keys is None:
            await repo.record_attempt(
                delivery.id, status=FAILED, attempts=attempts, next_attempt_at=time.time(),
                error="the webhook was deleted",
            )
            return
        try:
            error = await self._send(delivery, keys)
        except Exception as e:  # whatever happens, the row is rescheduled below
            bound.exception("webhooks.send_crashed")
            error = f"internal error: {type(e).__name__}"
        if error is None:
            await repo.record_attempt(
                delivery.id, status=DELIVERED, attempts=attempts, next_attempt_at=time.time(), error=None
            )
            bound.info("webhooks.delivered", attempts=attempts)
        elif attempts >= self._policy.max_attempts:
            await repo.record_attempt(
                delivery.id, status=FAILED, attempts=attempts, next_attempt_at=time.time(), error=error
            )
            bound.warning("webhooks.gave_up", attempts=attempts, error=error)
        else:
            retry_at = time.time() + self._policy.delay(attempts)
            await repo.record_attempt(
                delivery.id, status=PENDING, attempts=attempts, next_attempt_at=retry_at, error=error
            )
            bound.info("webhooks.retry_scheduled", attempts=attempts, error=error)
            self._wake_at(retry_at)

    async def _send(self, delivery: DeliveryRecord, keys: list[str]) -> str | None:
        """POST one delivery signed with ``keys``. Returns ``None`` on a 2xx answer, else what went
        wrong."""
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": "Hangar-Webhooks/1",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(timestamp),
        }
        if delivery.webhook_id is None and self._signer is not None:
            headers["webhook-signature"] = self._signer.sign(delivery.id, timestamp, body, delivery.uri)
        elif keys:
            headers["webhook-signature"] = " ".join(sign(k, delivery.id, timestamp, body) for k in keys)
        assert self._client is not None, "dispatcher not started"
        try:
            response = await self._client.post(delivery.uri, content=body, headers=headers)
        except OutboundRefused as e:
            return e.message
        except (httpx2.ConnectError, httpx2.TimeoutException) as e:
            return f"{type(e).__name__}: {e}"  # the local socket's words
        except httpx2.HTTPError as e:
            return type(e).__name__  # a protocol error's text may quote what the receiver sent
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    async def _keys(self, delivery: DeliveryRecord) -> list[str] | None:
        """The HMAC secrets to sign with (``[]``: none, as for a per-request target, signed with a
        JWT instead); ``None`` when the webhook is gone."""
        if delivery.webhook_id is None:
            return []
        webhook = await self._store.webhooks.by_id(delivery.webhook_id)
        return None if webhook is None else valid_secrets(webhook)

    def _wake_at(self, when: float) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(max(when - time.time(), 0.0), self._wake.set)


def _uris(value: object) -> list[str]:
    """The usable ``webhook_config.uris``; others are logged and skipped."""
    uris = value if isinstance(value, list) else []
    good = [uri for uri in uris if isinstance(uri, str) and uri.startswith(("http://", "https://"))]
    if len(good) != len(uris):
        log.warning("webhooks.bad_target_uris", skipped=len(uris) - len(good))
    return good
