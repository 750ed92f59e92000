"""The hooks file format: strict validation, matchers and handler verdicts."""

from __future__ import annotations

import json

import pytest

from runtime.errors import InputError
from runtime.tools.hooks import HookRule, HookRunner, HooksFile, _verdict, parse_hooks


def _parse(data: object) -> HooksFile:
    return parse_hooks(json.dumps(data).encode())


def test_a_valid_file_parses() -> None:
    hooks = _parse(
        {
            "pre_tool_execution": [
                {"matcher": "shell|python", "handler": {"type": "command", "command": "x"}}
            ],
            "post_tool_execution": [
                {"handler": {"type": "http", "url": "https://h.example/x", "timeout_s": 3}}
            ],
        }
    )
    assert hooks.pre_tool_execution[0].matches("shell") and not hooks.pre_tool_execution[0].matches("shellx")
    assert hooks.post_tool_execution[0].matches("anything")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"pre_tool_use": []}, "pre_tool_use"),
        ({"pre_tool_execution": [{"handler": {"type": "command"}}]}, "command"),
        ({"pre_tool_execution": [{"handler": {"type": "ftp"}}]}, "handler"),
        (
            {"pre_tool_execution": [{"matcher": "(", "handler": {"type": "command", "command": "x"}}]},
            "matcher",
        ),
        ({"post_tool_execution": [{"handler": {"type": "http", "url": "file:///etc/passwd"}}]}, "url"),
        (
            {"post_tool_execution": [{"handler": {"type": "command", "command": "x", "timeout_s": 0}}]},
            "timeout_s",
        ),
    ],
)
def test_bad_files_are_refused_naming_the_field(data: object, named: str) -> None:
    with pytest.raises(InputError, match=named):
        _parse(data)


def test_not_json_is_refused() -> None:
    with pytest.raises(InputError, match=r"\.agents/hooks\.json"):
        parse_hooks(b"{nope")


def test_http_handlers_need_a_guard() -> None:
    rule = HookRule.model_validate({"handler": {"type": "http", "url": "https://h.example"}})
    with pytest.raises(InputError, match="outbound guard"):
        HookRunner(HooksFile(post_tool_execution=[rule])).check_handlers()


@pytest.mark.parametrize(
    ("answer", "denied"),
    [
        ("", None),
        ("all good\n", None),
        ('{"decision": "allow"}', None),
        ('{"decision": "deny", "reason": "no"}', "no"),
        ('{"decision": "maybe"}', "hook answered something that is not a decision"),
    ],
)
def test_verdicts(answer: str, denied: str | None) -> None:
    assert _verdict(answer, "hook") == denied
