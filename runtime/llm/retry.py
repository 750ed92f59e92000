"""Our retry policy for model calls, and the mapping of SDK and transport errors to ``ModelError``.

The SDK's own retries are switched off (``HttpRetryOptions(attempts=1)``) so this module is the
only place that decides: 429, 408, 5xx, timeouts and connection errors are retried with exponential
backoff and full jitter, honouring the server's ``Retry-After`` header (or the ``RetryInfo``
detail Google puts in error bodies); every other 4xx fails at once.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Mapping

import httpx
import httpx2
from google.genai import errors as genai_errors
from pydantic import BaseModel, ConfigDict, Field

from runtime.errors import ModelError, ModelUnavailable

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The SDK uses httpx2 when it is installed (it is one of its dependencies) and httpx otherwise.
_TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
_TRANSPORT: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class RetryPolicy(BaseModel):
    """Bounded exponential backoff with full jitter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(default=5, ge=1)
    """Total attempts, the first one included."""
    initial_delay_s: float = Field(default=1.0, ge=0)
    max_delay_s: float = Field(default=60.0, ge=0)
    """Cap on any one wait, ``Retry-After`` included."""
    multiplier: float = Field(default=2.0, ge=1)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        The server's ``Retry-After`` wins when it gave one; otherwise a uniform draw in
        ``[0, min(max_delay, initial * multiplier**(attempt-1))]``.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay_s)
        ceiling = min(self.max_delay_s, self.initial_delay_s * self.multiplier ** (attempt - 1))
        return rng.uniform(0.0, ceiling)


def to_model_error(exc: Exception) -> ModelError | None:
    """The typed error for an SDK or transport exception, or ``None`` if it is neither."""
    if isinstance(exc, genai_errors.APIError):
        status = int(exc.code) if exc.code else None
        message = f"model API error {status} {exc.status or ''}: {exc.message or exc.details}".strip()
        if status in RETRYABLE_STATUSES or (status is not None and status >= 500):
            return ModelUnavailable(message, status=status)
        return ModelError(message, status=status)
    if isinstance(exc, genai_errors.UnknownApiResponseError):  # a 200 whose body is not JSON
        return ModelUnavailable(f"model API sent an unreadable response: {exc}"[:500], status=None)
    if isinstance(exc, _TIMEOUTS):
        return ModelUnavailable(f"model API timed out: {type(exc).__name__}: {exc}", status=None)
    if isinstance(exc, _TRANSPORT):
        return ModelUnavailable(f"model API unreachable: {type(exc).__name__}: {exc}", status=None)
    return None


def retry_after(exc: Exception, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from ``Retry-After`` or a ``google.rpc.RetryInfo``."""
    if not isinstance(exc, genai_errors.APIError):
        return None
    headers = getattr(exc.response, "headers", None)
    if isinstance(headers, Mapping | httpx.Headers | httpx2.Headers):
        value = headers.get("retry-after") or headers.get("Retry-After")
        parsed = _parse_retry_after(str(value), time.time() if now is None else now) if value else None
        if parsed is not None:
            return parsed
    return _retry_info_delay(exc.details)


def _parse_retry_after(value: str, now: float) -> float | None:
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


def _retry_info_delay(details: object) -> float | None:
    body = details[0] if isinstance(details, list) and len(details) == 1 else details
    error = body.get("error") if isinstance(body, dict) else None
    items = error.get("details") if isinstance(error, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None
