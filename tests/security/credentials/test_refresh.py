"""Secrets change while a box lives: an OAuth2 access token is refreshed before it expires, and a
rotated bearer token (``PATCH``) replaces the old one, both in the running box's proxy policy."""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from creds_harness import PORT, Upstream
from env_harness import Served

from runtime.sandbox.base import EgressRule, SandboxSpec
from runtime.service.sandboxes import docker_backend
from runtime.store import DEFAULT_PROJECT

pytestmark = [pytest.mark.docker,
              pytest.mark.filterwarnings("ignore:Credentials usage is experimental:UserWarning")]


class TokenEndpoint:
    """Hands out a new access token for every grant, valid 60 s (inside the refresh margin)."""

    def __init__(self) -> None:
        self.refresh_token = f"refresh-{secrets.token_hex(8)}"
        self.issued: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                ok = form.get("refresh_token") == [endpoint.refresh_token]
                token = f"oauth-{len(endpoint.issued)}-{secrets.token_hex(6)}"
                if ok:
                    endpoint.issued.append(token)
                answer = {"access_token": token, "expires_in": 60} if ok else {"error": "invalid_grant"}
                data = json.dumps(answer)
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data.encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


def authorization(upstream: Upstream, path: str) -> str | None:
    (seen,) = [r for r in upstream.requests() if r["path"] == path]
    return {k.lower(): v for k, v in seen["headers"].items()}.get("authorization")


def box_spec(upstream: Upstream, credential: str) -> SandboxSpec:
    image = upstream.docker.api.inspect_container(upstream.container_id)["Config"]["Image"]
    return SandboxSpec(
        image=image, network="allowlist", allowed_domains=("secure.test",), cpus=0.5, memory_mb=256,
        egress_rules=(EgressRule(domain="secure.test", credential=credential),),
        credential_scope=DEFAULT_PROJECT,
    )


def test_oauth2_token_refreshed_and_bearer_rotated(
    served: Served, upstream: Upstream, tokens: TokenEndpoint
) -> None:
    client = served.server.client()
    client.credentials.create(type="oauth2", id="svc", client_id="c1", client_secret="s1",
                              refresh_token=tokens.refresh_token, token_url=tokens.url)
    assert len(tokens.issued) == 1, "checked live at create"
    client.credentials.create(type="bearer_token", id="rot", token="first-token")
    provider = docker_backend(served.services.environments.provider)  # under the warm paths
    assert provider is not None

    async def scenario() -> tuple[list[str], dict[str, str]]:
        async with await provider.create(box_spec(upstream, "svc")) as oauth_box, \
                await provider.create(box_spec(upstream, "rot")) as bearer_box:
            seen: list[Any] = []
            last: dict[str, str] = {}
            boxes = (("o", oauth_box), ("b", bearer_box))
            for name, box in boxes:
                seen.append(await fetch(box, f"/{name}1"))
            # (the service itself: this runs on the server's loop, where the SDK would block it)
            await served.services.credentials.update(
                DEFAULT_PROJECT, "rot", {"type": "bearer_token", "token": "second-token"}, None
            )
            await provider.egress.refresh()  # type: ignore[attr-defined]  (what its loop does)
            # The proxy picks up the rewritten policy on its next look (every few ms): ask until
            # it answers with the new secret, within a bound.
            for name, box in boxes:
                before = authorization(upstream, f"/{name}1")
                for attempt in range(40):
                    path = f"/{name}2-{attempt}"
                    seen.append(await fetch(box, path))
                    last[name] = authorization(upstream, path) or ""
                    if last[name] != before:
                        break
                    await asyncio.sleep(0.25)
            return seen, last

    async def fetch(box: Any, path: str) -> str:
        result = await box.client.exec(
            ["curl", "-sS", f"https://secure.test:{PORT}{path}"], timeout_s=60, max_output_bytes=4096,
        )
        return str(result.stdout + result.stderr)

    outputs, last = served.call(scenario())
    assert all("seen" in out for out in outputs), outputs
    # The token of create expires within the refresh margin: the box's policy got a fresh one at
    # start, and a newer one at the refresh.
    first = authorization(upstream, "/o1")
    assert first is not None and first.removeprefix("Bearer ") in tokens.issued[1:]
    second = last["o"].removeprefix("Bearer ")
    assert second in tokens.issued and tokens.issued.index(second) > tokens.issued.index(
        first.removeprefix("Bearer ")
    ), "the refreshed OAuth2 token reaches the running box"
    assert authorization(upstream, "/b1") == "Bearer first-token"
    assert last["b"] == "Bearer second-token", "PATCH rotates the secret"
