"""Helpers shared by the command groups: one way to report errors and exit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from runtime.config import Settings
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
        err_console.print(f"[bold red]error[/] ({e.code}): {e.message}")
        raise typer.Exit(EXIT_USAGE if isinstance(e, InputError) else EXIT_INFRA) from e
