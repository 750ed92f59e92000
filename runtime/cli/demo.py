"""``hangar demo``: watch a whole agent run before you have a Gemini key.

A scripted model (``runtime/demo/script.yaml`` served by ``FakeGemini``) stands in for Gemini; the
rest is real: a Hangar server on loopback in this process, the google-genai client creating a
background interaction, a Docker sandbox running the shell, Python and the browser, the steps
streamed live over SSE. ``--server URL`` runs the same task on a running server with its own model.
The run's files are downloaded to ``--out DIR``, or to a new temporary folder whose path is printed
(never into the current directory, where they would end up committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import typer
from google.genai import interactions as gi
from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel

from runtime import demo as shipped
from runtime.agent.events import StepAdded
from runtime.cli.common import EXIT_INFRA, fail_on_hangar_error
from runtime.cli.display import LiveDisplay
from runtime.cli.local_server import LocalServer
from runtime.cli.remote import ApiKeyOption, api_errors, connect, follow, quiet_experimental
from runtime.cli.run_output import EXIT_CODES
from runtime.cli.run_remote import ARTIFACTS, download_files
from runtime.config import Settings
from runtime.errors import InputError
from runtime.llm import load_script
from runtime.llm.fake_server import FakeGemini
from runtime.sandbox.engine import Engine
from runtime.steps import Step

SCRIPTED_BANNER = (
    "[bold]SCRIPTED DEMO[/]: the model's answers are replayed from runtime/demo/script.yaml, not Gemini.\n"
    "Everything else is real: a Hangar server, the google-genai client, a Docker sandbox running the\n"
    "shell, Python and a browser. Add GEMINI_API_KEY and use `hangar run` / `hangar serve` for real runs."
)


async def check_sandbox(image: str) -> None:
    """Raises ``EngineUnavailable`` or ``ImageMissing`` (with what to do) before anything starts."""
    engine = Engine(max_workers=1)
    try:
        await engine.connect()
        await engine.run(engine.client.images.get, image)
    finally:
        await engine.close()


@contextlib.asynccontextmanager
async def scripted_server(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """A Hangar server in this process whose model is the demo script; yields ``(url, api_key)``."""
    key = "hk_demo_" + secrets.token_urlsafe(16)
    async with FakeGemini(load_script(shipped.SCRIPT)) as fake:
        local = settings.model_copy(
            update={
                "data_dir": settings.data_dir / "demo",
                "sandbox_namespace": "demo",
                "api_key": SecretStr(key),
                "gemini_api_key": SecretStr("scripted-demo"),
                "gemini_base_url": fake.base_url,
                "poll_seconds": 0.2,
            }
        )
        async with LocalServer(local) as server:
            yield server.url, key


async def watch(url: str, api_key: str, console: Console, out_dir: Path) -> gi.Interaction:
    """Create the demo interaction on ``url``, print its steps live, download its files."""
    display = LiveDisplay(console)

    async def on_step(index: int, step: Step) -> None:
        await display(StepAdded(index=index, step=step))

    try:
        with quiet_experimental(), api_errors(url):
            client = connect(url, api_key)
            created = await client.aio.interactions.create(
                agent=shipped.AGENT, input=shipped.TASK, background=True
            )
            assert isinstance(created, gi.Interaction) and created.id
            console.print(f"[dim]interaction {created.id} on {url}: background, followed over SSE[/]\n")
            final = await follow(client, created.id, on_step)
            env = getattr(final, "environment_id", None) or created.id
            got, note = await download_files(client, env, ["report.md", *ARTIFACTS], out_dir)
    finally:
        display.close()
    _where(console, env, out_dir, got, note)
    return final


def _where(console: Console, env: str, out_dir: Path, got: list[str], note: str | None) -> None:
    from runtime.worker.agent_runner import workspace_volume  # the worker is not loaded before a run

    console.print()
    if got:
        console.print(f"Files downloaded to [bold]{out_dir}[/]: {', '.join(got)}")
    volume = workspace_volume(env)
    console.print(f"The workspace of environment [bold]{env}[/] is the Docker volume [bold]{volume}[/]:")
    image = Settings().sandbox_image
    console.print(f"  docker run --rm -v {volume}:/workspace --entrypoint ls {image} -la /workspace")
    if note and not got:
        console.print(f"[dim]({note})[/]")


def output_folder(out: Path | None) -> Path:
    """Where the demo's files go: ``out`` (created), else a new temporary folder.

    Raises :class:`InputError` when ``out`` cannot be a folder."""
    if out is None:
        return Path(tempfile.mkdtemp(prefix="hangar-demo-"))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {out}: cannot create the folder ({e.strerror or e})") from e
    return out


async def _demo(server: str | None, api_key: str | None, console: Console, out: Path | None) -> int:
    settings = Settings()
    out_dir = output_folder(out)
    if server:
        console.print(Panel(f"Demo task on [bold]{server}[/]: its own model answers (not scripted)."))
        final = await watch(server, api_key or "", console, out_dir)
    else:
        console.print(Panel(SCRIPTED_BANNER, border_style="yellow"))
        await check_sandbox(settings.sandbox_image)
        async with scripted_server(settings) as (url, key):
            final = await watch(url, key, console, out_dir)
    colour = "green" if final.status == "completed" else "red"
    console.print(f"[bold {colour}]{final.status}[/]")
    return EXIT_CODES.get(final.status or "", 1)


def demo(
    server: Annotated[
        str | None, typer.Option("--server", help="Run the demo task on this server (its own model).")
    ] = None,
    api_key: ApiKeyOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the run's files (default: a new temporary folder, printed at the end)."
        ),
    ] = None,
) -> None:
    """Watch a full agent run with a scripted model: sandbox, shell, Python, browser, files."""
    console = Console()
    with fail_on_hangar_error():
        try:
            code = asyncio.run(_demo(server, api_key, console, out))
        except KeyboardInterrupt:
            code = EXIT_INFRA
    raise typer.Exit(code)
