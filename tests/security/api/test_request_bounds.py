"""Unauthenticated memory exhaustion and parser abuse, against the real server process: a 300 MB
chunked body is cut off (401 before the body without a key, 413 at the limit with one) without the
server reading it all or growing; deeply nested JSON is a 400, not a 500."""

from __future__ import annotations

import httpx
import pytest
from conftest import Target
from streaming import declare_only, peak_rss_bytes, stream_body

MB = 1024 * 1024
HUGE = 300 * MB
LIMIT = 8 * MB  # the default HANGAR_MAX_REQUEST_BYTES
SOCKET_SLACK = 16 * MB
"""What loopback socket buffers can hold on both sides before the sender blocks."""


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/webhooks"),
        ("PATCH", "/v1beta/webhooks/wh_x"),
        ("POST", "/v1beta/interactions"),
        ("POST", "/v1/agents"),
        ("POST", "/v1beta/environments"),
    ],
)
@pytest.mark.parametrize("key", [None, "hk_wrong"])
def test_a_huge_unauthenticated_body_is_401_before_it_is_read(
    target: Target, method: str, path: str, key: str | None
) -> None:
    pid = target.server.process.pid  # type: ignore[union-attr]
    before = peak_rss_bytes(pid)
    headers = {"x-goog-api-key": key} if key else {}
    outcome = stream_body(target.server.port, path, HUGE, headers, method=method)
    assert outcome.status == 401, outcome.response
    assert outcome.sent < SOCKET_SLACK, f"the server read {outcome.sent / MB:.0f} MB before answering"
    assert peak_rss_bytes(pid) - before < 32 * MB


@pytest.mark.parametrize("path", ["/v1/webhooks", "/v1beta/interactions", "/v1beta/environments"])
def test_a_huge_authenticated_body_is_413_at_the_limit(target: Target, path: str) -> None:
    pid = target.server.process.pid  # type: ignore[union-attr]
    before = peak_rss_bytes(pid)
    outcome = stream_body(target.server.port, path, HUGE, {"x-goog-api-key": target.other_key})
    assert outcome.status == 413, outcome.response
    assert outcome.sent < LIMIT + SOCKET_SLACK, f"the server read {outcome.sent / MB:.0f} MB"
    assert peak_rss_bytes(pid) - before < 64 * MB


def test_a_declared_huge_length_is_413_before_any_byte_arrives(target: Target) -> None:
    answer = declare_only(
        target.server.port, "/v1beta/interactions", HUGE, {"x-goog-api-key": target.other_key}
    )
    assert answer.startswith(b"HTTP/1.1 413 "), answer


@pytest.mark.parametrize(
    "path", ["/v1beta/interactions", "/v1beta/webhooks", "/v1beta/agents", "/v1beta/environments"]
)
@pytest.mark.parametrize("depth", [65, 5_000, 200_000])
def test_deeply_nested_json_is_a_400(target: Target, path: str, depth: int) -> None:
    body = b'{"input": ' + b"[" * depth + b"]" * depth + b"}"
    response = httpx.post(
        f"{target.url}{path}",
        content=body,
        headers={"x-goog-api-key": target.other_key, "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_argument"
    assert "nested deeper than 64" in response.json()["error"]["message"]
    assert httpx.get(f"{target.url}/healthz").status_code == 200
