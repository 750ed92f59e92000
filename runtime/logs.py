"""structlog set-up, done once at an entry point (the CLI, the app factory). Logs go to stderr so
stdout stays for results (``hangar run --json``); JSON lines for servers, console lines for people.

API keys given as a ``?key=`` query parameter are redacted from every line: structlog's (a
processor) and the standard library's, uvicorn's access log included (a filter on the handlers of
:func:`uvicorn_log_config`)."""

from __future__ import annotations

import copy
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "REDACTED"
_KEY_PARAM = re.compile(r"([?&;](?:key|api_key|access_token)=)[^&;\s\"'#]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the values of ``key=`` (and ``api_key=``, ``access_token=``) query parameters
    replaced."""
    return _KEY_PARAM.sub(rf"\g<1>{REDACTED}", text)


class RedactKeys(logging.Filter):
    """Applies :func:`redact` to each record's string arguments (kept as arguments: uvicorn's
    access formatter unpacks them), then, if a key is still in the message, to the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        message = record.getMessage()
        if redact(message) != message:
            record.msg, record.args = redact(message), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def redact_processor(
    _logger: object, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: :func:`redact` on every string value."""
    for name, value in event.items():
        if isinstance(value, str):
            event[name] = redact(value)
    return event


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`RedactKeys` on its handlers (the access log
    prints the request line, query string included)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_keys"] = {"()": RedactKeys}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("redact_keys")
    return config


class _Stderr:
    """Whatever ``sys.stderr`` is at write time (test runners and CLIs swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: int = logging.WARNING, *, json: bool = False) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(_Stderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
