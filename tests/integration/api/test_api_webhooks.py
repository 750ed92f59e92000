"""Webhooks through the real google-genai client, delivered to a loopback receiver started here.

Signatures are checked with an HMAC computed in this file (Standard Webhooks), and per-request
deliveries' JWTs with PyJWT against the JWKS the server publishes, not with Hangar's code.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from api_harness import HangarServer
from cryptography.hazmat.primitives.asymmetric import rsa
from google.genai import _interactions as errors

from runtime.config import Settings
from runtime.llm.script import turn

MODEL = "gemini-3-flash-preview"
WAIT_S = 15.0


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


class Receiver:
    """Records every POST; ``fail(path, n)`` answers the next ``n`` POSTs to ``path`` with 500."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._failures: dict[str, int] = {}
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._record(Delivery(self.path, headers, body))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _record(self, delivery: Delivery) -> int:
        with self._changed:
            self.deliveries.append(delivery)
            self._changed.notify_all()
            left = self._failures.get(delivery.path, 0)
            if left:
                self._failures[delivery.path] = left - 1
                return 500
            return 200

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def fail(self, path: str, times: int) -> None:
        with self._changed:
            self._failures[path] = times

    def wait_for(self, predicate: Callable[[Delivery], bool], count: int = 1) -> list[Delivery]:
        """The first ``count`` deliveries matching ``predicate`` (fails after ``WAIT_S``)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self._matching(predicate)) >= count, WAIT_S)
            found = self._matching(predicate)
        assert len(found) >= count, f"expected {count} deliveries, got {len(found)}: {self.deliveries}"
        return found[:count]

    def _matching(self, predicate: Callable[[Delivery], bool]) -> list[Delivery]:
        return [d for d in self.deliveries if predicate(d)]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def signature_ok(secret: str, delivery: Delivery) -> bool:
    """Standard Webhooks: any ``v1,<b64 HMAC-SHA256(id.timestamp.body)>`` entry matches."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    headers = delivery.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + delivery.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    entries = delivery.headers.get("webhook-signature", "").split()
    return any(
        version == "v1" and hmac.compare_digest(sig, expected)
        for version, _, sig in (entry.partition(",") for entry in entries)
    )


def _digest(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


def verified_jwt(hangar: HangarServer, delivery: Delivery, audience: str) -> dict[str, Any]:
    """The claims of a per-request delivery's ``webhook-signature`` JWT, verified (RS256) with the
    key the server's JWKS names, for ``audience``; raises when it does not verify or binds another body."""
    token = delivery.headers["webhook-signature"]
    key = jwt.PyJWKClient(f"{hangar.url}/.well-known/jwks.json").get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token, key.key, algorithms=["RS256"], audience=audience,
        options={"require": ["exp", "iat", "iss", "aud", "jti"]},
    )
    assert claims["iss"] == Settings().resolved_public_url  # the fixture sets no public URL or port
    assert claims["body_sha256"] == _digest(delivery.body), "the JWT signs another body"
    return claims


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def path() -> str:
    return f"/hook-{secrets.token_hex(4)}"


@pytest.fixture
def hooks(hangar: HangarServer) -> Iterator[list[str]]:
    """Ids of webhooks the test created: deleted afterwards, so other tests' runs don't reach them."""
    created: list[str] = []
    yield created
    client = hangar.client()
    for webhook_id in created:
        with contextlib.suppress(errors.NotFoundError):
            client.webhooks.delete(webhook_id)


def _at(path: str, event_type: str | None = None) -> Callable[[Delivery], bool]:
    return lambda d: d.path == path and (event_type is None or d.json["type"] == event_type)


def _about(path: str, interaction_id: str) -> Callable[[Delivery], bool]:
    return lambda d: d.path == path and d.json["data"].get("id") == interaction_id


def test_webhook_crud(hangar: HangarServer, receiver: Receiver, path: str, hooks: list[str]) -> None:
    client = hangar.client()
    created = client.webhooks.create(
        uri=receiver.url(path), subscribed_events=["interaction.completed"], name="crud"
    )
    hooks.append(created.id)
    assert created.id.startswith("wh_")
    assert created.new_signing_secret.startswith("whsec_")
    assert created.state == "enabled"
    assert created.name == "crud"
    assert created.create_time is not None
    assert len(created.signing_secrets) == 1
    assert created.signing_secrets[0].truncated_secret.startswith("whsec_")
    assert created.signing_secrets[0].expire_time is None

    got = client.webhooks.get(created.id)
    assert got.uri == receiver.url(path)
    assert got.subscribed_events == ["interaction.completed"]
    assert got.new_signing_secret is None

    updated = client.webhooks.update(created.id, update_mask="state", state="disabled", name="ignored")
    assert updated.state == "disabled"
    assert updated.name == "crud"
    updated = client.webhooks.update(
        created.id, name="renamed", subscribed_events=["interaction.failed", "interaction.completed"]
    )
    assert updated.name == "renamed"
    assert updated.subscribed_events == ["interaction.failed", "interaction.completed"]
    assert updated.state == "disabled"

    assert client.webhooks.delete(created.id) is not None
    with pytest.raises(errors.NotFoundError):
        client.webhooks.get(created.id)
    with pytest.raises(errors.NotFoundError):
        client.webhooks.delete(created.id)


def test_list_pages_and_other_projects_see_nothing(
    hangar: HangarServer, receiver: Receiver, path: str, hooks: list[str]
) -> None:
    client = hangar.client(api_version="v1beta")
    for name in ("a", "b", "c"):
        hook = client.webhooks.create(
            uri=receiver.url(path), subscribed_events=["interaction.failed"], name=name
        )
        hooks.append(hook.id)
    seen: list[str] = []
    token: str | None = None
    while True:
        page = client.webhooks.list(page_size=2, page_token=token)
        assert len(page.webhooks or []) <= 2
        seen += [w.id for w in page.webhooks or []]
        token = page.next_page_token
        if not token:
            break
    assert set(hooks) <= set(seen)
    assert all(w.new_signing_secret is None for w in client.webhooks.list().webhooks or [])

    other = hangar.client(key=hangar.other_key)
    assert hooks[0] not in [w.id for w in other.webhooks.list().webhooks or []]
    with pytest.raises(errors.NotFoundError):
        other.webhooks.get(hooks[0])
    with pytest.raises(errors.NotFoundError):
        other.webhooks.update(hooks[0], update_mask="state", state="disabled")
    with pytest.raises(errors.NotFoundError):
        other.webhooks.ping(hooks[0])
    with pytest.raises(errors.NotFoundError):
        other.webhooks.delete(hooks[0])
    assert client.webhooks.get(hooks[0]).state == "enabled"


@pytest.mark.parametrize("uri", ["ftp://127.0.0.1/hook", "file:///etc/passwd", "not a url", "http://"])
def test_bad_uri_is_rejected_with_400(hangar: HangarServer, uri: str) -> None:
    client = hangar.client()
    with pytest.raises(errors.BadRequestError):
        client.webhooks.create(uri=uri, subscribed_events=["interaction.completed"])


def test_bad_update_is_rejected_with_400(
    hangar: HangarServer, receiver: Receiver, path: str, hooks: list[str]
) -> None:
    client = hangar.client()
    hook = client.webhooks.create(uri=receiver.url(path), subscribed_events=["interaction.completed"])
    hooks.append(hook.id)
    with pytest.raises(errors.BadRequestError):
        client.webhooks.update(hook.id, update_mask="uri", uri="javascript:alert(1)")
    with pytest.raises(errors.BadRequestError):
        client.webhooks.update(hook.id, update_mask="secret", name="x")
    with pytest.raises(errors.BadRequestError):
        client.webhooks.create(uri=receiver.url(path), subscribed_events=["no.such_event"])
    assert client.webhooks.get(hook.id).uri == receiver.url(path)


def test_ping_is_delivered_signed(
    hangar: HangarServer, receiver: Receiver, path: str, hooks: list[str]
) -> None:
    client = hangar.client()
    hook = client.webhooks.create(uri=receiver.url(path), subscribed_events=["interaction.completed"])
    hooks.append(hook.id)
    client.webhooks.ping(hook.id)
    (delivery,) = receiver.wait_for(_at(path, "webhook.ping"))
    assert delivery.json["data"] == {"webhook_id": hook.id}
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["webhook-timestamp"].isdigit()
    assert signature_ok(hook.new_signing_secret, delivery)
    assert not signature_ok("whsec_" + base64.b64encode(b"x" * 32).decode(), delivery)


def test_rotate_signing_secret(hangar: HangarServer, receiver: Receiver, path: str, hooks: list[str]) -> None:
    client = hangar.client()
    hook = client.webhooks.create(uri=receiver.url(path), subscribed_events=["interaction.completed"])
    hooks.append(hook.id)
    first = hook.new_signing_secret

    second = client.webhooks.rotate_signing_secret(hook.id).secret
    assert second.startswith("whsec_")
    assert second != first
    secrets_now = client.webhooks.get(hook.id).signing_secrets
    assert len(secrets_now) == 2
    assert secrets_now[0].expire_time is not None  # the old one: valid for 24 more hours
    client.webhooks.ping(hook.id)
    (delivery,) = receiver.wait_for(_at(path, "webhook.ping"))
    assert signature_ok(second, delivery)
    assert signature_ok(first, delivery)

    third = client.webhooks.rotate_signing_secret(
        hook.id, revocation_behavior="revoke_previous_secrets_immediately"
    ).secret
    assert len(client.webhooks.get(hook.id).signing_secrets) == 1
    client.webhooks.ping(hook.id)
    _, delivery = receiver.wait_for(_at(path, "webhook.ping"), count=2)
    assert signature_ok(third, delivery)
    assert not signature_ok(second, delivery)
    assert not signature_ok(first, delivery)


def test_completed_interaction_is_delivered_to_subscribers(
    hangar: HangarServer, receiver: Receiver, path: str, hooks: list[str]
) -> None:
    client = hangar.client()
    done_path, failed_path = path + "/done", path + "/failed"
    webhooks = client.webhooks
    completed = webhooks.create(uri=receiver.url(done_path), subscribed_events=["interaction.completed"])
    failed = webhooks.create(uri=receiver.url(failed_path), subscribed_events=["interaction.failed"])
    hooks += [completed.id, failed.id]
    hangar.script.set(turn("hi", usage={"prompt": 2, "output": 1}))
    interaction = client.interactions.create(model=MODEL, input="hello")
    assert interaction.status == "completed"

    (delivery,) = receiver.wait_for(_about(done_path, interaction.id))
    assert signature_ok(completed.new_signing_secret, delivery)
    body = delivery.json
    assert body["type"] == "interaction.completed"
    assert body["data"]["status"] == "completed"
    assert body["data"]["model"] == MODEL
    assert body["data"]["usage"]["total_tokens"] == 3
    assert delivery.headers["webhook-id"].startswith("msg_")

    hangar.script.set(turn(status=400))
    broken = client.interactions.create(model=MODEL, input="fail please")
    assert broken.status == "failed"
    (delivery,) = receiver.wait_for(_about(failed_path, broken.id))
    assert delivery.json["type"] == "interaction.failed"
    assert signature_ok(failed.new_signing_secret, delivery)
    assert not any(_about(failed_path, interaction.id)(d) for d in receiver.deliveries)
    assert not any(_about(done_path, broken.id)(d) for d in receiver.deliveries)


def test_per_request_webhook_config(hangar: HangarServer, receiver: Receiver, path: str) -> None:
    client = hangar.client()
    hangar.script.set(turn("background answer"))
    created = client.interactions.create(
        model=MODEL,
        input="work",
        background=True,
        webhook_config={"uris": [receiver.url(path)], "user_metadata": {"job": "42"}},
    )
    (delivery,) = receiver.wait_for(_at(path))
    body = delivery.json
    assert body["type"] == "interaction.completed"
    assert body["data"]["id"] == created.id
    assert body["data"]["user_metadata"] == {"job": "42"}
    assert body["version"] == "v1"
    claims = verified_jwt(hangar, delivery, receiver.url(path))
    assert claims["webhook_id"] == delivery.headers["webhook-id"]
    assert claims["iat"] == int(delivery.headers["webhook-timestamp"])
    assert client.interactions.get(created.id).status == "completed"


def test_per_request_jwt_refuses_a_changed_body_or_another_key(
    hangar: HangarServer, receiver: Receiver, path: str
) -> None:
    """The JWT binds the body and is signed by the server's key only: a forged delivery fails."""
    client = hangar.client()
    hangar.script.set(turn("answer"))
    client.interactions.create(
        model=MODEL, input="work", background=True, webhook_config={"uris": [receiver.url(path)]}
    )
    (delivery,) = receiver.wait_for(_at(path))
    claims = verified_jwt(hangar, delivery, receiver.url(path))
    tampered = delivery.body.replace(b"completed", b"failed")
    assert _digest(tampered) != claims["body_sha256"]
    with pytest.raises(jwt.InvalidAudienceError):
        verified_jwt(hangar, delivery, receiver.url("/another-receiver"))
    forged = jwt.encode(
        {**claims}, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
        headers={"kid": jwt.get_unverified_header(delivery.headers["webhook-signature"])["kid"]},
    )
    headers = {**delivery.headers, "webhook-signature": forged}
    with pytest.raises(jwt.InvalidSignatureError):
        verified_jwt(hangar, Delivery(delivery.path, headers, delivery.body), receiver.url(path))


def test_failing_receiver_gets_the_event_after_retries(
    hangar: HangarServer, receiver: Receiver, path: str, hooks: list[str]
) -> None:
    client = hangar.client()
    hook = client.webhooks.create(uri=receiver.url(path), subscribed_events=["interaction.completed"])
    hooks.append(hook.id)
    receiver.fail(path, 2)
    hangar.script.set(turn("eventually"))
    interaction = client.interactions.create(model=MODEL, input="hi")

    attempts = receiver.wait_for(_about(path, interaction.id), count=3)
    assert len({d.headers["webhook-id"] for d in attempts}) == 1  # one message, retried
    assert all(signature_ok(hook.new_signing_secret, d) for d in attempts)


def test_bad_webhook_config_is_refused_at_create(hangar: HangarServer) -> None:
    client = hangar.client()
    with pytest.raises(errors.BadRequestError) as caught:
        client.interactions.create(model=MODEL, input="x", webhook_config={"uris": ["ftp://example.invalid/"]})
    assert "http" in caught.value.body["error"]["message"]
