"""Keys given as ``?key=`` never reach a log line: structlog's, the stdlib's, uvicorn's access log."""

from __future__ import annotations

import io
import logging
import logging.config

import pytest
import structlog

from runtime.logs import configure_logging, redact, uvicorn_log_config

SECRET = "hk_secret_value_123"


@pytest.mark.parametrize(
    "text",
    [
        f"GET /v1/interactions?key={SECRET} HTTP/1.1",
        f"/v1/x?alt=sse&key={SECRET}&y=1",
        f"?KEY={SECRET}",
        f'"GET /v1/interactions/int_1?api_key={SECRET}"',
    ],
)
def test_key_parameters_are_redacted(text: str) -> None:
    cleaned = redact(text)
    assert SECRET not in cleaned and "REDACTED" in cleaned


def test_other_parameters_stay() -> None:
    assert redact("/v1/x?monkey=1&keys=2&page_token=3") == "/v1/x?monkey=1&keys=2&page_token=3"


def test_structlog_lines_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(logging.INFO, json=True)
    structlog.get_logger("t").info("request", url=f"http://h/v1/i?key={SECRET}")
    err = capsys.readouterr().err
    assert "REDACTED" in err and SECRET not in err


def test_uvicorn_access_lines_are_redacted() -> None:
    logging.config.dictConfig(uvicorn_log_config())
    access = logging.getLogger("uvicorn.access")
    stream = io.StringIO()
    for handler in access.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]
    # uvicorn's own call: '%s - "%s %s HTTP/%s" %d' with the path and query as an argument
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", f"/v1/interactions?key={SECRET}", "1.1", 200)
    logging.getLogger("uvicorn.error").warning("bad request to /v1/x?key=%s", SECRET)
    assert SECRET not in stream.getvalue() and "key=REDACTED" in stream.getvalue()
