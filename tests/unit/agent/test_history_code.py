"""Code execution steps in the model's history: the sandbox's code tools are function calls; on a
model interaction they are Gemini's own code execution and go back as its parts."""

from __future__ import annotations

from google.genai import types

from runtime import steps as s
from runtime.agent.history import build_history
from runtime.llm.convert import code_delta

ARGUMENTS = s.CodeExecutionArguments(code="print(1)", language="python")
CALL = s.CodeExecutionCallStep(id="c1", arguments=ARGUMENTS)
RESULT = s.CodeExecutionResultStep(call_id="c1", result="1\n")
FAILED = s.CodeExecutionResultStep(call_id="c1", result="boom", is_error=True)


def test_sandbox_code_steps_are_function_calls() -> None:
    contents = build_history([CALL, RESULT])
    assert contents[0].parts and contents[0].parts[0].function_call is not None
    assert contents[1].role == "user" and contents[1].parts and contents[1].parts[0].function_response


def test_builtin_code_steps_are_gemini_code_parts_of_the_model_turn() -> None:
    contents = build_history([CALL, FAILED], builtin_code=True)
    assert [c.role for c in contents] == ["model"]
    parts = contents[0].parts or []
    assert parts[0].executable_code == types.ExecutableCode(code="print(1)", language=types.Language.PYTHON)
    result = parts[1].code_execution_result
    assert result is not None and result.outcome == types.Outcome.OUTCOME_FAILED and result.output == "boom"


def test_code_parts_become_whole_deltas() -> None:
    python = types.ExecutableCode(code="x", language=types.Language.PYTHON)
    code = code_delta(types.Part(executable_code=python))
    assert code is not None and (code.kind, code.text, code.language) == ("code", "x", "python")
    result = types.CodeExecutionResult(outcome=types.Outcome.OUTCOME_OK)
    ok = code_delta(types.Part(code_execution_result=result))
    assert ok is not None and ok.kind == "code_result" and not ok.failed and ok.text == ""
    assert code_delta(types.Part(text="plain")) is None
