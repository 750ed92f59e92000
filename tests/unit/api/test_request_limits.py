"""Request bodies: size capped while reading (every route, chunked too), auth before the body,
nesting bounded; on the real app with a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.api import create_app
from runtime.api.body import depth_exceeds, parse_object
from runtime.config import Settings
from runtime.errors import InputError
from runtime.llm import ScriptedModel, forever, turn

KEY = {"x-goog-api-key": "hk_limits"}
LIMIT = 64 * 1024


class Chunks:
    """A chunked body (no Content-Length) that counts what the server pulled from it."""

    def __init__(self, total: int, chunk: int = 16 * 1024) -> None:
        self.total, self.chunk, self.sent = total, chunk, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += self.chunk
            yield b"{" * self.chunk


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path,
        api_key="hk_limits",
        sandboxes=False,
        max_request_bytes=LIMIT,
        max_upload_bytes=4 * LIMIT,
        max_json_depth=32,
    )
    app = create_app(settings, model_client=ScriptedModel(forever(turn("hi"))))
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://h") as c,
    ):
        yield c


@pytest.mark.parametrize("path", ["/v1/interactions", "/v1/webhooks", "/v1/agents", "/v1/environments"])
async def test_a_chunked_body_past_the_limit_is_413_and_not_read_further(
    client: httpx.AsyncClient, path: str
) -> None:
    body = Chunks(50 * LIMIT)
    response = await client.post(path, content=body, headers=KEY)
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "request_too_large"
    assert body.sent <= LIMIT + body.chunk


async def test_a_declared_length_past_the_limit_is_413_before_reading(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/interactions", content=b"x" * (LIMIT + 1), headers={**KEY, "content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/webhooks"),
        ("PATCH", "/v1/webhooks/wh_x"),
        ("POST", "/v1/webhooks/wh_x:rotateSigningSecret"),
        ("POST", "/v1/interactions"),
        ("POST", "/v1beta/agents"),
        ("POST", "/v1/environments"),
    ],
)
async def test_no_key_is_401_before_any_body_is_read(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    body = Chunks(LIMIT // 2)
    response = await client.request(method, path, content=body, headers={"x-goog-api-key": "wrong"})
    assert response.status_code == 401, response.text
    assert body.sent == 0


async def test_uploads_keep_their_own_larger_limit(client: httpx.AsyncClient) -> None:
    body = Chunks(2 * LIMIT)
    response = await client.post("/upload/v1/environments/env_x/files/a.txt?upload_id=nope", content=body)
    assert response.status_code != 413  # past the API limit, within the upload limit: the route decides
    big = Chunks(50 * LIMIT)
    response = await client.post("/upload/v1/environments/env_x/files/a.txt?upload_id=nope", content=big)
    assert big.sent <= 4 * LIMIT + big.chunk


async def test_deep_json_is_a_400(client: httpx.AsyncClient) -> None:
    for depth in (33, 30_000):
        deep = b'{"model": "m", "input": ' + b"[" * depth + b"]" * depth + b"}"
        response = await client.post("/v1/interactions", content=deep, headers=KEY)
        assert response.status_code == 400, response.text
        assert "nested deeper than 32" in response.json()["error"]["message"]
    ok = await client.post("/v1/interactions", json={"model": "m", "input": "hi"}, headers=KEY)
    assert ok.status_code == 200


def test_depth_is_measured_without_recursion() -> None:
    assert not depth_exceeds({"a": [1, {"b": 2}]}, 3)
    assert depth_exceeds({"a": [1, {"b": []}]}, 3)
    nested: object = []
    for _ in range(50_000):
        nested = [nested]
    assert depth_exceeds(nested, 64)
    with pytest.raises(InputError, match="nested deeper"):
        parse_object(b'{"a":' + b"[" * 200 + b"]" * 200 + b"}", max_depth=64)


async def test_the_upload_limit_holds_under_the_path_prefix(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        api_key="hk_limits",
        sandboxes=False,
        max_request_bytes=LIMIT,
        max_upload_bytes=4 * LIMIT,
        path_prefix="/hangar",
    )
    app = create_app(settings, model_client=ScriptedModel(forever(turn("hi"))))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://h")
    async with app.router.lifespan_context(app), client as c:
        upload = await c.post(
            "/hangar/upload/v1/environments/e/files/a?upload_id=x", content=Chunks(2 * LIMIT)
        )
        assert upload.status_code != 413
        api = await c.post("/hangar/v1/interactions", content=Chunks(2 * LIMIT), headers=KEY)
        assert api.status_code == 413
