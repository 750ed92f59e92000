"""Retry policy, Retry-After parsing and the mapping of SDK/transport errors to ModelError."""

from __future__ import annotations

import email.utils
import random

import httpx
import httpx2
import pytest
from google.genai import errors as genai_errors

from runtime.errors import HangarError, ModelError, ModelUnavailable, from_body
from runtime.llm.retry import RetryPolicy, retry_after, to_model_error


def _api_error(status: int, body: object, headers: dict[str, str] | None = None) -> genai_errors.APIError:
    response = httpx2.Response(status, headers=headers or {}, json=body)
    cls = genai_errors.ClientError if status < 500 else genai_errors.ServerError
    return cls(status, body, response)


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    policy = RetryPolicy(initial_delay_s=1, multiplier=2, max_delay_s=5)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 5), (9, 5)]:
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter spans the whole range


def test_retry_after_wins_but_is_capped() -> None:
    policy = RetryPolicy(max_delay_s=10)
    rng = random.Random(0)
    assert policy.delay(1, 3.5, rng) == 3.5
    assert policy.delay(1, 0.0, rng) == 0.0
    assert policy.delay(1, 99, rng) == 10


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [(400, ModelError, False), (403, ModelError, False), (404, ModelError, False),
     (408, ModelUnavailable, True), (429, ModelUnavailable, True), (500, ModelUnavailable, True),
     (503, ModelUnavailable, True), (504, ModelUnavailable, True)],
)
def test_api_errors_map_by_status(status: int, cls: type[ModelError], retryable: bool) -> None:
    error = to_model_error(_api_error(status, {"error": {"code": status, "message": "boom", "status": "X"}}))
    assert type(error) is cls
    assert error.status == status and error.retryable is retryable and "boom" in error.message


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx2.ConnectError("refused"), httpx.ReadTimeout("slow"),
     httpx2.ReadTimeout("slow"), httpx2.RemoteProtocolError("eof"),
     genai_errors.UnknownApiResponseError("Failed to parse response as JSON")],
)
def test_transport_errors_are_retryable(exc: Exception) -> None:
    error = to_model_error(exc)
    assert isinstance(error, ModelUnavailable) and error.retryable and error.status is None


def test_other_exceptions_are_not_mapped() -> None:
    assert to_model_error(ValueError("bug")) is None


def test_retry_after_header_seconds_and_http_date() -> None:
    body = {"error": {"code": 429, "message": "slow down"}}
    assert retry_after(_api_error(429, body, {"Retry-After": "7"})) == 7.0
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert retry_after(_api_error(429, body, {"Retry-After": when}), now=1_000_000) == pytest.approx(30)
    assert retry_after(_api_error(429, body, {"Retry-After": "soon"})) is None
    assert retry_after(_api_error(429, body)) is None


def test_retry_after_from_google_rpc_retry_info() -> None:
    body = {"error": {"code": 429, "message": "quota", "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
    ]}}
    assert retry_after(_api_error(429, body)) == 37.0


def test_model_errors_round_trip_through_the_error_body() -> None:
    error: HangarError = ModelUnavailable("model API error 503", status=503)
    rebuilt = from_body(error.to_body(), default_status=503)
    assert type(rebuilt) is ModelUnavailable and rebuilt.retryable
    assert type(from_body(ModelError("no").to_body())) is ModelError
