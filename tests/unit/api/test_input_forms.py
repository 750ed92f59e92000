"""Every ``input`` form of spec §3.2 normalised into steps."""

from __future__ import annotations

import pytest

from runtime.errors import InputError
from runtime.service.wire import normalise_input
from runtime.steps import FunctionResultStep, TextContent, UserInputStep, dump_steps

HI = [{"type": "user_input", "content": [{"type": "text", "text": "hi"}]}]


@pytest.mark.parametrize(
    "value",
    [
        "hi",
        {"type": "text", "text": "hi"},
        [{"type": "text", "text": "hi"}],
        [{"text": "hi"}],
        HI,
        HI[0],
    ],
)
def test_forms_become_one_user_step(value: object) -> None:
    assert dump_steps(normalise_input(value)) == HI  # type: ignore[arg-type]


def test_step_list_is_kept() -> None:
    steps = normalise_input([{"type": "function_result", "call_id": "c1", "result": "42"}, *HI])
    assert isinstance(steps[0], FunctionResultStep)
    assert steps[1] == UserInputStep(content=[TextContent(text="hi")])


@pytest.mark.parametrize("value", [None, "", [], [{"type": "text", "text": "a"}, HI[0]], [{"type": "bogus"}]])
def test_bad_input_is_an_input_error(value: object) -> None:
    with pytest.raises(InputError):
        normalise_input(value)  # type: ignore[arg-type]
