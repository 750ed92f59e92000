"""The shared vocabulary: statuses as the SDK knows them, one error formatter, the step folder."""

from __future__ import annotations

from typing import get_args

import pytest
from google.genai._gaos.types.interactions import interaction as sdk_interaction
from pydantic import BaseModel, ValidationError

from runtime.agent.events import RunStatus
from runtime.errors import InputError
from runtime.steps import parse_steps
from runtime.wire import STOPPED, InteractionStatus, describe, describe_errors, fold_steps


def _literals(tp: object) -> set[str]:
    out: set[str] = set()
    for arg in get_args(tp):
        out |= {arg} if isinstance(arg, str) else _literals(arg)
    return out


def test_statuses_are_the_sdks() -> None:
    assert {s.value for s in InteractionStatus} == _literals(sdk_interaction.InteractionStatus)


def test_run_statuses_are_interaction_statuses() -> None:
    assert RunStatus is InteractionStatus
    assert [s for s in InteractionStatus if s.is_error] == ["incomplete", "budget_exceeded", "failed"]


class _Body(BaseModel):
    n: int
    tags: list[str]


def test_one_formatter_for_bodies_and_steps() -> None:
    with pytest.raises(ValidationError) as caught:
        _Body.model_validate({"n": "x", "tags": [1, 2, 3, 4]})
    assert describe(caught.value) == (
        "n: Input should be a valid integer, unable to parse string as an integer; "
        "tags[0]: Input should be a valid string; tags[1]: Input should be a valid string (and 2 more)"
    )
    assert describe(caught.value, "body", limit=1).startswith("body.n: ")
    with pytest.raises(InputError) as bad:
        parse_steps([{"type": "user_input"}, {"type": "function_call", "id": "c"}])
    assert bad.value.message.startswith("invalid steps: steps[1].function_call.name: Field required")


def test_fold_joins_deltas_and_parses_streamed_arguments() -> None:
    events = [
        {"event_type": "step.start", "index": 1, "step": {"type": "thought", "summary": []}},
        {"event_type": "step.delta", "index": 1, "delta": {"type": "thought_summary",
                                                            "content": {"type": "text", "text": "a"}}},
        {"event_type": "step.delta", "index": 1, "delta": {"type": "thought_summary",
                                                            "content": {"type": "text", "text": "b"}}},
        {"event_type": "step.delta", "index": 1, "delta": {"type": "thought_signature", "signature": "c2ln"}},
        {"event_type": "step.stop", "index": 1},
        {"event_type": "step.start", "index": 2,
         "step": {"type": "function_call", "id": "f", "name": "n", "arguments": {}}},
        {"event_type": "step.delta", "index": 2, "delta": {"type": "arguments_delta", "arguments": '{"x": '}},
        {"event_type": "step.delta", "index": 2, "delta": {"type": "arguments_delta", "arguments": "1}"}},
        {"event_type": "step.stop", "index": 2},
    ]
    assert fold_steps(events, first_index=1) == [
        {"type": "thought", "summary": [{"type": "text", "text": "ab"}], "signature": "c2ln"},
        {"type": "function_call", "id": "f", "name": "n", "arguments": {"x": 1}},
    ]


def test_describe_errors_formats_fastapi_style_error_lists_like_describe() -> None:
    class Body(BaseModel):
        a: int
        b: int
        c: int
        d: int

    try:
        Body.model_validate({"a": "x", "b": "y", "c": "z", "d": "w"})
    except ValidationError as e:
        assert describe_errors(e.errors()) == describe(e)
        assert describe_errors(e.errors()).endswith("(and 1 more)")
    assert describe_errors([{"loc": ("query", "page_size"), "msg": "Value error, too big"}]) == (
        "query.page_size: too big"
    )


def test_stopped_statuses_end_a_live_read() -> None:
    assert InteractionStatus.REQUIRES_ACTION in STOPPED and "completed" in STOPPED
    assert InteractionStatus.IN_PROGRESS not in STOPPED and InteractionStatus.QUEUED not in STOPPED
