"""Attacks on triggers and on the webhook signing keys, against a real ``hangar serve`` process:
a second tenant reaches for the first one's triggers, environments and agents; a tenant schedules
runs that would make the server contact internal addresses; a reader of the JWKS looks for the
private key. Raw HTTP and the real google-genai SDK."""

from __future__ import annotations

import stat

import httpx
import pytest
from conftest import Target
from test_outbound_refused_at_create import SPELLINGS

BASE = {"schedule": "0 9 * * *", "time_zone": "UTC"}


def _headers(key: str) -> dict[str, str]:
    return {"x-goog-api-key": key}


def _victim_trigger(target: Target) -> str:
    body = {**BASE, "interaction": {"agent": "antigravity", "input": "victim's job"}, "display_name": "mine"}
    created = httpx.post(f"{target.url}/v1/triggers", json=body, headers=_headers(target.dev_key))
    assert created.status_code == 200, created.text
    return str(created.json()["id"])


def test_another_tenant_cannot_touch_a_trigger(target: Target) -> None:
    trigger = _victim_trigger(target)
    thief = _headers(target.other_key)
    url = f"{target.url}/v1/triggers/{trigger}"
    attempts = [
        httpx.get(url, headers=thief),
        httpx.patch(url, json={"status": "paused", "display_name": "stolen"}, headers=thief),
        httpx.post(f"{url}/executions", headers=thief),
        httpx.get(f"{url}/executions", headers=thief),
        httpx.delete(url, headers=thief),
    ]
    assert [r.status_code for r in attempts] == [404] * 5, [r.text for r in attempts]
    listed = httpx.get(f"{target.url}/v1/triggers", headers=thief).json()
    assert trigger not in [t["id"] for t in listed.get("triggers", [])]
    mine = httpx.get(url, headers=_headers(target.dev_key)).json()
    assert (mine["status"], mine["display_name"]) == ("active", "mine")
    runs = httpx.get(f"{url}/executions", headers=_headers(target.dev_key)).json()
    assert runs["trigger_executions"] == []
    httpx.delete(url, headers=_headers(target.dev_key))


def test_another_tenants_environment_and_agent_cannot_be_scheduled(target: Target) -> None:
    owner = _headers(target.dev_key)
    environment = httpx.post(f"{target.url}/v1/environments", json={}, headers=owner).json()["id"]
    agent = httpx.post(
        f"{target.url}/v1/agents", json={"id": "victim-agent", "base_agent": "antigravity"}, headers=owner
    )
    assert agent.status_code == 200, agent.text
    thief = _headers(target.other_key)
    try:
        job = {"agent": "antigravity", "input": "x"}
        on_env = {**BASE, "interaction": job, "environment_id": environment}
        in_env = {**BASE, "interaction": {**job, "environment": environment}}
        remote = {"type": "remote", "environment_id": environment}
        in_object = {**BASE, "interaction": {**job, "environment": remote}}
        as_agent = {**BASE, "interaction": {"agent": "victim-agent", "input": "x"}}
        for body in (on_env, in_env, in_object, as_agent):
            response = httpx.post(f"{target.url}/v1/triggers", json=body, headers=thief)
            assert response.status_code == 404, response.text
        assert httpx.get(f"{target.url}/v1/triggers", headers=thief).json().get("triggers", []) == []
    finally:
        httpx.delete(f"{target.url}/v1/agents/victim-agent", headers=owner)
        httpx.delete(f"{target.url}/v1/environments/{environment}", headers=owner)


@pytest.mark.parametrize("host", [*SPELLINGS[:8], "169.254.169.254", "10.0.0.1"])
def test_scheduled_runs_cannot_aim_at_internal_addresses(target: Target, host: str) -> None:
    url = f"http://{host}:{target.internal.port}/x"
    hook = {"agent": "antigravity", "input": "x", "webhook_config": {"uris": [url]}}
    tool = {"agent": "antigravity", "input": "x", "tools": [{"type": "mcp_server", "name": "m", "url": url}]}
    for interaction, field in ((hook, "webhook_config.uris[0]"), (tool, "tools[0].url")):
        response = httpx.post(
            f"{target.url}/v1/triggers", json={**BASE, "interaction": interaction},
            headers=_headers(target.other_key),
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "outbound_url_refused"
        assert f"`{field}`" in response.json()["error"]["message"]
    assert target.internal.seen == []


def test_jwks_serves_the_public_key_only_and_the_key_file_is_private(target: Target) -> None:
    response = httpx.get(f"{target.url}/.well-known/jwks.json")
    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and {"n", "e", "kid"} <= set(key)
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private key material in the JWKS"
    path = target.server.data_dir / "webhook_jwt_key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
