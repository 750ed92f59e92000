"""Gemini's own code execution on model interactions: its code and result parts are steps
(``code_execution_call`` / ``code_execution_result``), in order between the text, and go back to
Gemini as the parts it sent when the conversation continues."""

from __future__ import annotations

from api_harness import HangarServer

from runtime.llm.script import turn

MODEL = "gemini-3-flash-preview"
CODE = "print(sum(range(10)))"
PARTS = [
    {"text": "Let me compute it."},
    {"executableCode": {"language": "PYTHON", "code": CODE}},
    {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "45\n"}},
    {"text": "The sum is 45."},
]


def test_code_execution_parts_are_steps_in_order(hangar: HangarServer) -> None:
    hangar.script.set(turn(parts=PARTS))
    client = hangar.client()
    interaction = client.interactions.create(
        model=MODEL, input="Sum 0..9 with code", tools=[{"type": "code_execution"}]
    )
    assert interaction.status == "completed"
    kinds = [step.type for step in interaction.steps]
    code = ["code_execution_call", "code_execution_result"]
    assert kinds == ["user_input", "model_output", *code, "model_output"]
    call, result = interaction.steps[2], interaction.steps[3]
    assert call.arguments.code == CODE and call.arguments.language == "python"
    assert result.call_id == call.id and result.result == "45\n" and not result.is_error
    assert interaction.output_text.endswith("The sum is 45.")
    assert hangar.script.requests[0]["tools"] == [{"codeExecution": {}}]


def test_code_execution_steps_stream_and_a_failed_run_is_an_error(hangar: HangarServer) -> None:
    failed = [
        {"executableCode": {"language": "PYTHON", "code": "1/0"}},
        {"codeExecutionResult": {"outcome": "OUTCOME_FAILED", "output": "ZeroDivisionError"}},
        {"text": "That failed."},
    ]
    hangar.script.set(turn(parts=failed))
    client = hangar.client()
    stream = client.interactions.create(
        model=MODEL, input="divide", tools=[{"type": "code_execution"}], stream=True
    )
    started = [event.step for event in stream if event.event_type == "step.start"]
    assert [step.type for step in started] == ["code_execution_call", "code_execution_result", "model_output"]
    assert started[0].arguments.code == "1/0"
    assert started[1].is_error is True and started[1].result == "ZeroDivisionError"


def test_follow_up_sends_the_code_parts_back_to_gemini(hangar: HangarServer) -> None:
    hangar.script.set(turn(parts=PARTS), turn("It was 45."))
    client = hangar.client()
    first = client.interactions.create(model=MODEL, input="Sum", tools=[{"type": "code_execution"}])
    second = client.interactions.create(
        model=MODEL, input="What was it?", previous_interaction_id=first.id,
        tools=[{"type": "code_execution"}],
    )
    assert second.status == "completed"
    contents = hangar.script.requests[1]["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    model_parts = contents[1]["parts"]
    assert {"executableCode": {"code": CODE, "language": "PYTHON"}} in model_parts
    assert {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "45\n"}} in model_parts
    assert not any("functionCall" in part for part in model_parts)
