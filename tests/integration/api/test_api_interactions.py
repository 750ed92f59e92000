"""The Interactions API as the google-genai SDK sees it."""

from __future__ import annotations

import base64
import time

import pytest
from api_harness import HangarServer
from google import genai
from google.genai import _interactions as errors

from runtime.llm.script import call, echoes_signature, turn

MODEL = "gemini-3-flash-preview"


def test_create_returns_completed_interaction_with_output_and_usage(hangar: HangarServer) -> None:
    hangar.script.set(turn("Hello from the fake.", usage={"prompt": 5, "output": 4}))
    client = hangar.client()
    interaction = client.interactions.create(model=MODEL, input="hi")
    assert interaction.status == "completed"
    assert interaction.output_text == "Hello from the fake."
    assert [s.type for s in interaction.steps] == ["user_input", "model_output"]
    assert interaction.usage.total_input_tokens == 5
    assert interaction.usage.total_output_tokens == 4
    assert hangar.script.requests[0]["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def _wait_terminal(client: genai.Client, interaction_id: str, limit: float = 10.0) -> object:
    deadline = time.monotonic() + limit
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.05)


def test_background_create_then_get_until_completed(hangar: HangarServer) -> None:
    hangar.script.set(turn("done in the background", delay_s=0.3))
    client = hangar.client()
    created = client.interactions.create(model=MODEL, input="work", background=True)
    assert created.status == "in_progress"
    assert created.id
    final = _wait_terminal(client, created.id)
    assert final.status == "completed"
    assert final.output_text == "done in the background"


def test_previous_interaction_id_continues_the_conversation(hangar: HangarServer) -> None:
    hangar.script.set(turn("I am Fake."), turn("You asked my name."))
    client = hangar.client(api_version="v1beta")
    first = client.interactions.create(model=MODEL, input="What is your name?")
    second = client.interactions.create(
        model=MODEL, input="What did I ask?", previous_interaction_id=first.id
    )
    assert second.status == "completed"
    assert second.previous_interaction_id == first.id
    assert second.output_text == "You asked my name."
    contents = hangar.script.requests[1]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [{"text": "I am Fake."}]
    assert contents[2]["parts"] == [{"text": "What did I ask?"}]


def test_model_function_call_round_trip_echoes_the_thought_signature(hangar: HangarServer) -> None:
    signature = base64.b64encode(b"sig+/needs-echo").decode()
    weather = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    hangar.script.set(
        turn(calls=[call("get_weather", id="w1")], signature=signature),
        turn("Sunny.", expect=echoes_signature(signature)),
    )
    client = hangar.client()
    first = client.interactions.create(model=MODEL, input="Weather?", tools=[weather])
    assert first.status == "requires_action" and first.steps[-1].type == "function_call"
    answer = [{"type": "function_result", "call_id": "w1", "name": "get_weather", "result": "sunny"}]
    second = client.interactions.create(
        model=MODEL, input=answer, previous_interaction_id=first.id, tools=[weather]
    )
    assert second.status == "completed" and second.output_text == "Sunny."
    response = hangar.script.requests[1]["contents"][-1]["parts"][0]["functionResponse"]
    assert response["id"] == "w1" and "sunny" in str(response["response"])


def test_stream_create_yields_events_in_order_with_ids(hangar: HangarServer) -> None:
    hangar.script.set(turn("Hello streaming world", usage={"prompt": 3, "output": 3}))
    client = hangar.client()
    events = list(client.interactions.create(model=MODEL, input="hi", stream=True))
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created"
    assert kinds[1] == "interaction.status_update"
    assert kinds[2] == "step.start"
    assert kinds[-2:] == ["step.stop", "interaction.completed"]
    assert set(kinds[3:-2]) == {"step.delta"}
    assert [e.event_id for e in events] == [str(i) for i in range(1, len(events) + 1)]
    text = "".join(e.delta.text for e in events if e.event_type == "step.delta")
    assert text == "Hello streaming world"
    assert events[2].index == 1  # after the user_input step
    assert events[-1].interaction.status == "completed"
    assert events[-1].interaction.usage.total_tokens == 6


def test_get_stream_resumes_after_last_event_id(hangar: HangarServer) -> None:
    hangar.script.set(turn("resumable answer"))
    client = hangar.client()
    created = client.interactions.create(model=MODEL, input="go", background=True)
    all_events = list(client.interactions.get(created.id, stream=True))
    assert all_events[-1].event_type == "interaction.completed"
    resumed = list(client.interactions.get(created.id, stream=True, last_event_id="3"))
    assert [e.event_id for e in resumed] == [e.event_id for e in all_events[3:]]
    assert resumed[0].event_id == "4"


def test_cancel_is_idempotent(hangar: HangarServer) -> None:
    hangar.script.set(turn("too late", delay_s=5))
    client = hangar.client()
    created = client.interactions.create(model=MODEL, input="slow", background=True)
    time.sleep(0.2)
    first = client.interactions.cancel(created.id)
    assert first.status == "cancelled"
    again = client.interactions.cancel(created.id)
    assert again.status == "cancelled"
    assert client.interactions.get(created.id).status == "cancelled"
    events = list(client.interactions.get(created.id, stream=True))
    assert events[-1].event_type == "interaction.completed"
    assert events[-1].interaction.status == "cancelled"


def test_delete_then_get_is_not_found(hangar: HangarServer) -> None:
    hangar.script.set(turn("bye"))
    client = hangar.client()
    created = client.interactions.create(model=MODEL, input="hi")
    assert client.interactions.delete(created.id) is None
    with pytest.raises(errors.NotFoundError):
        client.interactions.get(created.id)
    with pytest.raises(errors.NotFoundError):
        client.interactions.delete(created.id)


def test_other_project_cannot_see_an_interaction(hangar: HangarServer) -> None:
    hangar.script.set(turn("mine"))
    mine = hangar.client()
    created = mine.interactions.create(model=MODEL, input="hi")
    theirs = hangar.client(key=hangar.other_key)
    with pytest.raises(errors.NotFoundError) as caught:
        theirs.interactions.get(created.id)
    expected = {"code": "not_found", "message": f"interaction {created.id} not found"}
    assert caught.value.body == {"error": expected}
    with pytest.raises(errors.NotFoundError):
        theirs.interactions.cancel(created.id)
    with pytest.raises(errors.NotFoundError):
        theirs.interactions.delete(created.id)
    assert mine.interactions.get(created.id).status == "completed"


def test_unknown_key_is_unauthenticated(hangar: HangarServer) -> None:
    client = hangar.client(key="hk_not_a_key")
    with pytest.raises(errors.AuthenticationError) as caught:
        client.interactions.create(model=MODEL, input="hi")
    assert caught.value.body["error"]["code"] == "unauthenticated"
