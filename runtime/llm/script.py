"""Scripts of model turns, shared by the fake Gemini server and the in-process ``ScriptedModel``.

A script is a list of :class:`ScriptedTurn` (built with :func:`turn`, :func:`call`, :func:`fail`, or
loaded from YAML/JSON with :func:`load_script`) or a function computing each turn from the request.
A :class:`ScriptRunner` replays it, records every request as Gemini REST JSON (camelCase) and every
failure, and :meth:`ScriptRunner.assert_done` raises if anything went wrong or turns were left over.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from runtime.errors import InputError

JsonDict = dict[str, Any]
Expectation = Callable[[JsonDict], object]
"""Called with the request JSON; fails by returning ``False`` or raising ``AssertionError``."""
ResponseFunction = Callable[[JsonDict], "ScriptedTurn | Awaitable[ScriptedTurn]"]
"""FunctionModel mode: computes each turn from the request JSON."""

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ScriptedCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None


class ScriptedUsage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: int = 0
    output: int = 0
    thoughts: int = 0
    cached: int = 0
    total: int | None = None
    """Defaults to ``prompt + output + thoughts``."""
    extra: JsonDict | None = None
    """More ``usageMetadata`` fields as Gemini sends them (e.g. ``promptTokensDetails``)."""

    def wire(self) -> JsonDict:
        total = self.prompt + self.output + self.thoughts if self.total is None else self.total
        wire = {"promptTokenCount": self.prompt, "candidatesTokenCount": self.output}
        wire["totalTokenCount"] = total
        if self.thoughts:
            wire["thoughtsTokenCount"] = self.thoughts
        if self.cached:
            wire["cachedContentTokenCount"] = self.cached
        return {**wire, **(self.extra or {})}


class ScriptedTurn(BaseModel):
    """One model answer, or one HTTP error when ``status`` is set."""

    model_config = ConfigDict(extra="forbid")

    thought: str | None = None
    """Thought summary, sent first as a ``thought: true`` part."""
    text: str | None = None
    calls: list[ScriptedCall] = Field(default_factory=list)
    signature: str | None = None
    """Base64 thought signature, put on the first function call, else on the last part."""
    parts: list[JsonDict] | None = None
    """Raw REST parts (camelCase); replaces ``thought``, ``text``, ``calls`` and ``signature``."""
    finish_reason: str = "STOP"
    usage: ScriptedUsage | None = None
    grounding: JsonDict | None = None
    """Raw ``groundingMetadata``."""
    url_context: JsonDict | None = None
    """Raw ``urlContextMetadata``: ``{"urlMetadata": [{"retrievedUrl", "urlRetrievalStatus"}]}``."""
    status: int | None = None
    """Answer with this HTTP error status instead of a turn."""
    error: str | None = None
    retry_after: float | None = None
    """``Retry-After`` header (seconds) sent with an error."""
    delay_s: float = Field(default=0.0, ge=0)
    """Simulated latency before answering."""
    expect: Expectation | None = Field(default=None, exclude=True)

    def wire_parts(self) -> list[JsonDict]:
        if self.parts is not None:
            return [dict(p) for p in self.parts]
        parts: list[JsonDict] = []
        if self.thought is not None:
            parts.append({"text": self.thought, "thought": True})
        if self.text is not None:
            parts.append({"text": self.text})
        calls = [_call_wire(c) for c in self.calls]
        if self.signature is not None and (calls or parts):
            (calls or parts)[0 if calls else -1]["thoughtSignature"] = self.signature
        return parts + calls

    def response_json(
        self, model: str, parts: list[JsonDict] | None = None, *, final: bool = True
    ) -> JsonDict:
        parts = self.wire_parts() if parts is None else parts
        candidate: JsonDict = {"content": {"role": "model", "parts": parts}}
        if final:
            candidate["finishReason"] = self.finish_reason
            if self.grounding is not None:
                candidate["groundingMetadata"] = self.grounding
            if self.url_context is not None:
                candidate["urlContextMetadata"] = self.url_context
        response: JsonDict = {"candidates": [candidate], "modelVersion": model}
        if final and self.usage is not None:
            response["usageMetadata"] = self.usage.wire()
        return response

    def stream_json(self, model: str, *, pieces: int = 2) -> list[JsonDict]:
        """SSE chunks: text split in up to ``pieces`` pieces, signature on a part's last piece."""
        pieces_ = _split_parts(self.wire_parts(), pieces)
        frames = [self.response_json(model, parts=[p], final=False) for p in pieces_]
        if not frames:
            return [self.response_json(model, parts=[])]
        frames[-1] = self.response_json(model, parts=frames[-1]["candidates"][0]["content"]["parts"])
        return frames

    def error_json(self) -> JsonDict:
        status = self.status or 500
        message = self.error or f"scripted error {status}"
        return {"error": {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}}


def call(
    name: str, args: Mapping[str, Any] | None = None, /, *, id: str | None = None, **kwargs: Any
) -> ScriptedCall:
    """``call("shell", command="ls", id="c1")``; pass ``args`` as a dict for an argument named ``id``."""
    return ScriptedCall(name=name, args={**(args or {}), **kwargs}, id=id)


def turn(
    text: str | None = None,
    *,
    thought: str | None = None,
    calls: Sequence[ScriptedCall] = (),
    signature: str | bytes | None = None,
    usage: ScriptedUsage | Mapping[str, int] | None = None,
    expect: Expectation | None = None,
    **fields: Any,
) -> ScriptedTurn:
    """A scripted model turn; ``signature`` as base64 text or raw bytes."""
    if isinstance(signature, bytes):
        signature = base64.b64encode(signature).decode()
    return ScriptedTurn(
        text=text, thought=thought, calls=list(calls), signature=signature,
        usage=ScriptedUsage.model_validate(usage) if isinstance(usage, Mapping) else usage,
        expect=expect, **fields,
    )


def fail(status: int, error: str | None = None, *, retry_after: float | None = None) -> ScriptedTurn:
    """A scripted HTTP error, e.g. ``fail(429, retry_after=0)``."""
    return ScriptedTurn(status=status, error=error, retry_after=retry_after)


def load_script(path: str | Path) -> list[ScriptedTurn]:
    """Read a list of turns (or ``{"turns": [...]}``) from a YAML or JSON file.

    Raises:
        InputError: unreadable file or invalid turns; the message names the file and the field.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"{path}: cannot read script: {e}") from e
    if isinstance(data, dict) and "turns" in data:
        data = data["turns"]
    try:
        return _TURNS.validate_python(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"{path}: turn {where}: {first['msg']}") from e


_TURNS = TypeAdapter(list[ScriptedTurn])


# --- expectations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """A named predicate over the request JSON (its name appears in failure messages)."""

    description: str
    predicate: Callable[[JsonDict], bool]

    def __call__(self, request: JsonDict) -> bool:
        return self.predicate(request)


def request_parts(request: JsonDict) -> list[JsonDict]:
    return [p for c in request.get("contents", []) for p in c.get("parts", []) if isinstance(p, dict)]


def has_function_response(call_id: str | None = None, name: str | None = None) -> Check:
    def check(request: JsonDict) -> bool:
        for part in request_parts(request):
            resp = part.get("functionResponse")
            if resp and call_id in (None, resp.get("id")) and name in (None, resp.get("name")):
                return True
        return False

    return Check(f"request has a functionResponse (id={call_id!r}, name={name!r})", check)


def echoes_signature(signature: str | bytes) -> Check:
    """The request carries this thought signature (same bytes; the SDK re-encodes URL-safe)."""
    wanted = decode_signature(signature) if isinstance(signature, str) else signature

    def check(request: JsonDict) -> bool:
        sigs = [p.get("thoughtSignature") for p in request_parts(request)]
        return any(isinstance(s, str) and decode_signature(s) == wanted for s in sigs)

    return Check(f"request echoes thoughtSignature {signature!r}", check)


def contains_text(text: str) -> Check:
    def check(request: JsonDict) -> bool:
        return any(text in str(p.get("text", "")) for p in request_parts(request))

    return Check(f"request contains text {text!r}", check)


def decode_signature(value: str) -> bytes | None:
    """Decode standard or URL-safe base64; ``None`` if it is neither."""
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None


# --- replay ------------------------------------------------------------------------------------


class ScriptRunner:
    """Hands out the scripted turns in order and keeps the record the tests assert on."""

    def __init__(self, script: Sequence[ScriptedTurn] | ResponseFunction) -> None:
        self._function = script if callable(script) else None
        self._turns = list(script) if not callable(script) else []
        self._next = 0
        self.requests: list[JsonDict] = []
        self.failures: list[str] = []

    @property
    def remaining(self) -> int:
        return len(self._turns) - self._next

    async def next_turn(self, request: JsonDict) -> tuple[ScriptedTurn | None, str | None]:
        """The turn for this request, or ``(None, reason)`` after recording a failure."""
        self.requests.append(request)
        index = len(self.requests)
        turn, reason = await self._pick(request, index)
        if turn is None:
            return None, self._fail(reason or "no turn")
        if turn.expect is not None:
            reason = _check(turn.expect, request)
            if reason is not None:
                return None, self._fail(f"request {index}: expectation failed: {reason}")
        return turn, None

    def assert_done(self) -> None:
        problems = list(self.failures)
        if self.remaining:
            problems.append(f"{self.remaining} scripted turn(s) never requested")
        if problems:
            raise AssertionError("scripted model: " + "; ".join(problems))

    async def _pick(self, request: JsonDict, index: int) -> tuple[ScriptedTurn | None, str | None]:
        if self._function is not None:
            try:
                result = self._function(request)
                return (await result if inspect.isawaitable(result) else result), None
            except Exception as e:
                return None, f"request {index}: response function raised {type(e).__name__}: {e}"
        if self._next >= len(self._turns):
            return None, f"request {index}: unexpected call, the script has only {len(self._turns)} turn(s)"
        self._next += 1
        return self._turns[self._next - 1], None

    def _fail(self, reason: str) -> str:
        self.failures.append(reason)
        return reason


def _check(expect: Expectation, request: JsonDict) -> str | None:
    name = getattr(expect, "description", None) or getattr(expect, "__name__", repr(expect))
    try:
        ok = expect(request)
    except AssertionError as e:
        return f"{name}: {e}"
    return f"{name} is false" if ok is False else None


def _call_wire(c: ScriptedCall) -> JsonDict:
    fc: JsonDict = {"name": c.name, "args": c.args}
    if c.id is not None:
        fc["id"] = c.id
    return {"functionCall": fc}


def _split_parts(parts: list[JsonDict], pieces: int) -> list[JsonDict]:
    out: list[JsonDict] = []
    for part in parts:
        text = part.get("text")
        if not isinstance(text, str) or set(part) - {"text", "thought", "thoughtSignature"} or pieces < 2:
            out.append(part)
            continue
        size = max(1, -(-len(text) // pieces))
        chunks = [text[i : i + size] for i in range(0, len(text), size)] or [""]
        for i, chunk in enumerate(chunks):
            piece = {k: v for k, v in part.items() if k != "thoughtSignature" or i == len(chunks) - 1}
            piece["text"] = chunk
            out.append(piece)
    return out


def dumps(data: JsonDict) -> str:
    return json.dumps(data, separators=(",", ":"))


def forever(*turns: ScriptedTurn) -> ResponseFunction:
    """FunctionModel that cycles through ``turns`` without end (benchmarks, demos)."""
    if not turns:
        raise ValueError("forever() needs at least one turn")
    count = 0

    def respond(request: JsonDict) -> ScriptedTurn:
        nonlocal count
        count += 1
        return turns[(count - 1) % len(turns)]

    return respond
