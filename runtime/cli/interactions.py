"""``hangar interactions wait|stream|get|cancel ID``: follow or steer a run on a Hangar server.

``wait`` and ``stream`` exit with the run's code (``run_output.EXIT_CODES``), so a CI job can
start a run with ``hangar run --server URL --detach`` and pick it up later.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from google import genai
from google.genai import interactions as gi
from rich.console import Console

from runtime import steps as s
from runtime.agent.events import StepAdded
from runtime.cli.common import fail_on_hangar_error
from runtime.cli.display import LiveDisplay
from runtime.cli.remote import ApiKeyOption, ServerOption, api_errors, connect, follow, quiet_experimental
from runtime.cli.run_output import EXIT_CODES
from runtime.cli.run_remote import final_text

app = typer.Typer(help="Follow, show and cancel interactions on a Hangar server.", no_args_is_help=True)

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="Interaction id.")]


def _call(
    server: str | None, api_key: str | None, action: Callable[[genai.Client], Awaitable[gi.Interaction]]
) -> gi.Interaction:
    async def main() -> gi.Interaction:
        with quiet_experimental(), api_errors(server):
            return await action(connect(server, api_key))

    with fail_on_hangar_error():
        return asyncio.run(main())


def _dump(interaction: gi.Interaction) -> dict[str, Any]:
    data: dict[str, Any] = interaction.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def _exit(interaction: gi.Interaction, console: Console) -> None:
    status = interaction.status or "unknown"
    text = final_text([st for raw in interaction.steps or [] if (st := _step(raw)) is not None])
    if text:
        console.print(text)
    colour = "green" if status == "completed" else "red"
    console.print(f"[bold {colour}]{status}[/] {interaction.id}")
    raise typer.Exit(EXIT_CODES.get(status, 1))


def _step(raw: Any) -> s.Step | None:
    from runtime.cli.remote import to_step

    return to_step(raw)


@app.command("get")
def get(interaction_id: IdArgument, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Print the interaction as JSON."""

    async def action(client: genai.Client) -> gi.Interaction:
        result = await client.aio.interactions.get(interaction_id)
        assert isinstance(result, gi.Interaction)
        return result

    interaction = _call(server, api_key, action)
    sys.stdout.write(json.dumps(_dump(interaction), indent=2, ensure_ascii=False) + "\n")


@app.command("wait")
def wait(interaction_id: IdArgument, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Wait until the interaction ends; print its answer and exit with its code."""
    _exit(_call(server, api_key, lambda client: follow(client, interaction_id)), Console())


@app.command("stream")
def stream(interaction_id: IdArgument, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Print the interaction's steps live (from its first), then exit with its code."""
    console = Console()
    display = LiveDisplay(console)

    async def on_step(index: int, step: s.Step) -> None:
        await display(StepAdded(index=index, step=step))

    try:
        interaction = _call(server, api_key, lambda client: follow(client, interaction_id, on_step))
    finally:
        display.close()
    _exit(interaction, console)


@app.command("cancel")
def cancel(interaction_id: IdArgument, server: ServerOption = None, api_key: ApiKeyOption = None) -> None:
    """Cancel a running interaction."""

    async def action(client: genai.Client) -> gi.Interaction:
        return await client.aio.interactions.cancel(interaction_id)

    interaction = _call(server, api_key, action)
    Console().print(f"{interaction.status} {interaction.id}")
