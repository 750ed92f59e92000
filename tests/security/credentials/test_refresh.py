"""Secrets change while a box lives: an OAuth2 access token is refreshed before it expires, and a
rotated bearer token (``PATCH``) replaces the old one, both in the running box's proxy policy."""

from __future__ import annotations

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
    provider = served.services.environments.provider
    assert provider is not None

    async def scenario() -> list[str]:
        async with await provider.create(box_spec(upstream, "svc")) as oauth_box, \
                await provider.create(box_spec(upstream, "rot")) as bearer_box:
            seen: list[Any] = []
            for step in ("1", "2"):
                for name, box in (("o", oauth_box), ("b", bearer_box)):
                    result = await box.client.exec(
                        ["curl", "-sS", f"https://secure.test:{PORT}/{name}{step}"], timeout_s=60,
                        max_output_bytes=4096,
                    )
                    seen.append(result.stdout + result.stderr)
                if step == "1":
                    # (the service itself: this runs on the server's loop, where the SDK would block it)
                    await served.services.credentials.update(
                        DEFAULT_PROJECT, "rot", {"type": "bearer_token", "token": "second-token"}, None
                    )
                    await provider.egress.refresh()  # type: ignore[attr-defined]  (what its loop does)
            return seen

    outputs = served.call(scenario())
    assert all("seen" in out for out in outputs), outputs
    # The token of create expired within the margin: the box's policy got a fresh one, then another.
    assert authorization(upstream, "/o1") == f"Bearer {tokens.issued[1]}"
    assert authorization(upstream, "/o2") == f"Bearer {tokens.issued[2]}"
    assert authorization(upstream, "/b1") == "Bearer first-token"
    assert authorization(upstream, "/b2") == "Bearer second-token", "PATCH rotates the secret"
