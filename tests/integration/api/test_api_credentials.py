"""Credentials (spec §11) through the real google-genai client against ``hangar serve`` in a
process of its own (its log captured to a file), with a loopback OAuth2 token endpoint.

Every secret below is a distinct random string; the test then greps every response, the server's
whole log and the raw database file for them.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from google import genai
from google.genai import types
from server_process import API_KEY, ServerProcess, fake_gemini

from runtime.config import Settings
from runtime.store import Store

SECRETS: list[str] = []
pytestmark = pytest.mark.filterwarnings("ignore:Credentials usage is experimental:UserWarning")


def secret(label: str) -> str:
    value = f"{label}-{secrets.token_hex(12)}"
    SECRETS.append(value)
    return value


class TokenEndpoint:
    """A loopback OAuth2 token endpoint: accepts one refresh token, hands out short-lived tokens."""

    def __init__(self) -> None:
        self.refresh_token = secret("refresh")
        self.client_secret = secret("client-secret")
        self.issued: list[str] = []
        self.requests: list[dict[str, list[str]]] = []
        self.expires_in = 3600
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                endpoint.requests.append(form)
                ok = (form.get("refresh_token") == [endpoint.refresh_token]
                      and form.get("client_secret") == [endpoint.client_secret]
                      and form.get("grant_type") == ["refresh_token"])
                if ok:
                    token = secret("access")
                    endpoint.issued.append(token)
                    body = {"access_token": token, "token_type": "Bearer", "expires_in": endpoint.expires_in}
                else:
                    body = {"error": "invalid_grant"}
                data = json.dumps(body).encode()
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def _other_key(data_dir: Path) -> str:
    store = Store(Settings(data_dir=data_dir).resolved_database_url)
    await store.open()
    try:
        return (await store.keys.create("other-project", "other"))[1]
    finally:
        await store.close()


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    data_dir = tmp_path_factory.mktemp("credentials")
    other = asyncio.run(_other_key(data_dir))
    with fake_gemini([]) as fake:
        process = ServerProcess(data_dir, fake.base_url, env={
            "HANGAR_SANDBOXES": "false", "HANGAR_OUTBOUND_ALLOW_HOSTS": "127.0.0.1",
        })
        process.start()
        try:
            yield process, other
        finally:
            process.stop()


def client(server: ServerProcess, key: str = API_KEY) -> genai.Client:
    # No client-side retries: the SDK retries 409s, which would hide the first answer.
    options = types.HttpOptions(base_url=server.url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=key, http_options=options)


def raw(server: ServerProcess, method: str, path: str, key: str = API_KEY, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}/v1beta{path}", headers={"x-goog-api-key": key}, timeout=30,
                         **kwargs)


def test_crud_through_the_sdk(server: tuple[ServerProcess, str], tokens: TokenEndpoint) -> None:
    process, _ = server
    sdk = client(process)  # (the client must outlive its credentials surface)
    creds = sdk.credentials
    token = secret("bearer")
    made = creds.create(type="bearer_token", id="gh", token=token, header_name="Authorization",
                        prefix="token")
    assert (made.id, made.type, made.status) == ("gh", "bearer_token", "active")
    assert made.create_time is not None
    oauth = creds.create(type="oauth2", id="svc", client_id="client-1", client_secret=tokens.client_secret,
                         refresh_token=tokens.refresh_token, token_url=tokens.url, scopes=["read", "write"])
    assert oauth.type == "oauth2"
    assert tokens.requests[-1]["scope"] == ["read write"], "the grant is checked live at create"
    env = creds.create(type="environment_variable", id="api-key", value=secret("envvalue"),
                       injection_location=["header", "query"], trusted_domains=["api.example.com"])
    assert env.type == "environment_variable"

    listed = creds.list()
    assert [c.id for c in listed.credentials or []] == ["gh", "svc", "api-key"]
    assert creds.get(id="gh").type == "bearer_token"

    before = creds.get(id="gh").update_time
    rotated = creds.update(id="gh", type="bearer_token", token=secret("bearer-rotated"))
    assert rotated.update_time is not None and before is not None and rotated.update_time >= before

    creds.delete(id="api-key")
    assert [c.id for c in creds.list().credentials or []] == ["gh", "svc"]
    assert raw(process, "GET", "/credentials/api-key").status_code == 404


def test_validation(server: tuple[ServerProcess, str], tokens: TokenEndpoint) -> None:
    process, _ = server
    body = {"type": "bearer_token", "id": "dup", "token": secret("dup")}
    assert raw(process, "POST", "/credentials", json=body).status_code == 200
    again = raw(process, "POST", "/credentials", json=body)
    assert again.status_code == 409, again.text
    unknown = raw(process, "POST", "/credentials", json={**body, "id": "x1", "colour": "red"})
    assert unknown.status_code == 400 and "colour" in unknown.text
    bad_type = raw(process, "POST", "/credentials", json={**body, "id": "x2", "type": "password"})
    assert bad_type.status_code == 400
    crlf = raw(process, "POST", "/credentials", json={**body, "id": "x3", "token": "a\r\nX-Evil: 1"})
    assert crlf.status_code == 400
    refused = raw(process, "POST", "/credentials", json={
        "type": "oauth2", "id": "o2", "client_id": "c", "client_secret": secret("wrong"),
        "refresh_token": secret("wrong-refresh"), "token_url": tokens.url,
    })
    assert refused.status_code == 400 and "invalid_grant" in refused.text
    internal = raw(process, "POST", "/credentials", json={
        "type": "oauth2", "id": "o3", "client_id": "c", "client_secret": "s", "refresh_token": "r",
        "token_url": "http://169.254.169.254/token",
    })
    assert internal.status_code == 400 and "token_url" in internal.text
    assert raw(process, "GET", "/credentials/o2").status_code == 404, "a refused grant stores nothing"
    wrong = raw(process, "PATCH", "/credentials/dup", json={"type": "oauth2", "client_id": "c"})
    assert wrong.status_code == 400
    unknown_mask = raw(process, "PATCH", "/credentials/dup", params={"update_mask": "colour"},
                       json={"type": "bearer_token"})
    assert unknown_mask.status_code == 400


def test_another_project_sees_none(server: tuple[ServerProcess, str]) -> None:
    process, other = server
    raw(process, "POST", "/credentials", json={"type": "bearer_token", "id": "mine", "token": secret("mine")})
    patch = {"json": {"type": "bearer_token", "token": "t"}}
    for method, extra in (("GET", {}), ("DELETE", {}), ("PATCH", patch)):
        answer = raw(process, method, "/credentials/mine", key=other, **extra)
        assert answer.status_code == 404, (method, answer.text)
    assert raw(process, "GET", "/credentials", key=other).json() == {"credentials": []}
    # The same id in another project is that project's own credential, not a clash.
    theirs = raw(process, "POST", "/credentials", key=other,
                 json={"type": "bearer_token", "id": "mine", "token": secret("theirs")})
    assert theirs.status_code == 200
    assert raw(process, "GET", "/credentials/mine").status_code == 200


def test_no_secret_in_responses_log_or_database(server: tuple[ServerProcess, str]) -> None:
    """Runs last in this module: every secret made above must be absent everywhere."""
    process, _ = server
    listed = raw(process, "GET", "/credentials").text
    for credential in json.loads(listed)["credentials"]:
        shown = raw(process, "GET", f"/credentials/{credential['id']}").text
        assert set(json.loads(shown)) <= {"id", "type", "status", "create_time", "update_time"}
    log = (process.data_dir / "server.log").read_bytes()
    assert log.strip(), "the server wrote a log"
    database = b"".join(p.read_bytes() for p in process.data_dir.glob("hangar.db*"))
    assert b"credentials" in database
    assert len(SECRETS) > 5
    for value in SECRETS:
        needle = value.encode()
        assert needle not in listed.encode()
        assert needle not in log, f"{value[:8]}... in the server log"
        assert needle not in database, f"{value[:8]}... in the database file"
    key_file = process.data_dir / "credentials.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
