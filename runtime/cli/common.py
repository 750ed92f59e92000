"""Helpers shared by the command groups: one way to report errors and exit."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer
from pydantic import ValidationError
from rich.console import Console

from runtime.config import ENV_PREFIX, Settings, SettingsError
from runtime.errors import HangarError, InputError
from runtime.sandbox.base import Provider

err_console = Console(stderr=True)

EXIT_USAGE = 2
EXIT_INFRA = 7
"""Exit codes shared by every command; ``hangar run`` adds one per terminal status (README)."""


def docker_provider(settings: Settings) -> Provider:
    """The provider of a one-off command (see :func:`runtime.service.sandboxes.command_provider`)."""
    from runtime.service.sandboxes import command_provider

    return command_provider(settings)


@contextlib.contextmanager
def fail_on_hangar_error() -> Iterator[None]:
    """Turn a HangarError into a one-line message and an exit code, never a traceback."""
    try:
        yield
    except HangarError as e:
        err_console.print(f"[bold red]error[/] ({e.code}): {e.message}", soft_wrap=True)
        raise typer.Exit(EXIT_USAGE if isinstance(e, InputError) else EXIT_INFRA) from e


@contextlib.contextmanager
def fail_on_bad_settings() -> Iterator[None]:
    """Around the whole CLI: settings a command read from ``HANGAR_*`` that are refused (a removed
    or unknown name, a bad value) end the process with one line and ``EXIT_USAGE``, never a
    traceback. Values are not shown: some are secrets."""
    try:
        yield
    except SettingsError as e:
        err_console.print(f"[bold red]error[/] ({e.code}): {e.message}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except ValidationError as e:
        if e.title != Settings.__name__:
            raise
        problems = "; ".join(_setting_problem(error["loc"], error["msg"]) for error in e.errors())
        err_console.print(f"[bold red]error[/] ({SettingsError.code}): {problems}", soft_wrap=True)
        sys.exit(EXIT_USAGE)


def _setting_problem(loc: tuple[int | str, ...], message: str) -> str:
    if not loc:
        return message
    name = str(loc[0]).upper()
    return f"{name if name in ('GEMINI_API_KEY', 'GOOGLE_API_KEY') else ENV_PREFIX + name}: {message}"
