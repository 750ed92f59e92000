"""The agent loop's events as the log's ``step.*`` events: streamed text and thoughts as deltas,
function calls with their arguments as ``arguments_delta``, and the log folds back to exactly the
steps the loop holds (what a resumed run and ``GET`` rebuild)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from runtime import steps as s
from runtime.agent.loop import AgentLoop, LoopConfig
from runtime.llm import ScriptedModel, call, turn
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.local import LocalProvider, LocalSandbox
from runtime.tools.toolset import Toolset
from runtime.worker.agent_runner import LoopLog
from runtime.worker.events import Event, dump_event, fold_steps
from runtime.worker.runner import StepWriter


@pytest.fixture
async def box() -> AsyncIterator[LocalSandbox]:
    async with LocalProvider() as provider:
        sandbox = await provider.create(SandboxSpec())
        async with sandbox:
            yield sandbox


async def test_streamed_run_logs_deltas_and_folds_back_to_the_loops_steps(box: LocalSandbox) -> None:
    sig = base64.b64encode(b"thought-sig").decode()
    model = ScriptedModel(
        [
            turn(thought="Let me look.", calls=[call("shell", command="echo hi", id="c1")], signature=sig),
            turn(calls=[call("write_file", path="a.txt", content="hi", id="w1")]),
            turn("It printed hi.", thought="Done.", signature=sig),
        ],
        stream_pieces=3,
    )
    logged: list[dict[str, Any]] = []

    async def emit(event: Event) -> None:
        logged.append(dump_event(event))

    history = [s.UserInputStep(content=[s.TextContent(text="earlier turn")])]
    user = [s.UserInputStep(content=[s.TextContent(text="go")])]
    run = SimpleNamespace(input_steps=user, resumed_steps=[])
    toolset = Toolset.build(("shell", "files"))
    config = LoopConfig(model="gemini-test", system_instruction="x", toolset=toolset)
    steps: list[s.Step] = [*history, *user]
    sink = LoopLog(StepWriter(emit, run))  # type: ignore[arg-type]  # only the indexes are read
    result = await AgentLoop(model, box.client, config, sink).run(steps)
    assert result.status == "completed", result.reason

    # The log's indexes count this turn only: the user input is 0, generated steps from 1.
    generated = steps[len(history) + 1 :]
    assert fold_steps(logged, first_index=1) == s.dump_steps(generated)
    kinds = [(e["event_type"], e.get("delta", {}).get("type")) for e in logged]
    assert ("step.delta", "thought_summary") in kinds and ("step.delta", "text") in kinds
    text = [e for e in logged if e.get("delta", {}).get("type") == "text"]
    assert "".join(e["delta"]["text"] for e in text) == "It printed hi." and len(text) == 3

    # A function call starts with empty arguments; they follow as one arguments_delta.
    call_start = next(
        e for e in logged if e["event_type"] == "step.start" and e["step"]["type"] == "function_call"
    )
    assert call_start["step"]["arguments"] == {}
    after = logged[logged.index(call_start) + 1]
    assert after["delta"] == {"type": "arguments_delta", "arguments": '{"path": "a.txt", "content": "hi"}'}
    # A call's signature is on its step; streamed text gets its own as a delta before its stop.
    code_start = next(e for e in logged if e.get("step", {}).get("type") == "code_execution_call")
    assert code_start["step"]["signature"] == sig
    sig_delta = next(e for e in logged if e.get("delta", {}).get("type") == "thought_signature")
    assert sig_delta["delta"]["signature"] == sig
    assert logged[logged.index(sig_delta) + 1] == {"event_type": "step.stop", "index": sig_delta["index"]}
    # Every step is started once and stopped once.
    starts = [e["index"] for e in logged if e["event_type"] == "step.start"]
    stops = [e["index"] for e in logged if e["event_type"] == "step.stop"]
    assert sorted(starts) == sorted(stops) == list(range(1, len(generated) + 1))
