"""Helpers shared by the command groups: one way to report errors and exit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console

from runtime.config import Settings
from runtime.errors import HangarError, InputError
from runtime.sandbox.docker import DockerProvider, DockerProviderConfig

err_console = Console(stderr=True)

EXIT_USAGE = 2
EXIT_INFRA = 7
"""Exit codes shared by every command; ``hangar run`` adds one per terminal status (README)."""


def docker_provider(settings: Settings) -> DockerProvider:
    """The Docker provider of a one-off command (``hangar run``, ``hangar sandbox``): its boxes live
    in the CLI namespace, apart from a server's (whose reaper would take them for orphans), and it
    never reaps (other commands may be running); ``hangar sandbox rm --all`` cleans up after a
    killed command."""
    return DockerProvider(
        DockerProviderConfig(
            state_dir=settings.data_dir / "sandbox",
            namespace=settings.cli_sandbox_namespace,
            runtime=settings.sandbox_runtime,
            reap_on_start=False,
            reap_interval_s=None,
            quota_interval_s=settings.workspace_quota_check_seconds,
        )
    )


@contextlib.contextmanager
def fail_on_hangar_error() -> Iterator[None]:
    """Turn a HangarError into a one-line message and an exit code, never a traceback."""
    try:
        yield
    except HangarError as e:
        err_console.print(f"[bold red]error[/] ({e.code}): {e.message}")
        raise typer.Exit(EXIT_USAGE if isinstance(e, InputError) else EXIT_INFRA) from e
