"""Operations endpoints and the deployment prefix, on the real app with a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.api import create_app
from runtime.config import Settings
from runtime.llm import ScriptedModel, forever, turn

KEY = {"x-goog-api-key": "hk_ops"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path, api_key="hk_ops", sandboxes=False, path_prefix="/hangar", metrics_token="mt_ops"
    )
    app = create_app(settings, model_client=ScriptedModel(forever(turn("hi"))))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hangar") as c:
            yield c


async def test_ready_when_database_and_worker_run(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "problems": []}


async def test_prefixed_and_plain_paths_both_serve(client: httpx.AsyncClient) -> None:
    created = await client.post("/hangar/v1/interactions", json={"model": "m", "input": "x"}, headers=KEY)
    assert created.status_code == 200 and created.json()["status"] == "completed"
    again = await client.get(f"/v1/interactions/{created.json()['id']}", headers=KEY)
    assert again.status_code == 200
    assert (await client.get("/hangarx/v1/interactions/x", headers=KEY)).status_code == 404


async def test_metrics_count_requests_by_route_and_finished_interactions(client: httpx.AsyncClient) -> None:
    await client.post("/v1/interactions", json={"model": "m", "input": "x"}, headers=KEY)
    await client.get("/v1/interactions/int_missing", headers=KEY)
    text = (await client.get("/metrics", headers={"authorization": "Bearer mt_ops"})).text
    assert 'hangar_interactions_finished_total{kind="model",status="completed"}' in text
    assert 'route="/interactions/{interaction_id}",status="404"' in text  # versions share a route
    assert "int_missing" not in text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        KEY,
        {"authorization": "Bearer hk_ops"},
        {"authorization": "Bearer mt_opsX"},
        {"authorization": "mt_ops"},
    ],
)
async def test_metrics_need_the_metrics_token_not_a_tenant_key(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert "hangar_http_requests_total" not in response.text


async def test_metrics_are_not_served_without_a_token(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, api_key="hk_ops", sandboxes=False))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://hangar")
    async with app.router.lifespan_context(app), client as c:
        response = await c.get("/metrics", headers={"authorization": "Bearer anything"})
    assert response.status_code == 404
    assert "hangar_" not in response.text
