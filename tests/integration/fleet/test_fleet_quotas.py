"""A per-project limit holds across servers: with two runs in progress (created on one server),
a third create on the other server is refused with 429, ``Retry-After`` and the limit's name."""

from __future__ import annotations

import httpx
import pytest
from fleet_harness import Fleet, wait_for
from server_process import API_KEY, fake_gemini

from runtime.llm.script import forever, turn

MODEL = "gemini-3-flash-preview"


@pytest.mark.slow
def test_over_the_running_limit_is_a_429_with_retry_after_on_any_server(fleet: Fleet) -> None:
    settings = {"HANGAR_SANDBOXES": "false", "HANGAR_PROJECT_MAX_RUNNING_INTERACTIONS": "2"}
    with fake_gemini(forever(turn("done", delay_s=3.0))) as fake:
        first, second = fleet.add(fake.base_url, **settings), fleet.add(fake.base_url, **settings)
        headers = {"x-goog-api-key": API_KEY}
        body = {"model": MODEL, "input": "hi", "background": True}
        ids = []
        for _ in range(2):
            created = httpx.post(f"{first.url}/v1/interactions", json=body, headers=headers, timeout=30)
            assert created.status_code == 200, created.text
            ids.append(created.json()["id"])
        refused = httpx.post(f"{second.url}/v1/interactions", json=body, headers=headers, timeout=30)
        assert refused.status_code == 429, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        error = refused.json()["error"]
        assert error["code"] == "resource_exhausted"
        assert "HANGAR_PROJECT_MAX_RUNNING_INTERACTIONS" in error["message"], error

        def finished() -> bool:
            statuses = [httpx.get(f"{second.url}/v1/interactions/{i}", headers=headers).json() for i in ids]
            return all(s["status"] == "completed" for s in statuses)

        wait_for(finished, 60, "the two runs to finish")
        again = httpx.post(f"{second.url}/v1/interactions", json=body, headers=headers, timeout=30)
        assert again.status_code == 200, again.text  # a place is free again
