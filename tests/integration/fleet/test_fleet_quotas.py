"""A per-project limit holds across servers: with two runs in progress (created on one server),
a third create on the other server is refused with 429, ``Retry-After`` and the limit's name."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fleet_harness import Fleet, wait_for
from server_process import API_KEY, fake_gemini

from runtime.llm.script import JsonDict, forever, turn

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


@pytest.mark.slow
def test_a_long_queue_of_one_project_does_not_starve_another_across_servers(fleet: Fleet) -> None:
    """Two servers running one run at a time each; project "busy" queues 8 runs, then "small"
    queues 2: fair claiming runs small's next, so they finish among the first ones (oldest-first
    would finish them last)."""
    settings = {"HANGAR_SANDBOXES": "false", "HANGAR_WORKER_CONCURRENCY": "1"}
    with fake_gemini(forever(turn("done", delay_s=1.5))) as fake:
        busy_key, small_key = fleet.project_key("busy"), fleet.project_key("small")
        servers = [fleet.add(fake.base_url, **settings), fleet.add(fake.base_url, **settings)]
        body = {"model": MODEL, "input": "hi", "background": True}

        def create(key: str, n: int) -> str:
            url = f"{servers[n % 2].url}/v1/interactions"
            response = httpx.post(url, json=body, headers={"x-goog-api-key": key}, timeout=30)
            assert response.status_code == 200, response.text
            return str(response.json()["id"])

        with ThreadPoolExecutor(8) as pool:
            busy = list(pool.map(lambda n: create(busy_key, n), range(8)))
        small = [create(small_key, n) for n in range(2)]

        def got(key: str, interaction_id: str) -> JsonDict:
            url = f"{servers[0].url}/v1/interactions/{interaction_id}"
            return dict(httpx.get(url, headers={"x-goog-api-key": key}, timeout=30).json())

        def all_done() -> bool:
            return all(got(busy_key, i)["status"] == "completed" for i in busy) and all(
                got(small_key, i)["status"] == "completed" for i in small
            )

        wait_for(all_done, 120, "every run to finish")
        finished = sorted(
            [(got(busy_key, i)["updated"], "busy") for i in busy]
            + [(got(small_key, i)["updated"], "small") for i in small]
        )
        # ``updated`` has whole seconds, so count what finished strictly after small's last run:
        # oldest-first claiming leaves none (small's two go last); fair claiming leaves several.
        last_small = max(t for t, project in finished if project == "small")
        later = sum(1 for t, project in finished if project == "busy" and t > last_small)
        assert later >= 2, finished
