"""``hangar run AGENT "task"``: run an agent in-process against the local Docker engine.

The CI entry point: live steps for people (or JSON events with ``--json``), the declared outputs
downloaded, ``result.json`` / ``steps.jsonl`` / ``summary.md`` written, and an exit code per
terminal status (see ``run_output.EXIT_CODES``).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from runtime import steps as s
from runtime.agent.answer import CHARTS_DIR
from runtime.agent.events import LoopEvent, RunResult, RunStatus, StepAdded
from runtime.agent.session import AgentSession, loop_config
from runtime.agents import AgentRegistry, default_agents_dir, load_agent_file
from runtime.agents.spec import AgentSpec
from runtime.cli.common import EXIT_INFRA, EXIT_USAGE, docker_provider, err_console
from runtime.cli.display import LiveDisplay
from runtime.cli.remote import ApiKeyOption
from runtime.cli.run_output import (
    EXIT_CODES,
    RunReport,
    append_github_summary,
    download_outputs,
    write_outputs,
)
from runtime.cli.run_remote import RemoteRun, run_remote
from runtime.cli.run_sources import base_sources, placed_sources
from runtime.config import Settings
from runtime.errors import HangarError, InputError
from runtime.llm.gemini import GeminiClient
from runtime.sandbox.base import SandboxSpec
from runtime.sandboxd.tarstream import ExtractLimits

ARTIFACTS = ("plan.md", "walkthrough.md", "report.md", CHARTS_DIR)


def resolve_agent(ref: str, agents_dir: Path | None) -> tuple[AgentSpec, str]:
    """An agent id (from the agents folder) or a YAML path; returns it with its spec hash."""
    folder = agents_dir or default_agents_dir()
    path = Path(ref)
    if ref.endswith((".yaml", ".yml")) or path.is_file():
        registry = AgentRegistry.from_folder(folder) if folder.is_dir() else AgentRegistry()
        spec = registry.resolve(path) if folder.is_dir() else load_agent_file(path)
        return spec, spec.spec_hash(folder)
    registry = AgentRegistry.from_folder(folder)
    return registry.resolve(ref), registry.spec_hash(ref)


def _task_text(task: str | None, input_file: Path | None) -> str:
    if input_file is not None:
        if not input_file.is_file():
            raise InputError(f"input file not found: {input_file}")
        extra = input_file.read_text(encoding="utf-8")
        return f"{task}\n\n{extra}" if task else extra
    if not task:
        raise InputError("give the task as an argument or with --input-file")
    return task


class _JsonEvents:
    async def __call__(self, event: LoopEvent) -> None:
        if isinstance(event, StepAdded):
            line = {"event": "step", "index": event.index, "step": s.dump_step(event.step)}
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
            sys.stdout.flush()


async def _execute(
    agent: AgentSpec,
    agent_hash: str,
    task: str,
    *,
    data: list[Path],
    fetch: list[str],
    output_dir: Path | None,
    time_limit_s: float | None,
    max_tokens: int | None,
    model: str | None,
    as_json: bool,
    quiet: bool,
) -> int:
    settings = Settings()
    gemini = GeminiClient(base_url=settings.gemini_base_url)
    steps: list[s.Step] = [s.UserInputStep(content=[s.TextContent(text=task)])]
    report = RunReport(agent=agent.id, agent_hash=agent_hash, task=task, status=RunStatus.FAILED, reason="")
    started = time.monotonic()
    console = Console(stderr=as_json)
    sink = _JsonEvents() if as_json else LiveDisplay(console, quiet=quiet)
    cancel = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, cancel.set)
    try:
        gemini.check_credentials()  # before any sandbox starts
        base_sources(agent)  # a source that cannot be placed is bad usage, found before any box
        config = loop_config(agent, model=model, max_tokens=max_tokens, timeout_s=time_limit_s)
        base = SandboxSpec(
            image=settings.sandbox_image, runtime=settings.sandbox_runtime,
            disk_quota_bytes=settings.workspace_quota_bytes,
            disk_quota_entries=settings.workspace_quota_entries,
        )
        async with (
            docker_provider(settings) as provider,
            placed_sources(agent, provider, base) as base,
            AgentSession(agent, provider, gemini, config=config, sink=sink, base_spec=base) as session,
        ):
            report.sandbox_id = session.sandbox.id if session.sandbox else None
            report.timings["provision_s"] = round(time.monotonic() - started, 3)
            for path in data:
                await session.upload(path)
            result = await session.run(steps, cancel)
            _apply(report, result)
            if output_dir is not None:
                report.files, report.files_note = await _download(
                    session, [*(agent.outputs or []), *ARTIFACTS, *fetch], output_dir, settings
                )
    except HangarError as e:
        report.status, report.reason = RunStatus.FAILED, f"{e.code}: {e.message}"
        # Exit code: bad usage, or infrastructure that failed before the run had a sandbox.
        early = EXIT_USAGE if isinstance(e, InputError) else EXIT_INFRA if report.sandbox_id is None else None
        if early is not None:
            report.timings["total_s"] = round(time.monotonic() - started, 3)
            _finish(report, steps, output_dir, console, as_json)
            return early
    finally:
        if isinstance(sink, LiveDisplay):
            sink.close()
        await gemini.aclose()
    report.timings["total_s"] = round(time.monotonic() - started, 3)
    _finish(report, steps, output_dir, console, as_json)
    return EXIT_CODES.get(report.status, 1)


def _apply(report: RunReport, result: RunResult) -> None:
    report.status, report.reason, report.final_text = result.status, result.reason, result.final_text
    report.usage = result.usage.model_dump()
    report.timings["model_turns"] = result.model_turns


async def _download(
    session: AgentSession, paths: list[str], output_dir: Path, settings: Settings
) -> tuple[list[str], str | None]:
    limits = ExtractLimits(
        max_bytes=settings.workspace_quota_bytes, max_entries=settings.workspace_quota_entries,
        bytes_setting="HANGAR_WORKSPACE_QUOTA_BYTES", entries_setting="HANGAR_WORKSPACE_QUOTA_ENTRIES",
    )
    return await download_outputs(session, paths, output_dir / "files", limits)


def _finish(
    report: RunReport, steps: list[s.Step], output_dir: Path | None, console: Console, as_json: bool
) -> None:
    if output_dir is not None:
        write_outputs(output_dir, report, steps)
    append_github_summary(report)
    if as_json:
        sys.stdout.write(json.dumps({"event": "result", **report.to_json()}, ensure_ascii=False) + "\n")
        return
    colour = "green" if report.status == RunStatus.COMPLETED else "red"
    if report.final_text:
        console.print()
        console.print(report.final_text)
    console.print(f"\n[bold {colour}]{report.status}[/]: {report.reason}")
    if output_dir is not None:
        console.print(f"results in {output_dir}/ (result.json, steps.jsonl, summary.md, files/)")


def _run_on_server(
    agent: str,
    task: str | None,
    input_file: Path | None,
    *,
    server: str,
    api_key: str | None,
    data: list[Path],
    output_dir: Path | None,
    fetch: list[str],
    timeout: float | None,
    max_tokens: int | None,
    model: str | None,
    agents_dir: Path | None,
    as_json: bool,
    quiet: bool,
    detach: bool,
) -> NoReturn:
    try:
        if data:
            raise InputError("--data is not supported with --server yet: upload through the environment API")
        text = _task_text(task, input_file)
        agent_id, outputs, agent_hash = _server_agent(agent, agents_dir)
    except HangarError as e:
        err_console.print(f"[bold red]error[/] ({e.code}): {e.message}")
        raise typer.Exit(EXIT_USAGE) from e
    config: dict[str, Any] = {"model": model} if model else {}
    if max_tokens:
        config["max_total_tokens"] = str(max_tokens)
    plan = RemoteRun(
        agent=agent_id,
        task=text,
        server=server,
        api_key=api_key,
        outputs=[*outputs, *ARTIFACTS, *fetch],
        output_dir=output_dir,
        timeout_s=timeout,
        agent_config=config,
        detach=detach,
    )
    report = RunReport(agent=agent_id, agent_hash=agent_hash, task=text, status=RunStatus.FAILED, reason="")
    raise typer.Exit(asyncio.run(run_remote(plan, report, as_json=as_json, quiet=quiet)))


def _server_agent(ref: str, agents_dir: Path | None) -> tuple[str, list[str], str]:
    """The agent id to send, the outputs it declares and its hash, when known here. An agent file
    is sent by id (the server must know it: ``hangar agents push FILE``); an id the local agents
    folder does not know is the server's business."""
    if ref.endswith((".yaml", ".yml")) or Path(ref).is_file():
        spec, spec_hash = resolve_agent(ref, agents_dir)
        return spec.id, list(spec.outputs or []), spec_hash
    try:
        spec, spec_hash = resolve_agent(ref, agents_dir)
    except HangarError:
        return ref, [], ""
    return ref, list(spec.outputs or []), spec_hash


def run(
    agent: Annotated[str, typer.Argument(help="Agent id (from agents/) or path to an agent YAML file.")],
    task: Annotated[str | None, typer.Argument(help="The task. Or use --input-file.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", "-i", help="Read the task from a file.")
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", "-d", help="File or folder to upload into the workspace (repeatable)."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            "-o",
            help="Write result.json, steps.jsonl, summary.md and the produced files here.",
        ),
    ] = None,
    fetch: Annotated[
        list[str] | None,
        typer.Option("--fetch", help="Extra workspace path to download into --output-dir (repeatable)."),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Wall-clock limit in seconds (default: the agent's).")
    ] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", help="Token budget of the run.")] = None,
    model: Annotated[str | None, typer.Option(help="Model id (default: the agent's).")] = None,
    agents_dir: Annotated[
        Path | None, typer.Option("--agents-dir", help="Folder of agent YAML files.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON events on stdout.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final answer and status.")] = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server", envvar="HANGAR_SERVER", help="Run on this Hangar server instead of in-process."
        ),
    ] = None,
    api_key: ApiKeyOption = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="With --server: print the interaction id and exit.")
    ] = False,
) -> None:
    """Run an agent on a task in a fresh sandbox (or on a server) and exit with its status."""
    if server:
        _run_on_server(
            agent,
            task,
            input_file,
            server=server,
            api_key=api_key,
            data=data or [],
            output_dir=output_dir,
            fetch=fetch or [],
            timeout=timeout,
            max_tokens=max_tokens,
            model=model,
            agents_dir=agents_dir,
            as_json=as_json,
            quiet=quiet,
            detach=detach,
        )
    if detach:
        err_console.print("[bold red]error[/] (invalid_argument): --detach needs --server")
        raise typer.Exit(EXIT_USAGE)
    try:
        spec, spec_hash = resolve_agent(agent, agents_dir)
        text = _task_text(task, input_file)
    except HangarError as e:
        err_console.print(f"[bold red]error[/] ({e.code}): {e.message}")
        raise typer.Exit(EXIT_USAGE) from e
    code = asyncio.run(
        _execute(
            spec,
            spec_hash,
            text,
            data=data or [],
            fetch=fetch or [],
            output_dir=output_dir,
            time_limit_s=timeout,
            max_tokens=max_tokens,
            model=model,
            as_json=as_json,
            quiet=quiet,
        )
    )
    raise typer.Exit(code)
