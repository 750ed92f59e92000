"""``/openapi.json`` describes the request bodies the routes really validate.

Every POST/PATCH/PUT operation either documents its body (the schema of the model the route
validates with, or bytes for uploads) or is declared body-less here; and the document and the
server agree both ways on sample bodies: a body valid per the document is not refused for its
shape, and a body the document rejects (an unknown field, a wrong type) is a 400 naming it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jsonschema
import pytest
from api_harness import HangarServer
from pydantic import BaseModel

from runtime.agents import AgentSpec
from runtime.api.openapi import request_body
from runtime.llm.script import turn
from runtime.request_models import CreateInteractionBody
from runtime.service.agents import AGENT_BODY_FIELDS
from runtime.service.credentials import CREATE_BODY, UPDATE_BODY
from runtime.service.environments import CreateEnvironment
from runtime.service.triggers import TriggerCreate, TriggerUpdate
from runtime.service.webhooks import RotateSigningSecretRequest, WebhookInput, WebhookUpdate

JSON_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/interactions"): request_body(CreateInteractionBody),
    ("post", "/agents"): request_body(AgentSpec, only=AGENT_BODY_FIELDS),
    ("post", "/environments"): request_body(CreateEnvironment),
    ("post", "/webhooks"): request_body(WebhookInput),
    ("patch", "/webhooks/{webhook_id}"): request_body(WebhookUpdate),
    ("post", "/webhooks/{webhook_id}:rotateSigningSecret"): request_body(
        RotateSigningSecretRequest, required=False
    ),
    ("post", "/triggers"): request_body(TriggerCreate),
    ("post", "/credentials"): request_body(CREATE_BODY),
    ("patch", "/credentials/{credential_id}"): request_body(UPDATE_BODY),
    ("patch", "/triggers/{trigger_id}"): request_body(TriggerUpdate),
}
"""Operation (method, path after the version) → the ``requestBody`` of the model its route validates with."""
RAW_BODIES = {
    ("put", "/environments/{environment_id}/files/{path}"),
    ("post", "/environments/{environment_id}/files/{path}"),
}
BODYLESS = {
    ("post", "/interactions/{interaction_id}/cancel"),
    ("post", "/webhooks/{webhook_id}:ping"),
    ("post", "/triggers/{trigger_id}/executions"),
}
VERSIONS = ("v1", "v1beta", "v1alpha")


def _document(hangar: HangarServer) -> dict[str, Any]:
    response = httpx.get(f"{hangar.url}/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _operation_key(path: str) -> tuple[str, str]:
    """``/upload/v1beta/environments/...`` → (``upload``, ``/environments/...``)."""
    parts = path.split("/")
    if parts[1] == "upload":
        return "upload", "/" + "/".join(parts[3:])
    assert parts[1] in VERSIONS, path
    return "api", "/" + "/".join(parts[2:])


def test_every_write_operation_documents_the_body_its_route_validates(hangar: HangarServer) -> None:
    seen = set()
    for path, operations in _document(hangar)["paths"].items():
        for method, operation in operations.items():
            if method not in ("post", "patch", "put"):
                continue
            kind, rest = _operation_key(path)
            key = (method, rest)
            seen.add(key)
            documented = operation.get("requestBody")
            if key in BODYLESS:
                assert documented is None, f"{method} {path} takes no body"
            elif kind == "upload":
                assert key in RAW_BODIES, f"{method} {path}"
                assert documented["content"]["application/octet-stream"]["schema"]["format"] == "binary"
            else:
                assert key in JSON_BODIES, f"{method.upper()} {path}: body not documented or not known here"
                assert documented == _served(JSON_BODIES[key]["requestBody"]), f"{method} {path}"
    assert seen >= set(JSON_BODIES) | RAW_BODIES | BODYLESS


def _served(node: Any) -> Any:
    """``node`` as FastAPI serves it (keys whose value is ``None``, such as ``default: null``, left out)."""
    if isinstance(node, dict):
        return {k: _served(v) for k, v in node.items() if v is not None}
    if isinstance(node, list):
        return [_served(item) for item in node]
    return node


def test_the_documented_schemas_stand_alone(hangar: HangarServer) -> None:
    text = httpx.get(f"{hangar.url}/openapi.json").text
    assert "#/$defs/" not in text  # every reference inlined, discriminator mappings included


def test_the_upload_type_is_documented_as_the_route_reads_it(hangar: HangarServer) -> None:
    operation = _document(hangar)["paths"]["/upload/v1beta/environments/{environment_id}/files/{path}"][
        "post"
    ]
    (upload_type,) = [p for p in operation["parameters"] if p["name"] == "uploadType"]
    assert upload_type["in"] == "query"
    assert upload_type["schema"]["anyOf"][0]["enum"] == ["media", "resumable"]


def _schema(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation = document["paths"][f"/v1beta{path}"][method]
    return dict(operation["requestBody"]["content"]["application/json"]["schema"])


def _send(hangar: HangarServer, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.request(
        method,
        f"{hangar.url}/v1beta{path}",
        json=body,
        headers={"x-goog-api-key": hangar.dev_key},
        timeout=60,
    )


def _webhook(hangar: HangarServer) -> str:
    body = {"uri": "http://127.0.0.1:9/hook", "subscribed_events": ["interaction.completed"]}
    response = _send(hangar, "post", "/webhooks", body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def _agent_id() -> str:
    return f"doc-agent-{uuid.uuid4().hex[:8]}"


# (method, path, body valid per the document, body it rejects, the field the 400 names)
CASES: list[tuple[str, str, Any, dict[str, Any], str]] = [
    ("post", "/environments", {}, {"source": []}, "source"),
    ("post", "/environments", {"network": "disabled"}, {"network": 7}, "network"),
    (
        "post",
        "/environments",
        {"sources": [{"type": "inline", "target": "/workspace/a.txt", "content": "hi"}]},
        {"sources": [{"type": "inline", "target": "a.txt", "content": "hi", "mode": "x"}]},
        "mode",
    ),
    (
        "post",
        "/webhooks",
        {"uri": "http://127.0.0.1:9/a", "subscribed_events": ["interaction.failed"], "name": "n"},
        {"uri": "http://127.0.0.1:9/a", "subscribed_events": ["interaction.failed"], "secret": "s"},
        "secret",
    ),
    (
        "post",
        "/webhooks",
        {"uri": "http://127.0.0.1:9/a", "subscribed_events": ["interaction.completed"]},
        {"uri": "http://127.0.0.1:9/a", "subscribed_events": ["interaction.finished"]},
        "interaction.finished",
    ),
    ("patch", "/webhooks/{id}", {"name": "renamed"}, {"nmae": "renamed"}, "nmae"),
    (
        "post",
        "/webhooks/{id}:rotateSigningSecret",
        {"revocation_behavior": "revoke_previous_secrets_immediately"},
        {"revocation": "now"},
        "revocation",
    ),
    (
        "post",
        "/agents",
        {"id": "{agent}", "system_instruction": "be brief"},
        {"id": "{agent}", "tols": []},
        "tols",
    ),
    (
        "post",
        "/interactions",
        {"model": "gemini-3-flash-preview", "input": "hi", "background": True, "store": True},
        {"model": "gemini-3-flash-preview", "input": "hi", "generation_config": {"temperature": "hot"}},
        "temperature",
    ),
]


@pytest.mark.parametrize(("method", "path", "valid", "invalid", "named"), CASES)
def test_the_document_and_the_route_agree_on_sample_bodies(
    hangar: HangarServer, method: str, path: str, valid: Any, invalid: dict[str, Any], named: str
) -> None:
    hangar.script.set(*[_turn()] * 2)
    document = _document(hangar)
    schema = _schema(document, method, path.replace("{id}", "{webhook_id}"))
    agent = _agent_id()
    valid = _fill(valid, agent)
    invalid = _fill(invalid, agent)
    jsonschema.Draft202012Validator(schema).validate(valid)
    assert not jsonschema.Draft202012Validator(schema).is_valid(invalid)
    webhook = _webhook(hangar) if "{id}" in path else None
    target = path.replace("{id}", webhook or "")
    accepted = _send(hangar, method, target, valid)
    try:
        assert accepted.status_code == 200, accepted.text
        refused = _send(hangar, method, target, invalid)
        assert refused.status_code == 400, refused.text
        assert named in refused.json()["error"]["message"]
    finally:
        _clean_up(hangar, path, accepted.json(), webhook)


def _turn() -> Any:
    return turn("ok")


def _fill(body: Any, agent: str) -> Any:
    if isinstance(body, dict):
        return {k: _fill(v, agent) for k, v in body.items()}
    return agent if body == "{agent}" else body


def _clean_up(hangar: HangarServer, path: str, created: dict[str, Any], webhook: str | None) -> None:
    """Remove what the sample made (a webhook left behind would get the other tests' events)."""
    if webhook is not None:
        _send(hangar, "delete", f"/webhooks/{webhook}", {})
    if path == "/webhooks" and "id" in created:
        _send(hangar, "delete", f"/webhooks/{created['id']}", {})
    if path == "/environments" and "id" in created:
        _send(hangar, "delete", f"/environments/{created['id']}", {})
    elif path == "/agents" and "id" in created:
        _send(hangar, "delete", f"/agents/{created['id']}", {})


def _doc_models() -> list[type[BaseModel]]:
    return [CreateEnvironment, WebhookInput, WebhookUpdate, RotateSigningSecretRequest]


@pytest.mark.parametrize("model", _doc_models())
def test_refused_unknown_fields_are_documented_as_refused(model: type[BaseModel]) -> None:
    schema = request_body(model)["requestBody"]["content"]["application/json"]["schema"]
    assert schema.get("additionalProperties") is False, model.__name__
