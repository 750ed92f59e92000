"""``hangar triggers list|show|run|pause|resume``: scheduled agent runs on a Hangar server."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from google import genai
from rich.console import Console
from rich.table import Table

from runtime.cli.common import fail_on_hangar_error
from runtime.cli.remote import ApiKeyOption, ServerOption, api_errors, connect, quiet_experimental

app = typer.Typer(help="List, show, run, pause and resume triggers on a Hangar server.", no_args_is_help=True)
console = Console()
T = TypeVar("T")

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Trigger id (trg_…).")]


def _call(server: str | None, api_key: str | None, action: Callable[[Any], Awaitable[T]]) -> T:
    async def main() -> T:
        with quiet_experimental(), api_errors(server):
            client: genai.Client = connect(server, api_key)
            return await action(client.aio.triggers)

    with fail_on_hangar_error():
        return asyncio.run(main())


def _dump(obj: Any) -> dict[str, Any]:
    data: dict[str, Any] = obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else ""


@app.command("list")
def list_triggers(
    status: Annotated[str | None, typer.Option(help="Only this status: active, paused or error.")] = None,
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """One line per trigger: id, status, schedule, time zone, next run, name."""
    page = _call(server, api_key, lambda t: t.list(filter_=f"status={status}" if status else None))
    table = Table("id", "status", "schedule", "time zone", "next run (UTC)", "name")
    for trigger in page.triggers or []:
        table.add_row(
            trigger.id, trigger.status or "", trigger.schedule, trigger.time_zone,
            _when(trigger.next_run_time), trigger.display_name or "",
        )
    console.print(table)


@app.command("show")
def show(trigger_id: IdArgument, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Print the trigger and its latest executions as JSON."""

    async def action(triggers: Any) -> dict[str, Any]:
        trigger = await triggers.get(trigger_id)
        executions = await triggers.list_executions(trigger_id, page_size=20)
        return {**_dump(trigger), "executions": [_dump(e) for e in executions.trigger_executions or []]}

    sys.stdout.write(json.dumps(_call(server, api_key, action), indent=2, ensure_ascii=False) + "\n")


@app.command("run")
def run(trigger_id: IdArgument, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Run the trigger now; print the execution (``skipped`` while one is still running)."""
    execution = _call(server, api_key, lambda t: t.run(trigger_id))
    console.print(f"{execution.status} {execution.id} interaction {execution.interaction_id or '-'}")
    if execution.status == "skipped":
        raise typer.Exit(1)


@app.command("pause")
def pause(trigger_id: IdArgument, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Stop scheduled runs until ``resume``."""
    trigger = _call(server, api_key, lambda t: t.update(trigger_id, status="paused"))
    console.print(f"{trigger.status} {trigger.id}")


@app.command("resume")
def resume(trigger_id: IdArgument, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Schedule runs again (also after ``error``: the failure count starts over)."""
    trigger = _call(server, api_key, lambda t: t.update(trigger_id, status="active"))
    console.print(f"{trigger.status} {trigger.id} next run {_when(trigger.next_run_time)}")
