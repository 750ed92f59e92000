"""What the server writes and shows about other tenants: a key given as ``?key=`` appears in no log
line (uvicorn's access log included), and ``/metrics`` (every project's counts) opens only with
the operator's metrics token, never with a tenant key or none."""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import METRICS_TOKEN, Target


def _wait_logged(target: Target, needle: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = target.log()
        if needle in log:
            return log
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} never logged:\n{target.server.log_tail()}")


def test_query_keys_never_reach_the_logs(target: Target) -> None:
    wrong = "hk_not_a_real_key_but_secret_5150"
    ok = httpx.get(f"{target.url}/v1beta/webhooks", params={"key": target.other_key, "page_size": 1})
    assert ok.status_code == 200, ok.text
    bad = httpx.get(f"{target.url}/v1beta/interactions/int_x", params={"key": wrong})
    assert bad.status_code == 401
    crash = httpx.post(f"{target.url}/v1beta/interactions?alt=sse&key={wrong}", content=b"[" * 10_000)
    assert crash.status_code in (400, 401)
    missing = httpx.get(f"{target.url}/v1beta/nowhere?x=1&key={target.other_key}")
    assert missing.status_code == 404
    log = _wait_logged(target, "/v1beta/nowhere?x=1&key=REDACTED")
    assert "/v1beta/webhooks?key=REDACTED&page_size=1" in log
    assert "/v1beta/interactions/int_x?key=REDACTED" in log
    assert target.other_key not in log
    assert wrong not in log


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-goog-api-key": "tenant"},
        {"authorization": "Bearer tenant"},
        {"authorization": "Bearer mt_wrong"},
    ],
)
def test_metrics_are_refused_without_the_metrics_token(target: Target, headers: dict[str, str]) -> None:
    headers = {k: v.replace("tenant", target.other_key) for k, v in headers.items()}
    response = httpx.get(f"{target.url}/metrics", headers=headers)
    assert response.status_code == 401
    assert "hangar_http_requests_total" not in response.text
    by_query = httpx.get(f"{target.url}/metrics", params={"key": target.other_key})
    assert by_query.status_code == 401


def test_the_operator_reads_metrics_with_the_token(target: Target) -> None:
    response = httpx.get(f"{target.url}/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert "hangar_http_requests_total" in response.text
