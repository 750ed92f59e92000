"""The agent loop over the in-process sandbox and the scripted model (fast tier; the same flows run
against real Docker and the real SDK in tests/integration/agent)."""

from __future__ import annotations

import asyncio
import base64
import json

from google.genai import types

from runtime import steps as s
from runtime.agent.events import LoopEvent, RunStatus, StepAdded, StepStarted, TextDelta
from runtime.agent.history import History, build_history
from runtime.agent.loop import AgentLoop, LoopConfig
from runtime.errors import ModelError
from runtime.llm import ScriptedModel, call, fail, turn
from runtime.llm.base import ModelTurnDelta
from runtime.llm.script import contains_text, echoes_signature, has_function_response
from runtime.sandbox.local import LocalSandbox
from runtime.tools.toolset import Toolset

ALL = ("shell", "python", "files", "browser", "plan")


def config(**kw: object) -> LoopConfig:
    base: dict[str, object] = {
        "model": "gemini-test",
        "system_instruction": "be useful",
        "toolset": Toolset.build(ALL),
    }
    return LoopConfig(**(base | kw))  # type: ignore[arg-type]


def user(text: str) -> list[s.Step]:
    return [s.UserInputStep(content=[s.TextContent(text=text)])]


async def test_tool_round_trip_becomes_typed_steps(box: LocalSandbox) -> None:
    model = ScriptedModel(
        [
            turn(thought="plan it", calls=[call("write_file", path="a.py", content="print(6*7)", id="c1")]),
            turn(calls=[call("shell", command="python3 a.py", id="c2")], expect=has_function_response("c1")),
            turn("The answer is 42.", expect=lambda r: "42" in json.dumps(r["contents"][-1])),
        ]
    )
    seen: list[LoopEvent] = []

    async def sink(event: LoopEvent) -> None:
        seen.append(event)

    steps = user("compute")
    result = await AgentLoop(model, box.client, config(), sink).run(steps)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert result.final_text == "The answer is 42."
    types_ = [st.type for st in steps]
    assert types_ == [
        "user_input",
        "thought",
        "function_call",
        "function_result",
        "code_execution_call",
        "code_execution_result",
        "model_output",
    ]
    code_call = steps[4]
    assert isinstance(code_call, s.CodeExecutionCallStep) and code_call.arguments.language == "bash"
    assert "42" in str(steps[5].result)  # type: ignore[union-attr]
    assert [e.index for e in seen if isinstance(e, StepAdded)] == list(range(1, 7))
    model.assert_done()


async def test_parallel_calls_all_answered_and_signature_echoed(box: LocalSandbox) -> None:
    sig = base64.b64encode(b"opaque-signature").decode()
    model = ScriptedModel(
        [
            turn(
                calls=[
                    call("write_file", path="x.txt", content="x", id="a"),
                    call("write_file", path="y.txt", content="y", id="b"),
                ],
                signature=sig,
            ),
            turn(
                "done",
                expect=lambda r: (
                    has_function_response("a")(r)
                    and has_function_response("b")(r)
                    and echoes_signature(sig)(r)
                ),
            ),
        ]
    )
    steps = user("two files")
    result = await AgentLoop(model, box.client, config()).run(steps)
    assert result.status is RunStatus.COMPLETED, result.reason
    assert {f.path for f in await box.client.list_files()} >= {"x.txt", "y.txt"}
    model.assert_done()


async def test_tool_error_goes_back_to_the_model(box: LocalSandbox) -> None:
    model = ScriptedModel(
        [
            turn(calls=[call("read_file", path="../../etc/passwd", id="c1")]),
            turn(calls=[call("edit_file", path="missing.txt", old_text="a", new_text="b", id="c2")]),
            turn("gave up", expect=has_function_response("c2")),
        ]
    )
    steps = user("read")
    result = await AgentLoop(model, box.client, config()).run(steps)
    assert result.status is RunStatus.COMPLETED
    errors = [st for st in steps if isinstance(st, s.FunctionResultStep)]
    assert all(st.is_error for st in errors)
    assert "outside" in str(errors[0].result)


async def test_unknown_tool_is_an_error_result(box: LocalSandbox) -> None:
    model = ScriptedModel([turn(calls=[call("rm_rf", id="c1")]), turn("ok")])
    steps = user("x")
    result = await AgentLoop(model, box.client, config()).run(steps)
    assert result.status is RunStatus.COMPLETED
    assert "unknown tool 'rm_rf'" in str(steps[2].result)  # type: ignore[union-attr]


async def test_client_function_pauses_then_continues(box: LocalSandbox) -> None:
    weather = types.FunctionDeclaration(
        name="get_weather", description="weather", parameters_json_schema={"type": "object", "properties": {}}
    )
    cfg = config(toolset=Toolset.build(ALL, client_functions=[weather]))
    model = ScriptedModel(
        [
            turn(calls=[call("get_weather", city="Oslo", id="w1")]),
            turn("It is sunny.", expect=has_function_response("w1")),
        ]
    )
    steps = user("weather?")
    first = await AgentLoop(model, box.client, cfg).run(steps)
    assert first.status is RunStatus.REQUIRES_ACTION
    assert isinstance(steps[-1], s.FunctionCallStep) and steps[-1].name == "get_weather"
    steps.append(s.FunctionResultStep(call_id="w1", name="get_weather", result="sunny"))
    second = await AgentLoop(model, box.client, cfg).run(steps)
    assert second.status is RunStatus.COMPLETED
    model.assert_done()


async def test_step_budget(box: LocalSandbox) -> None:
    model = ScriptedModel([turn(calls=[call("list_files", id=f"c{i}")]) for i in range(2)])
    result = await AgentLoop(model, box.client, config(max_steps=2)).run(user("loop"))
    assert result.status is RunStatus.BUDGET_EXCEEDED and "step limit" in result.reason


async def test_token_budget(box: LocalSandbox) -> None:
    usage = {"prompt": 600, "output": 10}
    model = ScriptedModel([turn(calls=[call("list_files", id="c1")], usage=usage)])
    result = await AgentLoop(model, box.client, config(max_total_tokens=500)).run(user("x"))
    assert result.status is RunStatus.BUDGET_EXCEEDED and "token budget" in result.reason
    assert result.usage.total_tokens == 610


async def test_wall_clock_limit_interrupts_a_command(box: LocalSandbox) -> None:
    model = ScriptedModel([turn(calls=[call("shell", command="sleep 30", id="c1")])])
    result = await AgentLoop(model, box.client, config(wall_time_s=1.0)).run(user("x"))
    assert result.status is RunStatus.INCOMPLETE


async def test_cancel_mid_command(box: LocalSandbox) -> None:
    model = ScriptedModel([turn(calls=[call("shell", command="sleep 30", id="c1")])])
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(0.5, cancel.set)
    started = loop.time()
    steps = user("x")
    result = await AgentLoop(model, box.client, config()).run(steps, cancel)
    assert result.status is RunStatus.CANCELLED
    assert loop.time() - started < 10
    # The interrupted call is answered, so the conversation can go on in a follow-up.
    last = steps[-1]
    assert isinstance(last, s.CodeExecutionResultStep) and last.is_error and "cancelled" in str(last.result)
    follow_up = ScriptedModel([turn("ok", expect=has_function_response("c1"))])
    steps += user("go on")
    assert (await AgentLoop(follow_up, box.client, config()).run(steps)).status is RunStatus.COMPLETED


async def test_persistent_model_error_fails_the_run(box: LocalSandbox) -> None:
    model = ScriptedModel([fail(400, "bad request")])
    result = await AgentLoop(model, box.client, config()).run(user("x"))
    assert result.status is RunStatus.FAILED and "bad request" in result.reason


async def test_missing_output_gets_one_reminder_then_fails(box: LocalSandbox) -> None:
    model = ScriptedModel(
        [
            turn("done, no report"),
            turn("still no report", expect=contains_text("missing: report.md")),
        ]
    )
    steps = user("x")
    result = await AgentLoop(model, box.client, config(outputs=["report.md"])).run(steps)
    assert result.status is RunStatus.FAILED and "report.md" in result.reason
    assert [st.type for st in steps] == ["user_input", "model_output", "user_input", "model_output"]
    model.assert_done()  # exactly one extra turn


async def test_missing_output_written_after_the_reminder_completes(box: LocalSandbox) -> None:
    model = ScriptedModel(
        [
            turn("the answer is 42"),
            turn(calls=[call("write_file", path="report.md", content="42", id="w1")]),
            turn("report written"),
        ]
    )
    result = await AgentLoop(model, box.client, config(outputs=["report.md"])).run(user("x"))
    assert result.status is RunStatus.COMPLETED, result.reason
    assert await box.client.read_file("report.md") == b"42"
    model.assert_done()


async def test_text_and_thoughts_stream_into_started_steps(box: LocalSandbox) -> None:
    sig = base64.b64encode(b"sig").decode()
    model = ScriptedModel(
        [turn("The answer is 42.", thought="think hard", signature=sig)], stream_pieces=3
    )
    seen: list[LoopEvent] = []

    async def sink(event: LoopEvent) -> None:
        seen.append(event)

    steps = user("q")
    result = await AgentLoop(model, box.client, config(), sink).run(steps)
    assert result.status is RunStatus.COMPLETED, result.reason
    started = [e for e in seen if isinstance(e, StepStarted)]
    assert [(e.index, e.step.type) for e in started] == [(1, "thought"), (2, "model_output")]
    deltas = [e for e in seen if isinstance(e, TextDelta)]
    assert {e.index for e in deltas if e.kind == "thought"} == {1}
    assert "".join(e.text for e in deltas if e.kind == "text") == "The answer is 42."
    assert len([e for e in deltas if e.kind == "text"]) == 3
    # Each started step is completed once, at its own index, after its deltas.
    added = [e for e in seen if isinstance(e, StepAdded)]
    assert [e.index for e in added] == [1, 2]
    assert seen.index(added[1]) > seen.index(deltas[-1])
    output = steps[2]
    assert isinstance(output, s.ModelOutputStep) and output.content is not None
    assert output.content[0].text == "The answer is 42."  # type: ignore[union-attr]
    assert getattr(output, "signature", None) == sig


async def test_a_stream_cut_by_a_model_error_closes_its_step(box: LocalSandbox) -> None:
    class Broken(ScriptedModel):
        async def generate(self, request, *, on_delta=None):  # type: ignore[no-untyped-def]
            assert on_delta is not None
            await on_delta(ModelTurnDelta(kind="text", text="half an ans"))  # type: ignore[func-returns-value]
            raise ModelError("connection reset", status=503)

    seen: list[LoopEvent] = []

    async def sink(event: LoopEvent) -> None:
        seen.append(event)

    steps = user("q")
    result = await AgentLoop(Broken([]), box.client, config(), sink).run(steps)
    assert result.status is RunStatus.FAILED and "connection reset" in result.reason
    assert isinstance(steps[1], s.ModelOutputStep)
    assert [e.index for e in seen if isinstance(e, StepAdded)] == [1]
    assert steps[1].content[0].text == "half an ans"  # type: ignore[index,union-attr]


async def test_huge_output_is_cut_and_saved(box: LocalSandbox) -> None:
    model = ScriptedModel([turn(calls=[call("shell", command="seq 1 100000", id="c1")]), turn("ok")])
    steps = user("x")
    await AgentLoop(model, box.client, config(tool_output_chars=2000)).run(steps)
    text = next(str(st.result) for st in steps if isinstance(st, s.CodeExecutionResultStep))
    assert len(text) < 3000 and ".hangar/tool-outputs/c1.txt" in text
    saved = await box.client.read_file(".hangar/tool-outputs/c1.txt")
    assert b"99999\n" in saved


def test_history_elides_old_outputs() -> None:
    steps: list[s.Step] = [
        *user("x"),
        s.FunctionCallStep(id="c", name="read_file", arguments={}),
        s.FunctionResultStep(call_id="c", result="A" * 1000),
    ]
    full = build_history(steps)
    short = build_history(steps, elide_before=3)
    assert "A" * 1000 in str(full[-1]) and "A" * 1000 not in str(short[-1])


def test_incremental_history_matches_a_full_rebuild() -> None:
    steps: list[s.Step] = [*user("x")]
    history = History()
    for i in range(4):
        steps += [
            s.FunctionCallStep(id=f"a{i}", name="read_file", arguments={"path": "p"}),
            s.CodeExecutionCallStep(
                id=f"b{i}", arguments=s.CodeExecutionArguments(code="ls", language="bash")
            ),
            s.FunctionResultStep(call_id=f"a{i}", result=f"r{i}"),
            s.CodeExecutionResultStep(call_id=f"b{i}", result="out"),
            s.ModelOutputStep(content=[s.TextContent(text=f"t{i}")]),
        ]
        for elide in (0, 3):
            assert history.contents(steps, elide_before=elide) == build_history(steps, elide_before=elide)
