"""A second tenant names internal addresses, in every spelling, as webhook targets, per-request
``webhook_config.uris`` and ``mcp_server`` URLs: each is a 400 naming the field, and the internal
server hears nothing. Raw HTTP and the real google-genai SDK."""

from __future__ import annotations

import httpx
import pytest
from conftest import Target
from google import genai
from google.genai import _interactions as errors
from google.genai import types

SPELLINGS = [
    "127.0.0.1",
    "[::1]",
    "localhost",
    "0.0.0.0",
    "0",
    "2130706433",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "0x7f000001",
    "127.1",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[2002:7f00:1::]",
    "[64:ff9b::7f00:1]",
    "[::127.0.0.1]",
    "169.254.169.254",
    "[fe80::1]",
    "10.0.0.1",
    "192.168.0.1",
    "172.16.0.1",
    "100.64.0.1",
    "[fd00::1]",
    "224.0.0.1",
]


def _urls(target: Target) -> list[str]:
    # the internal server's own port, so a contact would show in its records
    return [f"http://{host}:{target.internal.port}/hook" for host in SPELLINGS]


def _refused(response: httpx.Response, field: str) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "outbound_url_refused", error
    assert f"`{field}`" in error["message"], error
    assert "host " in error["message"], error
    return str(error["message"])


def _headers(target: Target) -> dict[str, str]:
    return {"x-goog-api-key": target.other_key}


@pytest.mark.parametrize("host", SPELLINGS)
def test_webhook_uri_is_refused(target: Target, host: str) -> None:
    url = f"http://{host}:{target.internal.port}/hook"
    body = {"uri": url, "subscribed_events": ["interaction.completed"]}
    response = httpx.post(f"{target.url}/v1beta/webhooks", json=body, headers=_headers(target))
    message = _refused(response, "uri")
    assert host.strip("[]").lower() in message.lower()
    assert target.internal.seen == []


def test_webhook_update_to_an_internal_uri_is_refused(target: Target) -> None:
    create = {"uri": target.receiver.url(), "subscribed_events": ["interaction.completed"]}
    created = httpx.post(f"{target.url}/v1beta/webhooks", json=create, headers=_headers(target))
    assert created.status_code == 200, created.text
    hook = created.json()["id"]
    for url in _urls(target):
        response = httpx.patch(
            f"{target.url}/v1beta/webhooks/{hook}", json={"uri": url}, headers=_headers(target)
        )
        _refused(response, "uri")
    got = httpx.get(f"{target.url}/v1beta/webhooks/{hook}", headers=_headers(target)).json()
    assert got["uri"] == target.receiver.url()
    assert target.internal.seen == []


def test_per_request_webhook_uris_are_refused(target: Target) -> None:
    for url in _urls(target):
        body = {
            "model": "gemini-3-flash-preview",
            "input": "hi",
            "background": True,
            "webhook_config": {"uris": [target.receiver.url(), url]},
        }
        response = httpx.post(f"{target.url}/v1beta/interactions", json=body, headers=_headers(target))
        _refused(response, "webhook_config.uris[1]")
    assert target.internal.seen == []


def test_mcp_server_tools_are_refused_on_interactions_and_agents(target: Target) -> None:
    for url in _urls(target):
        tool = {"type": "mcp_server", "name": "inside", "url": url, "headers": {"Authorization": "Bearer t"}}
        body = {"agent": "antigravity", "input": "hi", "background": True, "tools": [tool]}
        response = httpx.post(f"{target.url}/v1beta/interactions", json=body, headers=_headers(target))
        _refused(response, "tools[0].url")
        agent = {"id": "sneaky", "base_agent": "antigravity", "tools": [tool]}
        response = httpx.post(f"{target.url}/v1beta/agents", json=agent, headers=_headers(target))
        _refused(response, "tools[0].url")
    assert target.internal.seen == []


def test_the_sdk_gets_a_bad_request_for_internal_targets(target: Target) -> None:
    options = types.HttpOptions(base_url=target.url)
    with genai.Client(api_key=target.other_key, http_options=options) as client:
        for url in (_urls(target)[0], _urls(target)[5], _urls(target)[10]):
            with pytest.raises(errors.BadRequestError) as caught:
                client.webhooks.create(uri=url, subscribed_events=["interaction.completed"])
            assert caught.value.body["error"]["code"] == "outbound_url_refused"
            with pytest.raises(errors.BadRequestError) as caught:
                client.interactions.create(
                    model="gemini-3-flash-preview",
                    input="hi",
                    background=True,
                    webhook_config={"uris": [url]},
                )
            assert "webhook_config.uris[0]" in caught.value.body["error"]["message"]
    assert target.internal.seen == []


def test_allowed_receivers_are_accepted_but_not_their_other_spellings(target: Target) -> None:
    ok = {"uri": target.receiver.url(), "subscribed_events": ["interaction.completed"]}
    assert httpx.post(f"{target.url}/v1beta/webhooks", json=ok, headers=_headers(target)).status_code == 200
    port = target.receiver.port
    for host in ("127.1", "2130706433", "localhost", "[::ffff:127.0.0.1]"):
        body = {"uri": f"http://{host}:{port}/hook", "subscribed_events": ["interaction.completed"]}
        _refused(httpx.post(f"{target.url}/v1beta/webhooks", json=body, headers=_headers(target)), "uri")
