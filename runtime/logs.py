"""structlog set-up, done once at an entry point (the CLI, the app factory). Logs go to stderr so
stdout stays for results (``hangar run --json``); JSON lines for servers, console lines for people.

API keys given as a ``?key=`` query parameter are redacted from every line: structlog's (a
processor) and the standard library's, uvicorn's access log included (a filter on the handlers of
:func:`uvicorn_log_config`).

With ``json``, the standard library's records (uvicorn's access and error lines, libraries') are
rendered by structlog too (:class:`structlog.stdlib.ProcessorFormatter`), so every line a server
writes is one JSON object; an access line carries ``client``, ``method``, ``path`` (redacted) and
``status`` fields."""

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


def _access_fields(
    _logger: object, _name: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """uvicorn's access record ``(client, method, path, http_version, status)`` as fields."""
    record = event.get("_record")
    args = event.pop("positional_args", None)
    access = isinstance(record, logging.LogRecord) and record.name == "uvicorn.access"
    if access and isinstance(args, tuple) and len(args) == 5:
        client, method, path, version, status = args
        event.update(
            event="http.request", client=str(client), method=str(method), path=redact(str(path)),
            http_version=str(version), status=status,
        )
    return event


def _foreign_chain() -> list[structlog.types.Processor]:
    """What a standard-library record goes through before the JSON renderer."""
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso"),
        _access_fields,
        redact_processor,
    ]


def json_formatter() -> logging.Formatter:
    """A formatter rendering standard-library records as structlog JSON lines."""
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.JSONRenderer(),
        ],
        foreign_pre_chain=_foreign_chain(),
        pass_foreign_args=True,  # the access record's fields (see _access_fields)
    )


def uvicorn_log_config(*, json: bool = False) -> dict[str, Any]:
    """uvicorn's logging configuration with :class:`RedactKeys` on its handlers (the access log
    prints the request line, query string included); with ``json``, its lines rendered as JSON."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_keys"] = {"()": RedactKeys}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("redact_keys")
        if json:
            handler["stream"] = "ext://sys.stderr"  # the access log goes to stdout by default
    if json:
        config["formatters"] = {name: {"()": json_formatter} for name in config.get("formatters", {})}
    return config


class _Stderr:
    """Whatever ``sys.stderr`` is at write time (test runners and CLIs swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _json_root(level: int) -> None:
    """Send every other standard-library logger (alembic, libraries) through :func:`json_formatter`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter())
    handler.addFilter(RedactKeys())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)


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
    if json:
        _json_root(level)
