"""``hangar sandbox``: run a command or a shell in a fresh sandbox, list and remove sandboxes.

These commands share the namespace of the Hangar server on this machine (``HANGAR_SANDBOX_NAMESPACE``)
so ``ls`` and ``rm`` see its boxes, and therefore never reap: removing is only ever explicit.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Annotated, Literal

import structlog
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from runtime.cli.common import docker_provider, err_console, fail_on_hangar_error
from runtime.config import Settings
from runtime.sandbox.base import Provider, SandboxInfo, SandboxSpec

app = typer.Typer(help="Run commands in sandboxes; list and remove sandboxes.", no_args_is_help=True)
console = Console()

Network = Literal["none", "egress", "allowlist"]
NETWORK_HELP = (
    "none (loopback only), egress (any public host), or allowlist (only the --allow domains); both "
    "through the egress proxy, which refuses loopback, link-local and private addresses."
)
ALLOW_HELP = "Domain the box may reach with --network allowlist (repeatable; `*.example.com` for subdomains)."


@app.callback()
def _setup(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log lifecycle events.")) -> None:
    level = logging.INFO if verbose else logging.ERROR
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


def _provider() -> Provider:
    return docker_provider(Settings())


def _spec(image: str | None, network: Network, memory_mb: int, allow: list[str] | None = None) -> SandboxSpec:
    """Raises ``InputError`` (via pydantic) for a bad domain or ``--allow`` without an allowlist."""
    try:
        return SandboxSpec(
            image=image or Settings().sandbox_image,
            network=network,
            memory_mb=memory_mb,
            allowed_domains=tuple(allow or ()),
        )
    except ValidationError as e:
        raise typer.BadParameter(e.errors()[0]["msg"]) from e


def _write(stream: str, text: str) -> None:
    out = sys.stderr if stream == "stderr" else sys.stdout
    out.write(text)
    out.flush()


@app.command("run", context_settings={"ignore_unknown_options": True})
def run(
    command: Annotated[list[str], typer.Argument(help="The command, after `--`.")],
    image: str | None = typer.Option(None, help="Sandbox image (default: HANGAR_SANDBOX_IMAGE)."),
    network: str = typer.Option("none", help=NETWORK_HELP),
    allow: Annotated[list[str] | None, typer.Option(help=ALLOW_HELP)] = None,
    timeout: float | None = typer.Option(None, help="Kill the command after this many seconds."),
    memory: int = typer.Option(1024, help="Memory limit in MB."),
) -> None:
    """Cold-start a sandbox, run COMMAND with live output, exit with its code, remove the sandbox."""
    net = _network(network)
    with fail_on_hangar_error():
        code = asyncio.run(_run(command, _spec(image, net, memory, allow), timeout))
    raise typer.Exit(code)


async def _run(command: list[str], spec: SandboxSpec, timeout_s: float | None) -> int:
    async with _provider() as provider, await provider.create(spec) as box:
        result = await box.client.exec(command, timeout_s=timeout_s, on_output=_write)
    if result.timed_out:
        err_console.print(f"[yellow]timed out after {timeout_s:g} s[/]")
        return 124
    return result.exit_code if result.exit_code >= 0 else 128 - result.exit_code


@app.command("shell")
def shell(
    image: str | None = typer.Option(None, help="Sandbox image (default: HANGAR_SANDBOX_IMAGE)."),
    network: str = typer.Option("none", help=NETWORK_HELP),
    allow: Annotated[list[str] | None, typer.Option(help=ALLOW_HELP)] = None,
    memory: int = typer.Option(1024, help="Memory limit in MB."),
) -> None:
    """A persistent shell in a fresh sandbox: one command per line; `exit` or Ctrl-D removes it.
    Reads piped standard input too, and exits with the last command's code."""
    net = _network(network)
    with fail_on_hangar_error():
        code = asyncio.run(_shell(_spec(image, net, memory, allow)))
    raise typer.Exit(code)


async def _shell(spec: SandboxSpec) -> int:
    interactive = sys.stdin.isatty()
    code = 0
    async with _provider() as provider, await provider.create(spec) as box:
        if interactive:
            err_console.print(f"[dim]sandbox {box.id} ready; `exit` or Ctrl-D to leave[/]")
        cwd = "/workspace"
        while (line := await asyncio.to_thread(_read_line, interactive, cwd)) is not None:
            if line.strip() == "exit":
                break
            if not line.strip():
                continue
            result = await box.client.shell(line)
            _write(
                "stdout",
                result.output if result.output.endswith("\n") or not result.output else result.output + "\n",
            )
            code, cwd = result.exit_code, result.cwd
            if interactive and code:
                err_console.print(f"[dim]exit {code}[/]")
    return code


def _read_line(interactive: bool, cwd: str) -> str | None:
    if not interactive:
        line = sys.stdin.readline()
        return line.rstrip("\n") if line else None
    try:
        return console.input(f"[bold green]sandbox[/]:[blue]{cwd}[/]$ ")
    except EOFError:
        console.print()
        return None


@app.command("ls")
def ls() -> None:
    """List this namespace's sandboxes."""
    with fail_on_hangar_error():
        infos = asyncio.run(_ls())
    table = Table()
    table.add_column("ID", no_wrap=True)  # container names are hangar-<id>; `rm` takes either
    for column in ("STATE", "IMAGE", "CREATED", "SPEC"):
        table.add_column(column)
    for info in infos:
        table.add_row(info.id, info.state, info.image, info.created, info.spec_key or "")
    console.print(table)


async def _ls() -> list[SandboxInfo]:
    async with _provider() as provider:
        return list(await provider.list())


@app.command("rm")
def rm(
    ids: Annotated[list[str] | None, typer.Argument(help="Sandbox ids or container names.")] = None,
    all_: bool = typer.Option(False, "--all", help="Remove every sandbox of this namespace."),
) -> None:
    """Remove sandboxes (their container, fresh workspace volume and socket directory)."""
    if not ids and not all_:
        err_console.print("give sandbox ids or --all")
        raise typer.Exit(2)
    with fail_on_hangar_error():
        removed = asyncio.run(_rm(ids or [], all_))
    for sandbox_id in removed:
        console.print(sandbox_id)


async def _rm(ids: list[str], all_: bool) -> list[str]:
    async with _provider() as provider:
        if all_:
            ids = [info.id for info in await provider.list()]
        for sandbox_id in ids:
            await provider.remove(sandbox_id)
    return ids


def _network(value: str) -> Network:
    if value == "none":
        return "none"
    if value == "egress":
        return "egress"
    if value == "allowlist":
        return "allowlist"
    raise typer.BadParameter("--network must be none, egress or allowlist")
