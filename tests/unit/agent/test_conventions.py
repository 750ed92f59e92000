"""Workspace conventions, read from a real (in-process) box: a workspace without ``.agents`` costs
one look and changes nothing; with it, AGENTS.md and skills reach the instruction; the three files
are read at once, and of two broken ones the first (AGENTS.md) is the one reported."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.agent.conventions import AGENTS_MD, CONVENTIONS_DIR, SKILLS_DIR, apply_conventions
from runtime.agent.loop import LoopConfig
from runtime.errors import InputError
from runtime.sandbox.base import SandboxSpec
from runtime.sandbox.local import LocalProvider, LocalSandbox
from runtime.tools.hooks import HOOKS_FILE
from runtime.tools.toolset import Toolset


@pytest.fixture
async def box() -> AsyncIterator[LocalSandbox]:
    async with LocalProvider() as provider:
        sandbox = await provider.create(SandboxSpec())
        async with sandbox:
            yield sandbox


def config() -> LoopConfig:
    return LoopConfig(model="gemini-test", system_instruction="base", toolset=Toolset.build(("files",)))


def test_every_convention_lives_under_the_folder_looked_at_first() -> None:
    assert all(p.startswith(f"{CONVENTIONS_DIR}/") for p in (AGENTS_MD, SKILLS_DIR, HOOKS_FILE))


async def test_a_workspace_without_conventions_keeps_the_config(box: LocalSandbox) -> None:
    await box.client.write_file("notes.txt", b"not a convention")
    before = config()
    assert await apply_conventions(before, box.client) is before


async def test_agents_md_and_skills_reach_the_instruction(box: LocalSandbox) -> None:
    await box.client.write_file(AGENTS_MD, b"Always answer in French.")
    await box.client.write_file(
        f"{SKILLS_DIR}/release/SKILL.md", b"---\nname: release\ndescription: cut a release\n---\nSteps.\n"
    )
    applied = await apply_conventions(config(), box.client)
    assert "Always answer in French." in applied.system_instruction
    assert "cut a release" in applied.system_instruction


async def test_of_two_broken_files_agents_md_is_reported(box: LocalSandbox) -> None:
    await box.client.write_file(AGENTS_MD, b"\xff\xfe not utf-8")
    await box.client.write_file(HOOKS_FILE, b"{not json")
    with pytest.raises(InputError, match=r"AGENTS\.md"):
        await apply_conventions(config(), box.client)
