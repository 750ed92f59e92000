"""Call kinds: which kind serves a name, and the interrupted answer each kind gives its own calls
(the loop's cancel path and a run resumed after a crash use the same builders)."""

from __future__ import annotations

from types import SimpleNamespace

from google.genai import types

from runtime import steps as s
from runtime.agent.calls import BuiltinCall, ClientCall, McpCall, UnknownCall, interrupted_result, resolve
from runtime.tools.mcp import McpTool, McpToolbox
from runtime.tools.toolset import Toolset
from runtime.worker.agent_runner import INTERRUPTED_RESULT, _answer_interrupted


def _toolbox() -> McpToolbox:
    box = McpToolbox(())
    decl = types.FunctionDeclaration(name="inv__stock")
    box.tools["inv__stock"] = McpTool(server="inv", name="stock", qualified="inv__stock", declaration=decl)
    return box


def test_resolve_picks_the_kind() -> None:
    weather = types.FunctionDeclaration(name="get_weather")
    toolset = Toolset.build(("shell", "files"), client_functions=[weather])
    box = _toolbox()
    assert isinstance(resolve("inv__stock", toolset, box), McpCall)
    assert isinstance(resolve("shell", toolset, box), BuiltinCall)
    assert isinstance(resolve("get_weather", toolset, box), ClientCall)
    unknown = resolve("rm_rf", toolset, box)
    assert isinstance(unknown, UnknownCall) and "inv__stock" in unknown.known


def test_each_kind_builds_its_own_call_step() -> None:
    toolset = Toolset.build(("shell", "python", "files"))
    box = _toolbox()
    shell = resolve("shell", toolset, box).call_step("c1", {"command": "ls"}, "c2ln")
    assert isinstance(shell, s.CodeExecutionCallStep)
    assert (shell.arguments.code, shell.arguments.language, shell.signature) == ("ls", "bash", "c2ln")
    py = resolve("python", toolset, box).call_step("c2", {"code": "1"}, None)
    assert isinstance(py, s.CodeExecutionCallStep) and py.arguments.language == "python"
    mcp = resolve("inv__stock", toolset, box).call_step("m1", {"item": "x"}, None)
    assert isinstance(mcp, s.McpServerToolCallStep) and (mcp.name, mcp.server_name) == ("stock", "inv")
    fn = resolve("read_file", toolset, box).call_step("f1", {"path": "a"}, "c2ln")
    assert isinstance(fn, s.FunctionCallStep) and getattr(fn, "signature", None) == "c2ln"


def test_interrupted_answers_match_their_calls() -> None:
    code = s.CodeExecutionCallStep(id="c1", arguments=s.CodeExecutionArguments(code="ls", language="bash"))
    mcp = s.McpServerToolCallStep(id="m1", name="stock", server_name="inv", arguments={})
    fn = s.FunctionCallStep(id="f1", name="read_file", arguments={})
    answers = [interrupted_result(call, "stopped") for call in (code, mcp, fn)]
    assert [type(a) for a in answers] == [
        s.CodeExecutionResultStep, s.McpServerToolResultStep, s.FunctionResultStep,
    ]
    assert all(getattr(a, "is_error", None) is True for a in answers)
    assert [getattr(a, "call_id", None) for a in answers] == ["c1", "m1", "f1"]
    mcp_answer = answers[1]
    assert isinstance(mcp_answer, s.McpServerToolResultStep)
    assert (mcp_answer.name, mcp_answer.server_name) == ("stock", "inv")
    search = s.GoogleSearchCallStep(id="g1", arguments=s.GoogleSearchArguments(queries=["q"]))
    assert interrupted_result(search, "stopped") is None  # Gemini's own tools come answered


async def test_resume_answers_every_unanswered_call_and_waits_for_the_client() -> None:
    steps: list[s.Step] = [
        s.UserInputStep(content=[s.TextContent(text="go")]),
        s.McpServerToolCallStep(id="m1", name="stock", server_name="inv", arguments={}),
        s.CodeExecutionCallStep(id="c1", arguments=s.CodeExecutionArguments(code="ls", language="bash")),
        s.CodeExecutionResultStep(call_id="c1", result="ok"),
        s.FunctionCallStep(id="w1", name="get_weather", arguments={}),
    ]
    logged: list[s.Step] = []

    async def whole(step: s.Step) -> int:
        logged.append(step)
        return len(logged)

    writer = SimpleNamespace(whole=whole)
    waiting = await _answer_interrupted(steps, {"get_weather"}, writer)  # type: ignore[arg-type]
    assert waiting  # the client-side call still needs the caller's answer
    [answer] = logged
    assert isinstance(answer, s.McpServerToolResultStep) and answer.call_id == "m1"
    assert answer.result == INTERRUPTED_RESULT and steps[-1] is answer
