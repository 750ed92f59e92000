"""``GeminiClient``: the :class:`~runtime.llm.base.ModelClient` over google-genai's async client.

Credentials come from the arguments or the environment: ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``
for the Gemini API, or ``GOOGLE_GENAI_USE_VERTEXAI=true`` with ``GOOGLE_CLOUD_PROJECT`` and
``GOOGLE_CLOUD_LOCATION`` (and Application Default Credentials) for Vertex AI. Call
:func:`check_credentials` at start-up, before any sandbox exists, to fail fast.

Automatic function calling and the SDK's retries are off; :mod:`runtime.llm.retry` decides.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Literal, Self

import structlog
from google import genai
from google.auth.exceptions import GoogleAuthError
from google.genai import types
from pydantic import BaseModel, ConfigDict

from runtime.errors import MissingCredentials, ModelError
from runtime.llm.base import DeltaCallback, ModelRequest, ModelTurn, ModelTurnDelta
from runtime.llm.convert import StreamAssembler, build_config, turn_from_response
from runtime.llm.retry import RetryPolicy, retry_after, to_model_error

log = structlog.get_logger(__name__)

API_KEY_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
VERTEX_VARS = ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION")
_TRUE = ("1", "true", "yes")


class Credentials(BaseModel):
    """Where model calls will authenticate. Holds no secret beyond the API key it resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["api_key", "vertex"]
    api_key: str | None = None
    project: str | None = None
    location: str | None = None


def check_credentials(
    env: Mapping[str, str] | None = None,
    *,
    api_key: str | None = None,
    vertexai: bool | None = None,
    project: str | None = None,
    location: str | None = None,
) -> Credentials:
    """Resolve credentials from the arguments, then the environment. Does no I/O.

    Raises:
        MissingCredentials: neither an API key nor a Vertex AI project is configured; the message
            names the variables to set.
    """
    env = os.environ if env is None else env
    if vertexai is None:
        flag = env.get("GOOGLE_GENAI_USE_ENTERPRISE") or env.get("GOOGLE_GENAI_USE_VERTEXAI") or ""
        vertexai = flag.strip().lower() in _TRUE
    # The SDK prefers GOOGLE_API_KEY when both are set; so do we, to call with the same key.
    key = api_key or env.get("GOOGLE_API_KEY") or env.get("GEMINI_API_KEY") or None
    if not vertexai:
        if key:
            return Credentials(kind="api_key", api_key=key)
        raise MissingCredentials(
            "no model credentials: set GEMINI_API_KEY (or GOOGLE_API_KEY) for the Gemini API, or "
            "GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION "
            "(and Application Default Credentials) for Vertex AI"
        )
    project = project or env.get("GOOGLE_CLOUD_PROJECT") or None
    location = location or env.get("GOOGLE_CLOUD_LOCATION") or None
    if project:
        return Credentials(kind="vertex", project=project, location=location or "global")
    if key:  # Vertex AI express mode
        return Credentials(kind="vertex", api_key=key)
    raise MissingCredentials(
        "GOOGLE_GENAI_USE_VERTEXAI is set but GOOGLE_CLOUD_PROJECT is not: set GOOGLE_CLOUD_PROJECT "
        "and GOOGLE_CLOUD_LOCATION (Application Default Credentials authenticate), or GOOGLE_API_KEY "
        "for Vertex AI express mode"
    )


class GeminiClient:
    """Gemini through ``google.genai.Client(...).aio``; create once, share, ``aclose`` at the end.

    ``base_url`` points the SDK elsewhere (e.g. :class:`~runtime.llm.fake_server.FakeGemini`).
    ``sleep`` and ``rng`` exist so tests can observe backoff without waiting.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        vertexai: bool | None = None,
        project: str | None = None,
        location: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        timeout_s: float | None = 300.0,
        retry: RetryPolicy | None = None,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._api_key = api_key
        self._vertexai = vertexai
        self._project = project
        self._location = location
        self._env = env
        self._base_url = base_url
        self._api_version = api_version
        self._timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._client: genai.Client | None = None
        self._lock = asyncio.Lock()

    def check_credentials(self) -> Credentials:
        """See :func:`check_credentials`; raises ``MissingCredentials``."""
        return check_credentials(
            self._env, api_key=self._api_key, vertexai=self._vertexai, project=self._project,
            location=self._location,
        )

    async def generate(self, request: ModelRequest, *, on_delta: DeltaCallback | None = None) -> ModelTurn:
        """One model call, retried per ``self.retry``; streams when ``on_delta`` is given.

        A streamed call is retried only until its first delta reached ``on_delta``; a failure
        after that raises at once (the caller already showed part of the answer).

        Raises:
            MissingCredentials: no usable credentials.
            ModelError: a non-retryable refusal (``retryable=False``, e.g. HTTP 400), or
                ``ModelUnavailable`` after the last attempt (``retryable=True``).
        """
        client = await self._ensure_client()
        config = build_config(request)
        attempt = 0
        while True:
            attempt += 1
            progress = _Progress()
            try:
                if on_delta is None:
                    response = await client.aio.models.generate_content(
                        model=request.model, contents=request.contents, config=config
                    )
                    return turn_from_response(response)
                return await self._stream(client, request, config, on_delta, progress)
            except Exception as exc:
                error = to_model_error(exc)
                if error is None:
                    raise
                if not error.retryable or attempt >= self.retry.attempts or progress.delivered:
                    if attempt > 1:
                        error.message = f"{error.message} (after {attempt} attempts)"
                        error.args = (error.message,)
                    raise error from exc
                await self._backoff(attempt, exc, error)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aio.aclose()
            self._client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _stream(
        self,
        client: genai.Client,
        request: ModelRequest,
        config: types.GenerateContentConfig,
        on_delta: DeltaCallback,
        progress: _Progress,
    ) -> ModelTurn:
        assembler = StreamAssembler()
        stream = await client.aio.models.generate_content_stream(
            model=request.model, contents=request.contents, config=config
        )
        try:
            async for chunk in stream:
                for delta in assembler.add(chunk):
                    progress.delivered = True
                    await _emit(on_delta, delta)
        finally:
            await _aclose(stream)
        return assembler.turn()

    async def _backoff(self, attempt: int, exc: Exception, error: ModelError) -> None:
        delay = self.retry.delay(attempt, retry_after(exc), self._rng)
        log.warning(
            "model_call_retry", attempt=attempt, status=error.status, code=error.code, delay_s=round(delay, 3)
        )
        await self._sleep(delay)

    async def _ensure_client(self) -> genai.Client:
        async with self._lock:
            if self._client is None:
                creds = self.check_credentials()
                # Vertex AI may read Application Default Credentials from disk or a metadata server.
                self._client = await asyncio.to_thread(self._build_client, creds)
            return self._client

    def _build_client(self, creds: Credentials) -> genai.Client:
        http_options = types.HttpOptions(
            base_url=self._base_url,
            api_version=self._api_version,
            timeout=None if self._timeout_s is None else int(self._timeout_s * 1000),
            # attempts=1 also stops the implicit reconnect-and-retry of the aiohttp transport.
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        try:
            if creds.kind == "api_key":
                return genai.Client(vertexai=False, api_key=creds.api_key, http_options=http_options)
            return genai.Client(
                vertexai=True, api_key=creds.api_key, project=creds.project, location=creds.location,
                http_options=http_options,
            )
        except (ValueError, GoogleAuthError) as e:  # the SDK's checks, no ADC found
            raise MissingCredentials(f"cannot set up the Gemini client: {e}") from e


class _Progress:
    delivered = False


async def _emit(on_delta: DeltaCallback, delta: ModelTurnDelta) -> None:
    result = on_delta(delta)
    if inspect.isawaitable(result):
        await result


async def _aclose(stream: AsyncIterator[types.GenerateContentResponse]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
