"""The create request and the Interaction resource (spec §3, §4), and the normalisation of every
``input`` form of spec §3.2 into steps."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from runtime.errors import InputError
from runtime.steps import Content, Step, UserInputStep, parse_steps
from runtime.worker import InteractionConfig
from runtime.worker.events import ErrorInfo, Usage

CONTENT_TYPES = frozenset({"text", "image", "audio", "document", "video"})
_STEP_TYPES = frozenset(str(cls.model_fields["type"].default) for cls in get_args(get_args(Step)[0]))
_CONTENTS: TypeAdapter[list[Content]] = TypeAdapter(list[Content])
_ID = Field(default=None, max_length=200)


class CreateInteraction(InteractionConfig):
    """``POST /{v}/interactions``. Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = _ID
    agent: str | None = _ID
    input: str | dict[str, Any] | list[Any] | None = None
    previous_interaction_id: str | None = _ID
    background: bool = False
    stream: bool = False
    store: bool = True

    def kind_and_target(self) -> tuple[str, str]:
        if self.model and self.agent:
            raise InputError("set either `model` or `agent`, not both")
        if self.model:
            return "model", self.model
        if self.agent:
            return "agent", self.agent
        raise InputError("one of `model` or `agent` is required")

    def config(self) -> dict[str, Any]:
        """The fields echoed back on the interaction (and handed to the runner)."""
        return InteractionConfig.model_validate(self.model_dump(include=_CONFIG_FIELDS)).model_dump(
            mode="json", exclude_none=True
        )

    def environment_id(self) -> str | None:
        if isinstance(self.environment, str):
            return self.environment
        if isinstance(self.environment, dict):
            value = self.environment.get("environment_id")
            return value if isinstance(value, str) else None
        return None


_CONFIG_FIELDS = set(InteractionConfig.model_fields)


class Interaction(BaseModel):
    """The resource returned by create, get and cancel."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: str = "interaction"
    status: str
    created: str
    updated: str
    model: str | None = None
    agent: str | None = None
    steps: list[Step] = Field(default_factory=list)
    usage: Usage | None = None
    previous_interaction_id: str | None = None
    environment_id: str | None = None
    errors: list[ErrorInfo] | None = None
    input: list[Step] | None = None


def normalise_input(value: str | dict[str, Any] | list[Any] | None) -> list[Step]:
    """Every ``input`` form of spec §3.2 as steps. Raises :class:`InputError` naming the problem."""
    if value is None or value == "" or value == []:
        raise InputError("`input` is required and must not be empty")
    if isinstance(value, str):
        return [UserInputStep(content=_contents([{"type": "text", "text": value}]))]
    if isinstance(value, dict):
        if value.get("type") in _STEP_TYPES:
            return parse_steps([value])
        return [UserInputStep(content=_contents([value]))]
    if all(isinstance(item, dict) and item.get("type") in _STEP_TYPES for item in value):
        return parse_steps(value)
    if any(isinstance(item, dict) and item.get("type") in _STEP_TYPES for item in value):
        raise InputError("`input` mixes steps and content blocks: send one kind")
    return [UserInputStep(content=_contents(value))]


def _contents(items: list[Any]) -> list[Content]:
    blocks = [
        {**item, "type": "text"} if isinstance(item, dict) and "type" not in item and "text" in item else item
        for item in items
    ]
    try:
        return _CONTENTS.validate_python(blocks)
    except ValidationError as e:
        raise InputError(f"invalid `input`: {describe(e, 'input')}") from e


_UNION_TAGS = frozenset({"string", "object", "list"})
"""Branch tags of the wire models' string/object/list unions, which pydantic puts in error locations."""


def describe(e: ValidationError, root: str = "") -> str:
    """A short, human message for a pydantic error: the first few fields and what is wrong."""
    parts = []
    for err in e.errors(include_url=False)[:3]:
        path = [p for p in err["loc"] if p not in _UNION_TAGS]
        loc = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        parts.append(f"{loc.lstrip('.') or 'body'}: {err['msg'].removeprefix('Value error, ')}")
    more = e.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")
