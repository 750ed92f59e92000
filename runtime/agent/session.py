"""One agent in one sandbox: provision the box for the agent's spec, copy its data sources in,
run the loop (once, or again when a ``requires_action`` pause is answered), fetch its outputs.

Used in-process by ``hangar run`` and by the worker; it knows nothing about HTTP or the store.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog
from google.genai import types

from runtime import steps as s
from runtime.agent.conventions import apply_conventions
from runtime.agent.events import RunResult, Sink
from runtime.agent.grounding import maps_settings
from runtime.agent.loop import AgentLoop, LoopConfig
from runtime.agent.prompt import SkillEntry, system_instruction
from runtime.agents.skills import read_skill
from runtime.agents.spec import AgentSpec, DataSource
from runtime.agents.wire import AllowedTools, FunctionTool, GoogleSearchTool, McpServerTool, UrlContextTool
from runtime.errors import InfraError, InputError
from runtime.llm.base import ModelClient
from runtime.sandbox.base import Provider, Sandbox, SandboxSpec
from runtime.sandboxd.tarstream import ExtractLimits, ExtractResult
from runtime.tools.hooks import OutboundGuard
from runtime.tools.mcp import McpServer
from runtime.tools.toolset import Toolset

log = structlog.get_logger(__name__)

DEFAULT_MODEL = "gemini-3-flash-preview"


def toolset_for(agent: AgentSpec, extra_functions: list[types.FunctionDeclaration] | None = None) -> Toolset:
    """The built-ins the agent allows, its client-side functions and Gemini's built-in tools."""
    functions = [
        types.FunctionDeclaration(name=t.name, description=t.description, parameters_json_schema=t.parameters)
        for t in agent.tools or []
        if isinstance(t, FunctionTool)
    ]
    return Toolset.build(
        agent.builtin_tools,
        client_functions=functions + list(extra_functions or []),
        google_search=any(isinstance(t, GoogleSearchTool) for t in agent.tools or []),
        url_context=any(isinstance(t, UrlContextTool) for t in agent.tools or []),
        google_maps=maps_settings(agent.tools or []),
    )


def mcp_servers_for(tools: Sequence[object]) -> list[McpServer]:
    """The ``mcp_server`` entries of an agent's (or a request's) tools."""
    return [
        McpServer(
            name=t.name, url=t.url, headers=dict(t.headers or {}), allowed_tools=_allowed(t.allowed_tools)
        )
        for t in tools
        if isinstance(t, McpServerTool)
    ]


def _allowed(entries: list[AllowedTools] | None) -> frozenset[str] | None:
    """The tool names the entries allow (``None``: all). An entry without ``tools`` allows all;
    ``mode: none`` entries allow nothing; the other modes only steer Gemini's calling and are ignored."""
    if not entries:
        return None
    names: set[str] = set()
    for entry in entries:
        if entry.mode == "none":
            continue
        if entry.tools is None:
            return None
        names.update(entry.tools)
    return frozenset(names)


def loop_config(
    agent: AgentSpec,
    *,
    model: str | None = None,
    max_tokens: int | None = None,
    timeout_s: float | None = None,
    extra_functions: list[types.FunctionDeclaration] | None = None,
    extra_mcp_servers: Sequence[McpServerTool] = (),
) -> LoopConfig:
    """The loop's configuration for ``agent``; ``extra_*`` are the tools the request adds."""
    toolset = toolset_for(agent, extra_functions)
    skills = [read_skill(p) for p in agent.skills or []]
    instruction = system_instruction(
        agent.system_instruction,
        tool_names=[*toolset.builtins, *toolset.client_functions],
        skills=[SkillEntry(sk.name, sk.description, sk.mount_path) for sk in skills],
        network=agent.wants_egress(),
        outputs=agent.outputs or [],
    )
    config_tokens = agent.agent_config.max_total_tokens if agent.agent_config else None
    return LoopConfig(
        model=model or agent.model or DEFAULT_MODEL,
        system_instruction=instruction,
        toolset=toolset,
        max_steps=agent.limits.max_steps,
        max_total_tokens=max_tokens or config_tokens,
        wall_time_s=timeout_s or agent.limits.wall_time_s,
        outputs=list(agent.outputs or []),
        mcp_servers=mcp_servers_for([*(agent.tools or []), *extra_mcp_servers]),
    )


class AgentSession:
    """``async with AgentSession(...) as session: await session.run(steps)``. The sandbox lives
    as long as the session (so a ``requires_action`` pause can be answered in the same box)."""

    def __init__(
        self,
        agent: AgentSpec,
        provider: Provider,
        model: ModelClient,
        *,
        config: LoopConfig,
        base_spec: SandboxSpec | None = None,
        sink: Sink | None = None,
        copy_sources: bool = True,
        outbound: OutboundGuard | None = None,
        keep_box: bool = False,
    ) -> None:
        """``copy_sources=False`` skips the agent's data sources (a resumed run: the workspace
        volume has them, maybe edited). ``outbound`` makes the HTTP handlers of workspace hooks
        possible (without it a hooks file that declares one fails the run). ``keep_box`` hands
        the box back to the provider to keep warm for the next run on its workspace (when the
        session ends without an error; the provider may still stop it)."""
        self.agent = agent
        self.provider = provider
        self.model = model
        self.config = config
        self.base_spec = base_spec
        self.sink = sink
        self.copy_sources = copy_sources
        self.outbound = outbound
        self.keep_box = keep_box
        self.sandbox: Sandbox | None = None

    async def start(self) -> Sandbox:
        spec = self.agent.sandbox_spec(self.base_spec)
        self.sandbox = await self.provider.create(spec)
        log.info("sandbox_ready", sandbox_id=self.sandbox.id, agent=self.agent.id)
        sources = (self.agent.data_sources or []) if self.copy_sources else []
        for source in sources:
            await self._copy_source(source)
        return self.sandbox

    async def upload(self, local: Path, dest: str = ".") -> int:
        if not await asyncio.to_thread(local.exists):
            raise InputError(f"no such file or folder to upload: {local}")
        return await self._box().client.upload_path(local, dest)

    async def run(self, steps: list[s.Step], cancel: asyncio.Event | None = None) -> RunResult:
        config = await apply_conventions(self.config, self._box().client, guard=self.outbound)
        loop = AgentLoop(self.model, self._box().client, config, self.sink)
        return await loop.run(steps, cancel)

    async def download(
        self, path: str, local_dir: Path, *, limits: ExtractLimits | None = None
    ) -> ExtractResult:
        """Extract workspace ``path`` under ``local_dir`` on the host (no links created)."""
        return await self._box().client.download_path(path, local_dir, limits=limits)

    async def stop(self) -> None:
        if self.sandbox is not None:
            box, self.sandbox = self.sandbox, None
            await self.provider.release(box, keep=self.keep_box)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.keep_box = False  # a failed or cancelled run's box may be in any state
        await self.stop()

    def _box(self) -> Sandbox:
        if self.sandbox is None:
            raise InfraError("the session has no sandbox (start it first)", retryable=False)
        return self.sandbox

    async def _copy_source(self, source: DataSource) -> None:
        target = source.workspace_target
        if source.path is not None:
            await self._box().client.upload_path(source.path, _parent(target))
            if source.path.name != Path(target).name:
                await self._box().client.move(f"{_parent(target)}/{source.path.name}", target)
            return
        with tempfile.TemporaryDirectory(prefix="hangar-git-") as tmp:
            clone = Path(tmp) / Path(target).name
            await asyncio.to_thread(_git_clone, source.git or "", source.ref, clone)
            await self._box().client.upload_path(clone, _parent(target))


def _parent(target: str) -> str:
    parent = str(Path(target).parent)
    return parent if parent not in ("", ".") else "."


def _git_clone(url: str, ref: str | None, dest: Path) -> None:
    if shutil.which("git") is None:
        raise InputError(f"git is needed on the host to fetch the data source {url}")
    argv = ["git", "clone", "--quiet", "--depth", "1", *(["--branch", ref] if ref else []), url, str(dest)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise InputError(f"could not clone data source {url}: {done.stderr.strip()[-500:]}")
