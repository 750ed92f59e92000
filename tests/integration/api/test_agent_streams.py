"""Agent streams as Google's docs read them, through the real google-genai client against a real
server (agent loop in a real Docker sandbox, scripted fake Gemini): text and thought summaries as
``step.delta``, a function call's arguments as ``arguments_delta``, resumption with
``last_event_id``, ``interaction.cancelled``, tool_search steps sent back by a stateless client,
and required outputs (shipped agents never fail over them; declared ones get one reminder)."""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any

import pytest
from api_harness import HangarServer

from runtime.llm import call, turn
from runtime.llm.script import contains_text

pytestmark = pytest.mark.docker

AGENT = "antigravity"
MODEL = "gemini-3-flash-preview"


def wait_done(hangar: HangarServer, interaction_id: str, limit_s: float = 90) -> Any:
    client = hangar.client()
    deadline = time.monotonic() + limit_s
    while True:
        interaction = client.interactions.get(interaction_id)
        if interaction.status != "in_progress" or time.monotonic() > deadline:
            return interaction
        time.sleep(0.2)


def summary(event: Any) -> tuple[Any, ...]:
    """An event as comparable data (event id left out)."""
    kind = event.event_type
    if kind == "step.start":
        return (kind, event.index, event.step.type)
    if kind == "step.delta":
        return (kind, event.index, event.delta.type)
    if kind == "step.stop":
        return (kind, event.index)
    return (kind,)


def test_agent_stream_has_text_thought_and_argument_deltas_and_resumes(hangar: HangarServer) -> None:
    hangar.script.set(
        turn(
            thought="I will write the file first.",
            calls=[call("write_file", path="notes.txt", content="streamed", id="w1")],
        ),
        turn("The file notes.txt now says streamed.", thought="Checking the result."),
    )
    client = hangar.client()
    stream = client.interactions.create(agent=AGENT, input="write notes.txt", stream=True)
    events = list(stream)
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed", kinds
    assert events[-1].interaction.status == "completed"

    # The docs' loop: print text deltas as they come.
    printed = "".join(
        e.delta.text for e in events if e.event_type == "step.delta" and e.delta.type == "text"
    )
    assert printed == "The file notes.txt now says streamed."
    thoughts = "".join(
        e.delta.content.text
        for e in events
        if e.event_type == "step.delta" and e.delta.type == "thought_summary"
    )
    assert thoughts == "I will write the file first.Checking the result."

    # In order: thought (deltas), the call (empty arguments, then arguments_delta), its result,
    # a thought, then the answer's text deltas; each step closed before the next opens.
    starts = [(e.index, e.step.type) for e in events if e.event_type == "step.start"]
    assert [t for _, t in starts] == [
        "thought", "function_call", "function_result", "thought", "model_output",
    ], starts
    call_at = next(
        i for i, e in enumerate(events) if e.event_type == "step.start" and e.step.type == "function_call"
    )
    assert events[call_at].step.arguments == {}
    args = events[call_at + 1]
    assert args.event_type == "step.delta" and args.delta.type == "arguments_delta"
    assert args.delta.arguments == '{"path": "notes.txt", "content": "streamed"}'
    open_index = None
    for e in events:
        if e.event_type == "step.start":
            assert open_index is None, "a step opened before the previous one closed"
            open_index = e.index
        elif e.event_type == "step.delta":
            assert e.index == open_index
        elif e.event_type == "step.stop":
            assert e.index == open_index
            open_index = None

    # The stored interaction is what the deltas built.
    done = client.interactions.get(events[0].interaction.id)
    assert [s.type for s in done.steps] == ["user_input", *[t for _, t in starts]]
    assert done.steps[2].arguments == {"path": "notes.txt", "content": "streamed"}
    assert done.output_text == printed

    # Resumption from the log replays the same deltas after the given event.
    cut = next(e.event_id for e in events if e.event_type == "step.delta" and e.delta.type == "text")
    resumed = list(client.interactions.get(done.id, stream=True, last_event_id=cut))
    after = [e for e in events if int(e.event_id) > int(cut)]
    assert [e.event_id for e in resumed] == [e.event_id for e in after]
    assert [summary(e) for e in resumed] == [summary(e) for e in after]


def test_cancel_sends_interaction_cancelled_before_completed(hangar: HangarServer) -> None:
    hangar.script.set(turn(calls=[call("shell", command="sleep 60", id="s1")]))
    client = hangar.client()
    created = client.interactions.create(agent=AGENT, input="wait", background=True)
    live: list[Any] = []
    reader = threading.Thread(target=lambda: live.extend(client.interactions.get(created.id, stream=True)))
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(s.type == "code_execution_call" for s in client.interactions.get(created.id).steps or []):
            break
        time.sleep(0.2)
    assert client.interactions.cancel(created.id).status == "cancelled"
    reader.join(30)
    assert not reader.is_alive(), "the stream did not end after the cancel"
    # SDK 3.6.1 does not parse this event on SSE yet: it is yielded as an unknown event, raw kept.
    raw = [getattr(e, "raw", None) or {} for e in live]
    cancelled = [e for e, r in zip(live, raw, strict=True) if r.get("event_type") == "interaction.cancelled"]
    assert len(cancelled) == 1, [summary(e) for e in live]
    assert live[-1].event_type == "interaction.completed" and live[-1].interaction.status == "cancelled"
    assert live.index(cancelled[0]) == len(live) - 2
    # The interrupted shell call was answered, so a follow-up can continue the conversation.
    steps = client.interactions.get(created.id).steps or []
    assert steps[-1].type == "code_execution_result" and steps[-1].is_error


def test_stateless_client_sends_tool_search_steps_back(hangar: HangarServer) -> None:
    hangar.script.set(turn("Sunny in Oslo.", expect=contains_text("and now?")))
    history = [
        {"type": "user_input", "content": [{"type": "text", "text": "weather in Oslo?"}]},
        {"type": "tool_search_call", "id": "ts1", "arguments": {"function_names": ["get_weather"]}},
        {
            "type": "tool_search_result",
            "call_id": "ts1",
            "result": [{"type": "function", "name": "get_weather", "description": "Weather by city"}],
        },
        {"type": "model_output", "content": [{"type": "text", "text": "Looking it up."}]},
        {"type": "user_input", "content": [{"type": "text", "text": "and now?"}]},
    ]
    client = hangar.client()
    done = client.interactions.create(model=MODEL, input=history, store=False)
    assert done.status == "completed" and done.output_text == "Sunny in Oslo."


def test_shipped_agent_answer_without_its_walkthrough_completes(hangar: HangarServer) -> None:
    hangar.script.set(turn("The answer is 42."))
    client = hangar.client()
    created = client.interactions.create(agent=AGENT, input="6 * 7?", background=True)
    done = wait_done(hangar, created.id)
    assert done.status == "completed", getattr(done, "errors", None)
    assert done.output_text == "The answer is 42."
    assert len(hangar.script.requests) == 1  # no reminder: the shipped agent requires no files


@pytest.mark.parametrize("writes_it", [False, True])
def test_declared_output_gets_one_reminder(hangar: HangarServer, writes_it: bool) -> None:
    agent_id = f"ci-report-{'writes' if writes_it else 'forgets'}"
    client = hangar.client()
    with warnings.catch_warnings():  # the SDK flags the agents surface as experimental
        warnings.simplefilter("ignore", UserWarning)
        agents = client.agents
    agents.create(id=agent_id, base_agent="antigravity", extra_body={"outputs": ["report.md"]})
    later = (
        [turn(calls=[call("write_file", path="report.md", content="# 42", id="r1")]), turn("Written.")]
        if writes_it
        else [turn("Still no file.")]
    )
    hangar.script.set(turn("The answer is 42."), *later)
    created = client.interactions.create(agent=agent_id, input="6 * 7, in report.md", background=True)
    done = wait_done(hangar, created.id)
    requests = hangar.script.requests
    assert len(requests) == 1 + len(later)
    assert "missing: report.md" in str(requests[1]["contents"][-1])  # told once, which file
    if writes_it:
        assert done.status == "completed", getattr(done, "errors", None)
    else:
        assert done.status == "failed"
        assert "report.md" in done.errors[0].message  # type: ignore[index]
        assert [s.type for s in done.steps] == ["user_input", "model_output", "user_input", "model_output"]
