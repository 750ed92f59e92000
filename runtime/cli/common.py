"""Helpers shared by the command groups: one way to report errors and exit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from runtime.errors import HangarError, InputError

err_console = Console(stderr=True)

EXIT_USAGE = 2
EXIT_INFRA = 3


@contextlib.contextmanager
def fail_on_hangar_error() -> Iterator[None]:
    """Turn a HangarError into a one-line message and an exit code, never a traceback."""
    try:
        yield
    except HangarError as e:
        err_console.print(f"[bold red]error[/] ({e.code}): {e.message}")
        raise typer.Exit(EXIT_USAGE if isinstance(e, InputError) else EXIT_INFRA) from e
