"""``ScriptedModel``: the :class:`~runtime.llm.base.ModelClient` of unit tests, in-process, no HTTP.

It replays the same scripts as :class:`~runtime.llm.fake_server.FakeGemini` and builds its turns
the same way the real client does (the scripted REST JSON parsed by google-genai's types, then
:mod:`runtime.llm.convert`), so a loop tested against it sees what it would see from Gemini.
Integration tests still go through the real SDK and the fake server.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from typing import Any

from google.genai import types

from runtime.errors import ModelError, ModelUnavailable
from runtime.llm.base import DeltaCallback, ModelRequest, ModelTurn
from runtime.llm.convert import StreamAssembler, build_config, turn_from_response
from runtime.llm.retry import RETRYABLE_STATUSES
from runtime.llm.script import JsonDict, ResponseFunction, ScriptedTurn, ScriptRunner


class ScriptedModel:
    """Replays a script; ``requests`` holds each request as REST-shaped JSON (see :func:`request_json`)."""

    def __init__(self, script: Sequence[ScriptedTurn] | ResponseFunction, *, stream_pieces: int = 2) -> None:
        self.runner = ScriptRunner(script)
        self._stream_pieces = stream_pieces

    @property
    def requests(self) -> list[JsonDict]:
        return self.runner.requests

    def assert_done(self) -> None:
        self.runner.assert_done()

    async def generate(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelTurn:
        """Raises ``ModelError`` for scripted errors, unexpected calls and failed expectations."""
        turn, reason = await self.runner.next_turn(request_json(request))
        if turn is None:
            raise ModelError(f"ScriptedModel: {reason}", status=500)
        if turn.delay_s:
            await asyncio.sleep(turn.delay_s)
        if turn.status is not None:
            error = turn.error_json()["error"]
            cls = ModelUnavailable if turn.status in RETRYABLE_STATUSES or turn.status >= 500 else ModelError
            message = f"model API error {turn.status} {error['status']}: {error['message']}"
            raise cls(message, status=turn.status)
        if on_delta is None:
            return turn_from_response(_parse(turn.response_json(request.model)))
        assembler = StreamAssembler()
        for frame in turn.stream_json(request.model, pieces=self._stream_pieces):
            for delta in assembler.add(_parse(frame)):
                result = on_delta(delta)
                if inspect.isawaitable(result):
                    await result
        return assembler.turn()


def request_json(request: ModelRequest) -> JsonDict:
    """The request as Gemini REST JSON: ``contents``, ``systemInstruction`` and ``tools`` match
    what google-genai sends (camelCase, bytes as URL-safe base64); the rest is in
    ``generationConfig`` as the SDK config's camelCase dump."""
    config = build_config(request)
    body: JsonDict = {"contents": [_dump(c) for c in request.contents]}
    if request.system_instruction is not None:
        body["systemInstruction"] = {"parts": [{"text": request.system_instruction}], "role": "user"}
    if config.tools:
        body["tools"] = [_dump(t) for t in config.tools if isinstance(t, types.Tool)]
    rest = config.model_copy(
        update={"tools": None, "system_instruction": None, "automatic_function_calling": None}
    )
    body["generationConfig"] = _dump(rest)
    return body


def _dump(model: Any) -> JsonDict:
    dumped: JsonDict = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


def _parse(response: JsonDict) -> types.GenerateContentResponse:
    return types.GenerateContentResponse.model_validate(response)
