"""``hangar keys``: create, list and revoke API keys (in the local database, in-process)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from runtime.cli.common import err_console, fail_on_hangar_error
from runtime.config import Settings
from runtime.service import KeyService
from runtime.store import DEFAULT_PROJECT, Store

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
console = Console()
T = TypeVar("T")

DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="State directory (default: HANGAR_DATA_DIR).")
]


def _with_keys(data_dir: Path | None, action: Callable[[KeyService], Awaitable[T]]) -> T:
    settings = Settings(data_dir=data_dir) if data_dir is not None else Settings()

    async def run() -> T:
        store = Store(settings.resolved_database_url)
        await store.open()
        try:
            return await action(KeyService(store))
        finally:
            await store.close()

    with fail_on_hangar_error():
        return asyncio.run(run())


@app.command()
def create(
    name: Annotated[str, typer.Option(help="A label for the key.")] = "",
    project: Annotated[str, typer.Option(help="Project of the key (created if new).")] = DEFAULT_PROJECT,
    data_dir: DataDir = None,
) -> None:
    """Create a key; its plaintext is printed once and never stored."""
    record, plaintext = _with_keys(data_dir, lambda keys: keys.create(project, name))
    console.print(f"{record.id} (project {record.project_id})")
    console.print(plaintext)


@app.command("list")
def list_keys(data_dir: DataDir = None) -> None:
    """List keys (id, project, prefix, name, created, revoked)."""
    records = _with_keys(data_dir, lambda keys: keys.list())
    table = Table("id", "project", "prefix", "name", "created", "revoked")
    for r in records:
        table.add_row(r.id, r.project_id, r.prefix + "…", r.name, _when(r.created), _when(r.revoked))
    console.print(table)


@app.command()
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (key_…).")], data_dir: DataDir = None
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    if not _with_keys(data_dir, lambda keys: keys.revoke(key_id)):
        err_console.print(f"[bold red]error[/]: no active key {key_id}")
        raise typer.Exit(2)
    console.print(f"revoked {key_id}")


def _when(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
