"""Talking to a Hangar server the way any caller does: the real google-genai client over HTTP.

:func:`connect` builds the client, :func:`api_errors` turns the SDK's errors into Hangar's (one
line each, no traceback), and :func:`follow` streams an interaction's steps live over SSE,
resuming after a dropped connection from the last ``event_id`` it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

import typer
from google import genai
from google.genai import _interactions as sdk_errors
from google.genai import errors as genai_errors
from google.genai import interactions as gi
from google.genai import types

from runtime import steps as s
from runtime.cli.serve import DEV_KEY_FILE
from runtime.config import Settings
from runtime.errors import HangarError, InfraError, InputError, NotFound
from runtime.wire import STOPPED, StepFolder

DEFAULT_SERVER = "http://127.0.0.1:8080"

ServerOption = Annotated[
    str | None,
    typer.Option("--server", envvar="HANGAR_SERVER", help=f"Hangar server URL (e.g. {DEFAULT_SERVER})."),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="HANGAR_API_KEY", help="API key (default: the dev key of a local server)."
    ),
]

StepCallback = Callable[[int, s.Step], Awaitable[None]]


def api_key_or_dev(api_key: str | None) -> str:
    """The given key, else the dev key ``hangar serve`` saved in this machine's data dir.

    Raises:
        InputError: no key given and no dev key saved.
    """
    if api_key:
        return api_key
    path = Settings().data_dir / DEV_KEY_FILE
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    raise InputError("give the server's API key with --api-key or HANGAR_API_KEY (`hangar serve` prints it)")


def connect(server: str | None, api_key: str | None) -> genai.Client:
    """A google-genai client for ``server`` (default ``$HANGAR_SERVER``, else the local default)."""
    url = (server or DEFAULT_SERVER).rstrip("/")
    options = types.HttpOptions(base_url=url, timeout=60_000)
    return genai.Client(api_key=api_key_or_dev(api_key), http_options=options)


@contextlib.contextmanager
def quiet_experimental() -> Iterator[None]:
    """The SDK warns once that agents/environments are experimental: not news to a Hangar user."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".* usage is experimental", category=UserWarning)
        yield


@contextlib.contextmanager
def api_errors(server: str | None) -> Iterator[None]:
    """Map the SDK's errors to Hangar's: bad key or request → ``InputError``, unknown id →
    ``NotFound``, unreachable server or 5xx → ``InfraError``."""
    where = (server or DEFAULT_SERVER).rstrip("/")
    try:
        yield
    except sdk_errors.APIConnectionError as e:
        raise InfraError(f"cannot reach the Hangar server at {where}: {e}", retryable=True) from e
    except sdk_errors.APIStatusError as e:
        raise _status_error(e.status_code or 500, _message(e.body) or str(e), where) from e
    except genai_errors.APIError as e:
        raise _status_error(e.code or 500, e.message or str(e), where) from e


def _status_error(status: int, message: str, where: str) -> HangarError:
    if status in (401, 403):
        return InputError(f"{where} refused the API key: {message}")
    if status == 404:
        return NotFound(message)
    if status < 500:
        return InputError(message)
    return InfraError(f"{where} answered {status}: {message}", retryable=status in (502, 503, 504))


def _message(body: object) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return None


def to_step(step: Any) -> s.Step | None:
    """An SDK step (or its JSON) as Hangar's step; ``None`` for a kind Hangar does not know."""
    data = step
    if hasattr(step, "model_dump"):
        data = step.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        return s.parse_step(data)
    except InputError:
        return None


class _Steps:
    """Rebuilds steps from ``step.start`` / ``step.delta`` / ``step.stop`` events (SDK objects),
    with the server's own folder: text, thought summaries, signatures, streamed arguments."""

    def __init__(self) -> None:
        self._folder = StepFolder()

    def start(self, index: int, step: Any) -> None:
        self._folder.add({"event_type": "step.start", "index": index, "step": _json(step)})

    def delta(self, index: int, delta: Any) -> None:
        self._folder.add({"event_type": "step.delta", "index": index, "delta": _json(delta)})

    def stop(self, index: int) -> s.Step | None:
        raw = self._folder.add({"event_type": "step.stop", "index": index})
        return to_step(raw) if raw is not None else None


def _json(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "model_dump"):
        obj = obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(obj) if isinstance(obj, dict) else {}


def steps_of(interaction: gi.Interaction) -> list[s.Step]:
    return [step for raw in interaction.steps or [] if (step := to_step(raw)) is not None]


async def follow(
    client: genai.Client,
    interaction_id: str,
    on_step: StepCallback | None = None,
    *,
    reconnects: int = 5,
) -> gi.Interaction:
    """Stream the interaction's steps (each one once, when it is complete) until it ends; return
    the final interaction. A stream that drops is resumed after the last event seen.

    Raises:
        InfraError: the stream kept dropping without progress.
    """
    last: str | None = None
    failures = 0
    steps = _Steps()
    while True:
        progressed = False
        stream = await client.aio.interactions.get(interaction_id, stream=True, last_event_id=last)
        if isinstance(stream, gi.Interaction):  # the server answered JSON: nothing to stream
            if stream.status in STOPPED:
                return stream
        else:
            async for event in stream:
                last = getattr(event, "event_id", None) or last
                progressed = True
                kind = event.event_type
                if kind == "step.start":
                    steps.start(event.index, event.step)
                elif kind == "step.delta":
                    steps.delta(event.index, event.delta)
                elif kind == "step.stop":
                    step = steps.stop(event.index)
                    if step is not None and on_step is not None:
                        await on_step(event.index, step)
                elif kind == "interaction.completed":
                    return await _get(client, interaction_id)
        failures = 0 if progressed else failures + 1
        if failures > reconnects:
            raise InfraError(f"the event stream of {interaction_id} keeps closing early", retryable=True)
        await asyncio.sleep(min(0.2 * 2**failures, 3.0))


async def _get(client: genai.Client, interaction_id: str) -> gi.Interaction:
    result = await client.aio.interactions.get(interaction_id)
    assert isinstance(result, gi.Interaction)
    return result
