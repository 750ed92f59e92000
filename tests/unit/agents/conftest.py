"""Helpers for agent tests: write agent folders in a temporary directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
AGENTS_DIR = REPO / "agents"

WriteFile = Callable[[str, str], Path]


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """``write("agents/a.yaml", yaml_text)`` creates the file under tmp_path (dedented) and returns it."""

    def _write(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def skill(tmp_path: Path) -> Callable[[str], Path]:
    """Creates ``agents/skills/<name>/SKILL.md`` and returns the folder."""

    def _skill(name: str) -> Path:
        folder = tmp_path / "agents" / "skills" / name
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Does {name}.\n---\n# {name}\n")
        return folder

    return _skill
