"""``hangar run --server URL AGENT "task"``: the same run, through a Hangar server.

A background interaction is created with the real google-genai client and followed live over SSE;
the steps are printed as in the in-process mode, ``--output-dir`` gets the same files, and the exit
code is the same per terminal status. Ctrl-C (or ``--timeout``) cancels the interaction on the
server. ``--detach`` prints the interaction id and leaves the run to the server.
"""

from __future__ import annotations

import asyncio
import posixpath
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google import genai
from google.genai import _interactions as gai
from google.genai import errors as genai_errors
from google.genai import interactions as gi
from rich.console import Console

from runtime import steps as s
from runtime.agent.events import RunStatus, StepAdded
from runtime.cli.common import EXIT_USAGE
from runtime.cli.display import LiveDisplay
from runtime.cli.remote import api_errors, connect, follow, quiet_experimental, steps_of
from runtime.cli.run_output import (
    EXIT_CODES,
    RunReport,
    extract_bytes,
    refused_note,
    write_file_below,
)
from runtime.errors import HangarError, InputError, LimitExceeded, PathOutsideWorkspace
from runtime.sandboxd.tarstream import ExtractLimits, ExtractResult

ARTIFACTS = ("plan.md", "walkthrough.md", "report.md", "charts")
"""``charts``: the images a research report embeds, next to it (see runtime.agent.answer)."""
"""Downloaded when present: the shipped agents ask for them without requiring them (``outputs``)."""
NO_FILES_API = (
    "not downloaded: this server has no environment files API "
    "(GET /v1/environments/{id}/files/{path}); the files stay in the environment's workspace"
)


@dataclass
class RemoteRun:
    """What ``hangar run --server`` was asked to do."""

    agent: str
    task: str
    server: str | None
    api_key: str | None
    outputs: list[str] = field(default_factory=list)
    """Workspace paths to download into ``output_dir/files`` (declared outputs, artifacts, --fetch)."""
    output_dir: Path | None = None
    timeout_s: float | None = None
    agent_config: dict[str, Any] = field(default_factory=dict)
    detach: bool = False


def final_text(steps: list[s.Step]) -> str:
    for step in reversed(steps):
        if isinstance(step, s.ModelOutputStep):
            return "".join(c.text for c in step.content or [] if isinstance(c, s.TextContent))
    return ""


def apply_final(report: RunReport, final: gi.Interaction) -> list[s.Step]:
    """Copy the interaction's outcome into the report; returns its steps."""
    steps = steps_of(final)
    report.status = final.status
    report.reason = _first_error(final) or f"interaction {final.status}"
    report.final_text = final_text(steps)
    report.usage = final.usage.model_dump(exclude_none=True) if final.usage else {}
    report.environment_id = getattr(final, "environment_id", None)
    report.timings["model_turns"] = sum(isinstance(st, s.ModelOutputStep) for st in steps)
    return steps


def _first_error(final: gi.Interaction) -> str | None:
    for error in getattr(final, "errors", None) or []:
        message = error.get("message") if isinstance(error, dict) else getattr(error, "message", None)
        if message:
            return str(message)
    return None


async def execute_remote(plan: RemoteRun, report: RunReport, sink: Any) -> list[s.Step]:
    """Run ``plan`` on the server, feeding ``sink`` (a LoopEvent sink) each step as it lands.

    Raises:
        HangarError: the server is unreachable, refuses the key or the request.
    """
    with quiet_experimental(), api_errors(plan.server):
        client = connect(plan.server, plan.api_key)
        body: dict[str, Any] = {"agent": plan.agent, "input": plan.task, "background": True}
        if plan.agent_config:
            body["agent_config"] = {"type": "antigravity", **plan.agent_config}
        created = await client.aio.interactions.create(**body)
        assert isinstance(created, gi.Interaction) and created.id
        report.interaction_id = created.id
        if plan.detach:
            report.status = created.status
            return []
        final = await _follow_until_done(client, created.id, sink, plan.timeout_s)
        steps = apply_final(report, final)
        if plan.output_dir is not None and report.environment_id:
            report.files, report.files_note = await download_files(
                client, report.environment_id, plan.outputs, plan.output_dir / "files"
            )
        return steps


async def _follow_until_done(
    client: genai.Client, interaction_id: str, sink: Any, timeout_s: float | None
) -> gi.Interaction:
    """Follow the run; on Ctrl-C, SIGTERM or the time limit, cancel it on the server."""

    async def on_step(index: int, step: s.Step) -> None:
        await sink(StepAdded(index=index, step=step))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    following = asyncio.create_task(follow(client, interaction_id, on_step))
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({following, stopping}, timeout=timeout_s, return_when="FIRST_COMPLETED")
        if following in done:
            return following.result()
        following.cancel()
        await client.aio.interactions.cancel(interaction_id)
        result = await client.aio.interactions.get(interaction_id)
        assert isinstance(result, gi.Interaction)
        return result
    finally:
        for task in (following, stopping):
            task.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def download_files(
    client: genai.Client, environment_id: str, paths: list[str], dest: Path,
    limits: ExtractLimits | None = None,
) -> tuple[list[str], str | None]:
    """Download ``paths`` of the environment's workspace through the environment files API: a
    file as it is, a folder (served as a tar) extracted, both with the host-side rules of
    :mod:`runtime.cli.run_output` (no links, nothing through a link, nothing outside ``dest``).

    Returns the paths downloaded (missing ones are skipped) and a note: the server has no files
    API at all, or what was refused."""
    got: list[str] = []
    refused: list[str] = []
    for path in dict.fromkeys(paths):
        try:
            kind = await _kind(client, environment_id, path)
            if kind is None:
                continue
            data = await client.aio.environments.files.download(environment=environment_id, path=path)
        except genai_errors.ClientError as e:
            if e.code in (404, 405) and (e.message or "") in ("Not Found", "Method Not Allowed"):
                return got, NO_FILES_API  # the route itself is missing, not the file
            if e.code == 404:
                continue
            raise
        try:
            refused += await _store(kind, path, data, dest, limits or ExtractLimits())
        except InputError as e:
            refused.append(f"{path} ({e.message})")
            continue
        got.append(path)
    return got, refused_note(refused)


async def _kind(client: genai.Client, environment_id: str, path: str) -> str | None:
    """``file`` or ``directory``; ``None`` when the path is missing. A server without the
    listing route answers the download as before (a file)."""
    try:
        page = await client.aio.environments.files.list(environment_id, path)
    except gai.NotFoundError:
        return None
    except gai.APIStatusError:
        return "file"
    files = page.files or []
    one = files[0] if len(files) == 1 else None
    shown = "workspace/" + path.strip("/").removeprefix("workspace/")
    is_file = one is not None and one.type == "file" and one.path == shown
    return "file" if is_file else "directory"


async def _store(kind: str, path: str, data: bytes, dest: Path, limits: ExtractLimits) -> list[str]:
    rel = path.strip("/").removeprefix("workspace/")
    if kind == "file":
        if len(data) > limits.max_bytes:
            raise LimitExceeded(f"{len(data)} bytes is more than {limits.max_bytes} ({limits.bytes_setting})")
        await asyncio.to_thread(write_file_below, dest, rel, data)
        return []
    if ".." in rel.split("/"):
        raise PathOutsideWorkspace(f"{path!r} is not a path inside the output folder")
    # The tar's members are named from the folder's own name: extract next to it.
    result: ExtractResult = await extract_bytes(data, dest, posixpath.dirname(rel), limits)
    return [f"{n} (a link: links are not created on the host)" for n in result.skipped_links]


async def run_remote(plan: RemoteRun, report: RunReport, *, as_json: bool, quiet: bool) -> int:
    """The exit code of ``hangar run --server`` (after writing the outputs, like the in-process run)."""
    from runtime.cli.run import _finish, _JsonEvents  # run.py imports this module

    console = Console(stderr=as_json)
    sink: Any = _JsonEvents() if as_json else LiveDisplay(console, quiet=quiet)
    steps: list[s.Step] = [s.UserInputStep(content=[s.TextContent(text=plan.task)])]
    started = time.monotonic()
    code: int | None = None
    try:
        steps = await execute_remote(plan, report, sink) or steps
    except HangarError as e:
        report.status, report.reason = RunStatus.FAILED, f"{e.code}: {e.message}"
        code = EXIT_USAGE if isinstance(e, InputError) else None
    finally:
        if isinstance(sink, LiveDisplay):
            sink.close()
    if plan.detach and report.interaction_id and code is None:
        sys.stdout.write(report.interaction_id + "\n")
        return 0
    report.timings["total_s"] = round(time.monotonic() - started, 3)
    _finish(report, steps, plan.output_dir, console, as_json)
    return code if code is not None else EXIT_CODES.get(report.status, 1)
