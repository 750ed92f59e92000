"""The system instruction: the agent's own instruction plus a short description of its sandbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SkillEntry:
    name: str
    description: str
    path: str


def system_instruction(
    instruction: str | None,
    *,
    tool_names: Sequence[str],
    skills: Sequence[SkillEntry] = (),
    network: bool = False,
    outputs: Sequence[str] = (),
) -> str:
    lines = [instruction.strip()] if instruction and instruction.strip() else []
    lines += [
        "",
        "## Your environment",
        "You work in a Linux sandbox (Debian, Python 3 with numpy and matplotlib, git, ripgrep, "
        "Chromium). Your workspace is /workspace; files you leave there are the run's results.",
        f"Tools: {', '.join(tool_names) or 'none'}.",
        "Network: "
        + ("outbound access is allowed." if network else "none; work with what is in the workspace."),
    ]
    if outputs:
        lines.append(f"The run must produce these files in the workspace: {', '.join(outputs)}.")
    if skills:
        lines += ["", "## Skills", "Read a skill's SKILL.md before using it (read-only folders):"]
        lines += [f"- {sk.name} ({sk.path}): {sk.description}" for sk in skills]
    return "\n".join(lines).strip()


def with_workspace_conventions(
    instruction: str, *, agents_md: str | None = None, skills: Sequence[SkillEntry] = ()
) -> str:
    """``instruction`` plus the workspace's ``.agents/AGENTS.md`` and ``.agents/skills``."""
    lines = [instruction]
    if agents_md and agents_md.strip():
        lines += ["", "## Workspace instructions (.agents/AGENTS.md)", agents_md.strip()]
    if skills:
        lines += ["", "## Workspace skills", "Read a skill's SKILL.md before using it:"]
        lines += [f"- {sk.name} ({sk.path}): {sk.description}" for sk in skills]
    return "\n".join(lines).strip()
