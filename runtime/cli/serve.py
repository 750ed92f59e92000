"""``hangar serve``: the Interactions API server (uvicorn), its store and its worker in one process."""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import structlog
import typer
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from rich.console import Console

from runtime.cli.common import fail_on_hangar_error
from runtime.config import Settings
from runtime.logs import configure_logging, uvicorn_log_config

app = typer.Typer(help="Run the Hangar API server.")
console = Console()

DEV_KEY_FILE = "dev-api-key"


class DrainingServer(uvicorn.Server):
    """uvicorn, whose worker stops claiming the moment SIGTERM (or Ctrl-C) arrives, before uvicorn
    closes its connections; the lifespan's shutdown then drains what runs (``Worker.stop``)."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        services = getattr(self._app.state, "services", None)
        if services is not None:
            services.worker.stop_claiming()
        super().handle_exit(sig, frame)


def dev_api_key(settings: Settings) -> str:
    """``HANGAR_API_KEY``, else the key saved in the data dir on first start (created then)."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    path = settings.data_dir / DEV_KEY_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = "hk_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key + "\n")
    return key


@app.callback(invoke_without_command=True)
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="State directory (database, dev key).")] = None,
) -> None:
    """Serve /v1, /v1beta and /v1alpha interactions until Ctrl-C."""
    from runtime.api import create_app

    # A server logs what it does: JSON lines when stderr is not a terminal (a service manager,
    # a container), readable lines for a person watching.
    json_logs = not sys.stderr.isatty()
    configure_logging(logging.INFO, json=json_logs)

    with fail_on_hangar_error():
        settings = Settings()
        given = {"host": host, "port": port, "data_dir": data_dir}
        settings = settings.model_copy(update={k: v for k, v in given.items() if v is not None})
        key_given = settings.api_key is not None
        key = dev_api_key(settings)
        settings = settings.model_copy(update={"api_key": SecretStr(key)})
        url = f"http://{settings.host}:{settings.port}"
        if json_logs:  # a service: one JSON line, and never the key (it is in the key file)
            _log_start(settings, url, key_given)
        else:
            _banner(settings, url, key)
        app = create_app(settings)
        config = uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level="info",
            log_config=uvicorn_log_config(json=json_logs), timeout_graceful_shutdown=5,
        )
        DrainingServer(config, app).run()


def _banner(settings: Settings, url: str, key: str) -> None:
    console.print(f"Hangar listening on [bold]{url}[/] (data in {settings.data_dir})")
    console.print(f"Dev API key: [bold]{key}[/]")
    console.print(f"  genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url={url!r}))")
    if settings.gemini_base_url:
        console.print(f"Model calls go to {settings.gemini_base_url}")
    elif settings.gemini_api_key is None:
        console.print("[yellow]Model calls need GEMINI_API_KEY (or GOOGLE_API_KEY) in the env.[/]")


def _log_start(settings: Settings, url: str, key_given: bool) -> None:
    structlog.get_logger(__name__).info(
        "hangar.listening", url=url, data_dir=str(settings.data_dir),
        api_key="HANGAR_API_KEY" if key_given else str(settings.data_dir / DEV_KEY_FILE),
        model_calls=settings.gemini_base_url or ("gemini" if settings.gemini_api_key else "unconfigured"),
    )
