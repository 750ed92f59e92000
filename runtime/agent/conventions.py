"""Google's custom-agent conventions, read from the workspace when a run starts (spec §16):

- ``.agents/AGENTS.md`` is added to the system instruction;
- ``.agents/skills/<name>/SKILL.md`` are listed to the model as skills (read in place);
- ``.agents/hooks.json`` puts pre/post hooks around the sandbox's built-in tools
  (:mod:`runtime.tools.hooks`).

A missing file is no convention; a broken one (hooks that do not validate, a skill whose front
matter is not YAML) fails the run with a message naming the file, before the model is called.
"""

from __future__ import annotations

import asyncio
import dataclasses
import posixpath

from runtime.agent.loop import LoopConfig
from runtime.agent.prompt import SkillEntry, with_workspace_conventions
from runtime.agents.skills import SKILL_FILE, skill_description, valid_skill_name
from runtime.errors import InputError
from runtime.sandbox.client import SandboxdClient
from runtime.sandboxd.protocol import WORKSPACE
from runtime.tools.hooks import HOOKS_FILE, HookRunner, OutboundGuard, parse_hooks

CONVENTIONS_DIR = ".agents"
AGENTS_MD = f"{CONVENTIONS_DIR}/AGENTS.md"
SKILLS_DIR = f"{CONVENTIONS_DIR}/skills"
MAX_AGENTS_MD_BYTES = 256 * 1024
MAX_SKILLS = 100


async def apply_conventions(
    config: LoopConfig, box: SandboxdClient, *, guard: OutboundGuard | None = None
) -> LoopConfig:
    """``config`` with the workspace's conventions applied (the same object when there are none).

    Raises:
        InputError: a convention file is invalid (the message names it).
    """
    if not await _exists(box, CONVENTIONS_DIR):  # most workspaces: one round trip, not three
        return config
    agents_md, skills, hooks_data = await _read_conventions(box)
    update: dict[str, object] = {}
    if agents_md or skills:
        update["system_instruction"] = with_workspace_conventions(
            config.system_instruction, agents_md=agents_md, skills=skills
        )
    if hooks_data is not None:
        hooks = parse_hooks(hooks_data)
        if hooks:
            runner = HookRunner(hooks, guard)
            runner.check_handlers()
            update["toolset"] = config.toolset.with_hooks(runner)
    return dataclasses.replace(config, **update) if update else config  # type: ignore[arg-type]


async def _exists(box: SandboxdClient, path: str) -> bool:
    """Whether ``path`` is there (a refused path counts as missing, as for each file under it)."""
    try:
        await box.stat(path)
    except InputError:
        return False
    return True


async def _read_conventions(box: SandboxdClient) -> tuple[str | None, list[SkillEntry], bytes | None]:
    """AGENTS.md, the skills and the hooks file, read at once (three round trips to the box, in
    parallel: they come before the run's first model call). An error is raised in that order."""
    found = await asyncio.gather(
        _read_text(box, AGENTS_MD, MAX_AGENTS_MD_BYTES), discover_skills(box), _read(box, HOOKS_FILE),
        return_exceptions=True,
    )
    for item in found:
        if isinstance(item, BaseException):
            raise item
    agents_md, skills, hooks_data = found
    return agents_md, skills, hooks_data  # type: ignore[return-value]


async def discover_skills(box: SandboxdClient) -> list[SkillEntry]:
    """The skill folders under ``.agents/skills`` (each with a ``SKILL.md``), by name."""
    try:
        entries = await box.list_files(SKILLS_DIR)
    except InputError:  # no such folder
        return []
    skills: list[SkillEntry] = []
    for entry in sorted(entries, key=lambda e: e.path):
        name = posixpath.basename(entry.path)
        if entry.type != "directory" or not valid_skill_name(name):
            continue
        path = f"{SKILLS_DIR}/{name}/{SKILL_FILE}"
        text = await _read_text(box, path, MAX_AGENTS_MD_BYTES)
        if text is None:
            continue
        skills.append(SkillEntry(name, skill_description(text, path), f"{WORKSPACE}/{SKILLS_DIR}/{name}"))
        if len(skills) >= MAX_SKILLS:
            break
    return skills


async def _read(box: SandboxdClient, path: str) -> bytes | None:
    try:
        info = await box.stat(path)
    except InputError:
        return None
    if info.type != "file":
        return None
    return await box.read_file(path)


async def _read_text(box: SandboxdClient, path: str, limit: int) -> str | None:
    data = await _read(box, path)
    if data is None:
        return None
    if len(data) > limit:
        raise InputError(f"{path} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text") from e
