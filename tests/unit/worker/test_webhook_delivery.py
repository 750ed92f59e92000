"""Webhook signing, event mapping, and outbox delivery on a real SQLite store (network mocked)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from runtime.errors import InputError
from runtime.outbound import OutboundGuard
from runtime.service.webhooks import WebhookInput, WebhookService, check_uri
from runtime.store import DEFAULT_PROJECT, InteractionRecord, Store
from runtime.store.webhooks import DELIVERED, FAILED, DeliveryRecord
from runtime.worker.events import Usage
from runtime.worker.webhooks import DeliveryPolicy, WebhookDispatcher, event_for_status, sign


async def _documentation_address(_host: str, _port: int) -> list[str]:
    return ["192.0.2.1"]  # never contacted: the dispatchers here send through MockTransports


RECEIVER = OutboundGuard(("receiver.test",), resolver=_documentation_address)
FAST = DeliveryPolicy(max_attempts=3, retry_seconds=0.01, retry_max_seconds=0.02, timeout_seconds=1.0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'hangar.db'}")
    await store.open()
    yield store
    await store.close()


def _interaction(config: dict[str, object] | None = None) -> InteractionRecord:
    now = time.time()
    return InteractionRecord(
        id="int_1",
        project_id=DEFAULT_PROJECT,
        kind="model",
        target="m",
        status="completed",
        input=[],
        config=config or {},
        previous_interaction_id=None,
        environment_id=None,
        usage=None,
        errors=None,
        background=True,
        store=True,
        created=now,
        updated=now,
    )


def test_signature_matches_the_standard_webhooks_reference_vector() -> None:
    signature = sign(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    ("status", "event"),
    [
        ("completed", "interaction.completed"),
        ("budget_exceeded", "interaction.completed"),
        ("incomplete", "interaction.completed"),
        ("failed", "interaction.failed"),
        ("requires_action", "interaction.requires_action"),
        ("cancelled", "interaction.cancelled"),
    ],
)
def test_terminal_status_maps_to_event(status: str, event: str) -> None:
    assert event_for_status(status) == event


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = DeliveryPolicy(retry_seconds=10, retry_max_seconds=60)
    assert [policy.delay(n) for n in range(1, 6)] == [10, 20, 40, 60, 60]


@pytest.mark.parametrize("uri", ["ftp://h/x", "file:///etc/passwd", "h/x", "http://", "mailto:a@b"])
def test_check_uri_rejects_non_http(uri: str) -> None:
    with pytest.raises(InputError):
        check_uri(uri)


async def _until(condition: asyncio.Event) -> None:
    async with asyncio.timeout(5):
        await condition.wait()


async def _settled(store: Store, delivery_id: str, status: str) -> DeliveryRecord:
    """The delivery once its row reached ``status`` (the answer is recorded after it is received)."""
    async with asyncio.timeout(5):
        while True:
            row = await store.webhooks.delivery(delivery_id)
            if row is not None and row.status == status:
                return row
            await asyncio.sleep(0.01)


async def test_pending_delivery_survives_a_restart_and_is_retried(store: Store) -> None:
    # Enqueued by a dispatcher that never sends (the process "stopped")...
    before = WebhookDispatcher(store, FAST)
    request = WebhookInput(uri="http://receiver.test/hook", subscribed_events=["interaction.completed"])
    hook = await WebhookService(store, before, RECEIVER).create(DEFAULT_PROJECT, request)
    await before.interaction_ended(_interaction(), "completed", Usage(total_tokens=3))

    # ... and sent by the next one, which retries a 503 then sees a 200.
    seen: list[httpx2.Request] = []
    delivered = asyncio.Event()

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx2.Response(503)
        delivered.set()
        return httpx2.Response(204)

    after = WebhookDispatcher(store, FAST, poll_seconds=0.01, transport=httpx2.MockTransport(answer))
    await after.start()
    try:
        await _until(delivered)
        row = await _settled(store, seen[0].headers["webhook-id"], DELIVERED)
    finally:
        await after.stop()
    assert [r.headers["webhook-id"] for r in seen] == [seen[0].headers["webhook-id"]] * 2
    assert seen[0].headers["webhook-signature"].startswith("v1,")
    assert (row.attempts, row.webhook_id) == (2, hook.id)


async def test_delivery_gives_up_after_max_attempts(store: Store) -> None:
    calls: list[httpx2.Request] = []
    exhausted = asyncio.Event()

    def refuse(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        if len(calls) == FAST.max_attempts:
            exhausted.set()
        raise httpx2.ConnectError("refused", request=request)

    dispatcher = WebhookDispatcher(store, FAST, poll_seconds=0.01, transport=httpx2.MockTransport(refuse))
    targets = {"uris": ["http://target.test/x", "ftp://skipped"], "user_metadata": {"k": "v"}}
    config = {"webhook_config": targets}
    await dispatcher.interaction_ended(_interaction(config), "failed", None)
    await dispatcher.start()
    try:
        await _until(exhausted)
        row = await _settled(store, calls[0].headers["webhook-id"], FAILED)
    finally:
        await dispatcher.stop()
    assert len(calls) == FAST.max_attempts
    assert "webhook-signature" not in calls[0].headers  # no target secret configured
    assert (row.attempts, row.webhook_id) == (FAST.max_attempts, None)
    assert row.payload["data"]["user_metadata"] == {"k": "v"}
    assert row.payload["type"] == "interaction.failed"
    assert row.last_error is not None and "ConnectError" in row.last_error
