"""``hangar agents push FILE``: register an agent file's Interactions API part on a Hangar server.

What is sent is ``AgentSpec.api_fields()`` (spec §7) through ``client.agents.create``; Hangar's
own fields (skills, data sources, sandbox, limits, outputs) stay with the file.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from runtime.agents.loader import load_agent_file
from runtime.cli.agents import _reporting
from runtime.cli.remote import ApiKeyOption, ServerOption, api_errors, connect, quiet_experimental


async def push_agent(fields: dict[str, Any], server: str | None, api_key: str | None) -> dict[str, Any]:
    """POST ``fields`` to ``/v1/agents``; returns the server's Agent as JSON.

    Raises:
        HangarError: the server refused it or could not be reached.
    """
    with quiet_experimental(), api_errors(server):
        client = connect(server, api_key)  # held: a collected client closes its transport
        agent = await client.aio.agents.create(**fields)
    data: dict[str, Any] = agent.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def push(
    file: Annotated[Path, typer.Argument(help="Agent YAML file.")],
    server: ServerOption = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Create the agent of FILE on a Hangar server (its Interactions API fields)."""
    with _reporting():
        fields = load_agent_file(file).api_fields()
        created = asyncio.run(push_agent(fields, server, api_key))
    typer.echo(json.dumps(created, indent=2, ensure_ascii=False))
