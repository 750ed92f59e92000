"""``AgentSpec``: one agent definition, as written in ``agents/*.yaml``.

The first fields mirror the Interactions API Agent resource (spec §7), so the API part of a file can
be pushed with ``client.agents.create(**spec.api_fields())``. The rest are Hangar's additions:
built-in sandbox tools, skills, data sources, sandbox resources, limits and required outputs.
Every model forbids unknown keys. Local paths are checked as described in :mod:`runtime.agents.paths`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from runtime.agents.paths import LocalPath, WorkspacePath
from runtime.agents.skills import SKILLS_MOUNT, check_skill_dir
from runtime.agents.wire import AgentConfig, AgentTool, Environment, EnvironmentOrId
from runtime.sandbox.base import Mount, SandboxSpec

BuiltinTool = Literal["shell", "python", "files", "browser", "plan"]
"""Built-in sandbox tools: ``shell`` (persistent bash), ``python`` (persistent interpreter),
``files`` (read/write/edit/list/search in the workspace), ``browser`` (Chromium), ``plan`` (the
task plan the agent keeps and updates)."""
ALL_BUILTIN_TOOLS: tuple[BuiltinTool, ...] = ("shell", "python", "files", "browser", "plan")

AGENT_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"

SkillPath = Annotated[LocalPath, AfterValidator(check_skill_dir)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class DataSource(_Strict):
    """A local file/folder or a git repository copied into the workspace before the run."""

    path: LocalPath | None = None
    """Local file or folder (relative to the agent file)."""
    git: str | None = Field(default=None, pattern=r"^(https://|ssh://|git@)[^\s]+$")
    """Repository URL (``https://``, ``ssh://`` or ``git@host:org/repo``)."""
    ref: str | None = None
    """Branch, tag or commit of ``git``; the default branch when absent."""
    target: WorkspacePath | None = None
    """Where it lands in the workspace; defaults to the source's base name."""

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.path is None) == (self.git is None):
            raise ValueError("give exactly one of 'path' or 'git'")
        if self.ref is not None and self.git is None:
            raise ValueError("'ref' only applies to 'git'")
        return self

    @property
    def workspace_target(self) -> str:
        """``target``, or the base name of the source."""
        if self.target is not None:
            return self.target
        if self.path is not None:
            return self.path.name
        name = PurePosixPath((self.git or "").rstrip("/").replace(":", "/")).name
        return name.removesuffix(".git") or "repo"


class SandboxConfig(_Strict):
    """Resources of the agent's sandbox; unset fields keep the runtime's defaults."""

    image: str | None = None
    cpus: float | None = Field(default=None, gt=0, le=64)
    memory_mb: int | None = Field(default=None, ge=64)
    network: Literal["none", "egress"] | None = None
    """``egress`` opens outbound network; takes precedence over ``base_environment.network``."""


class Limits(_Strict):
    max_steps: int = Field(default=200, ge=1)
    """Model turns before the run ends with ``budget_exceeded``."""
    wall_time_s: float = Field(default=3600, gt=0)
    """Wall-clock budget of a run in seconds."""


class AgentSpec(_Strict):
    """An agent definition. Only ``id`` is required; ``base_agent`` inherits the rest."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        title="Hangar agent",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    # --- the Interactions API Agent resource
    id: str = Field(pattern=AGENT_ID_PATTERN)
    """Unique id, used as ``agent`` in interactions."""
    description: str | None = None
    system_instruction: str | None = None
    base_agent: str | None = None
    """Id (or API alias) of the agent this one extends."""
    tools: list[AgentTool] | None = None
    """Interactions API tools (functions, MCP servers, Google Search, URL context, code execution)."""
    agent_config: AgentConfig | None = None
    base_environment: EnvironmentOrId | None = None
    """Default environment of runs: an object, or the id of an environment of the caller's project
    that every run in a fresh environment starts from (a copy: a fork)."""

    # --- Hangar additions
    aliases: list[str] | None = None
    """Other ids that resolve to this agent; shell-style patterns allowed (``antigravity-preview-*``).
    Not inherited."""
    builtin_tools: list[BuiltinTool] = Field(default_factory=lambda: list(ALL_BUILTIN_TOOLS))
    """Built-in sandbox tools the agent may use (default: all)."""
    skills: list[SkillPath] | None = None
    """Skill folders (each with a SKILL.md), mounted read-only under /skills and listed to the model."""
    data_sources: list[DataSource] | None = None
    """Files, folders or repositories copied into the workspace before the run."""
    sandbox: SandboxConfig = Field(default_factory=lambda: SandboxConfig())
    limits: Limits = Field(default_factory=lambda: Limits())
    outputs: list[WorkspacePath] | None = None
    """Workspace paths the run must produce; a run that ends without them fails."""

    @model_validator(mode="after")
    def _no_duplicates(self) -> Self:
        _unique("builtin_tools", self.builtin_tools)
        _unique("skill names", [p.name for p in self.skills or []])
        _unique("data source targets", [d.workspace_target for d in self.data_sources or []])
        _unique("outputs", self.outputs or [])
        return self

    # --- derived views
    @property
    def model(self) -> str | None:
        return self.agent_config.model if self.agent_config else None

    def wants_egress(self) -> bool:
        """``sandbox.network`` if set, else what ``base_environment.network`` asks for; default off."""
        if self.sandbox.network is not None:
            return self.sandbox.network == "egress"
        if isinstance(self.base_environment, Environment):
            return bool(self.base_environment.wants_egress())
        return False

    def _allowed_domains(self) -> tuple[str, ...] | None:
        """``base_environment``'s allowlist, unless ``sandbox.network`` decides or it allows all."""
        if self.sandbox.network is not None or not isinstance(self.base_environment, Environment):
            return None
        return self.base_environment.allowed_domains()

    def sandbox_spec(self, base: SandboxSpec | None = None) -> SandboxSpec:
        """``base`` (runtime defaults) with this agent's image, resources, network and skill mounts."""
        base = base or SandboxSpec()
        update: dict[str, Any] = {"network": "egress" if self.wants_egress() else "none"}
        domains = self._allowed_domains()
        if domains is not None:
            update |= {"network": "allowlist", "allowed_domains": domains}
        update |= self.sandbox.model_dump(exclude_none=True, exclude={"network"})
        if isinstance(self.base_environment, Environment) and self.base_environment.env:
            update["env"] = base.env + tuple(sorted(self.base_environment.literal_env().items()))
        if isinstance(self.base_environment, Environment) and self.base_environment.wants_egress():
            update |= self.base_environment.egress_injections()
        if not update.get("egress_rules") and not update.get("egress_placeholders"):
            update["credential_scope"] = None  # (keeps specs without credentials shareable by a pool)
        skills = tuple(Mount(source=str(p), target=f"{SKILLS_MOUNT}/{p.name}") for p in self.skills or [])
        update["mounts"] = base.mounts + skills
        return SandboxSpec.model_validate(base.model_dump() | update)

    def api_fields(self) -> dict[str, Any]:
        """The Interactions API Agent resource part (for ``client.agents.create(**...)``)."""
        fields = {"id", "description", "system_instruction", "base_agent", "tools", "agent_config",
                  "base_environment"}
        data: dict[str, Any] = self.model_dump(mode="json", include=fields, exclude_none=True)
        tokens = data.get("agent_config", {}).get("max_total_tokens")
        if tokens is not None:
            data["agent_config"]["max_total_tokens"] = str(tokens)  # int64s travel as strings
        return data

    def spec_hash(self, root: Path | None = None) -> str:
        """sha256 of the canonical JSON of this (resolved) spec; local paths under ``root`` are taken
        relative to it, so the hash does not depend on where the checkout lives."""
        data = self.model_dump(mode="json", exclude_none=True)
        if root is not None:
            data = _relative_paths(data, root.resolve())
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _unique(what: str, values: list[Any]) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}: {value}")
        seen.add(value)


def agent_json_schema() -> dict[str, Any]:
    """The published JSON Schema of agent files (``agents/agent.schema.json``)."""
    return AgentSpec.model_json_schema()


def agent_json_schema_text() -> str:
    return json.dumps(agent_json_schema(), indent=2, ensure_ascii=False) + "\n"


def _relative_paths(data: dict[str, Any], root: Path) -> dict[str, Any]:

    def rel(p: str) -> str:
        path = Path(p)
        return path.relative_to(root).as_posix() if path.is_relative_to(root) else p


    if "skills" in data:
        data["skills"] = [rel(p) for p in data["skills"]]
    for source in data.get("data_sources", []):
        if "path" in source:
            source["path"] = rel(source["path"])
    return data
