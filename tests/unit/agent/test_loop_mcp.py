"""MCP server tools through the agent loop (in-process server, scripted model), and their history."""

from __future__ import annotations

import base64

from google.genai import types

from runtime import steps as s
from runtime.agent.events import RunStatus
from runtime.agent.history import build_history
from runtime.agent.loop import AgentLoop, LoopConfig
from runtime.llm import ScriptedModel, call, turn
from runtime.llm.script import JsonDict, echoes_signature, has_function_response
from runtime.sandbox.local import LocalSandbox
from runtime.tools.mcp import McpServer
from runtime.tools.mcp_fakes import calculator_server, in_process
from runtime.tools.toolset import Toolset


def config(*servers: McpServer, reachable: tuple[str, ...] = ("calc",)) -> LoopConfig:
    return LoopConfig(
        model="gemini-test",
        system_instruction="x",
        toolset=Toolset.build(("shell",)),
        mcp_servers=servers,
        mcp_connect=in_process({name: calculator_server("calc") for name in reachable}),
    )


CALC = McpServer(name="calc", url="http://calc.test/mcp")


def declared(request: JsonDict) -> set[str]:
    return {d["name"] for t in request.get("tools", []) for d in t.get("functionDeclarations", [])}


def response_of(request: JsonDict, call_id: str) -> JsonDict:
    for content in request["contents"]:
        for part in content["parts"]:
            if part.get("functionResponse", {}).get("id") == call_id:
                return dict(part["functionResponse"])
    raise AssertionError(f"no functionResponse {call_id}")


async def test_mcp_calls_become_mcp_steps_and_reach_the_model(box: LocalSandbox) -> None:
    sig = base64.b64encode(b"sig").decode()
    model = ScriptedModel(
        [
            turn(
                calls=[call("calc__add", a=20, b=22, id="m1")],
                signature=sig,
                expect=lambda r: declared(r) == {"shell", "calc__add", "calc__fail"},
            ),
            turn(
                calls=[call("calc__fail", reason="nope", id="m2")],
                expect=lambda r: (
                    response_of(r, "m1") == {"id": "m1", "name": "calc__add", "response": {"output": "42"}}
                    and echoes_signature(sig)(r)
                ),
            ),
            turn("done", expect=has_function_response("m2", "calc__fail")),
        ]
    )
    steps: list[s.Step] = [s.UserInputStep(content=[s.TextContent(text="add")])]
    result = await AgentLoop(model, box.client, config(CALC)).run(steps)
    assert result.status is RunStatus.COMPLETED, result.reason
    model.assert_done()
    assert [st.type for st in steps[1:]] == [
        "mcp_server_tool_call",
        "mcp_server_tool_result",
        "mcp_server_tool_call",
        "mcp_server_tool_result",
        "model_output",
    ]
    first_call, first_result, _, failed = steps[1:5]
    assert isinstance(first_call, s.McpServerToolCallStep)
    assert (first_call.id, first_call.name, first_call.server_name, first_call.arguments) == (
        "m1",
        "add",
        "calc",
        {"a": 20, "b": 22},
    )
    assert isinstance(first_result, s.McpServerToolResultStep)
    assert (first_result.call_id, first_result.result, first_result.name, first_result.server_name) == (
        "m1",
        "42",
        "add",
        "calc",
    )
    assert getattr(first_result, "is_error", None) is None
    assert getattr(failed, "is_error", None) is True
    assert "refused: nope" in str(failed.result)  # type: ignore[union-attr]
    error = response_of(model.requests[2], "m2")["response"]["error"]
    assert "refused: nope" in error


async def test_unreachable_mcp_server_fails_the_run_with_the_reason(box: LocalSandbox) -> None:
    model = ScriptedModel([])
    down = McpServer(name="down", url="http://down.test/mcp")
    steps: list[s.Step] = [s.UserInputStep(content=[s.TextContent(text="x")])]
    result = await AgentLoop(model, box.client, config(CALC, down)).run(steps)
    assert result.status is RunStatus.FAILED
    assert "cannot connect to MCP server 'down' (http://down.test/mcp)" in result.reason
    model.assert_done()


def test_history_rebuilds_mcp_steps_as_function_parts() -> None:
    call_step = s.McpServerToolCallStep(id="m1", name="get item", server_name="shop", arguments={"id": 3})
    call_step.signature = base64.b64encode(b"sig").decode()  # type: ignore[attr-defined]
    result = s.McpServerToolResultStep(call_id="m1", result="sold out", name="get item", server_name="shop")
    result.is_error = True  # type: ignore[attr-defined]
    # Both go through JSON as the store keeps them: the extra fields must survive.
    stored = [s.STEP_ADAPTER.validate_json(s.STEP_ADAPTER.dump_json(st)) for st in (call_step, result)]
    contents = build_history([s.UserInputStep(content=[s.TextContent(text="buy")]), *stored])
    model_part = contents[1].parts[0]  # type: ignore[index]
    assert contents[1].role == "model"
    assert model_part.function_call == types.FunctionCall(id="m1", name="shop__get_item", args={"id": 3})
    assert model_part.thought_signature == b"sig"
    assert contents[2].role == "user"
    response = contents[2].parts[0].function_response  # type: ignore[index]
    assert response is not None
    assert (response.id, response.name, response.response) == ("m1", "shop__get_item", {"error": "sold out"})
