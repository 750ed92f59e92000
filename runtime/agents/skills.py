"""Skills: folders with a ``SKILL.md`` (and scripts), mounted read-only and listed to the model.

``SKILL.md`` may open with a YAML front matter giving ``name`` and ``description``; without it the
folder name and the first paragraph of the text are used. The model sees the list of names and
descriptions and reads a skill's files on demand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from runtime.errors import InputError

SKILL_FILE = "SKILL.md"
SKILLS_MOUNT = "/skills"
"""Where skills appear in the sandbox: ``/skills/<name>``."""

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    path: Path
    """Host folder."""

    @property
    def mount_path(self) -> str:
        return f"{SKILLS_MOUNT}/{self.name}"


def check_skill_dir(path: Path) -> Path:
    """``path`` if it is a skill folder; raises ``ValueError`` saying what is missing."""
    if not path.is_dir():
        raise ValueError(f"skill '{path}' is not a folder")
    if not (path / SKILL_FILE).is_file():
        raise ValueError(f"skill folder '{path}' has no {SKILL_FILE}")
    if not _NAME.match(path.name):
        raise ValueError(f"skill folder name '{path.name}' must be lowercase letters, digits, '.', '_', '-'")
    return path


def read_skill(path: Path) -> Skill:
    """Name and description of the skill in folder ``path``. Raises :class:`InputError` if unreadable."""
    try:
        text = (check_skill_dir(path) / SKILL_FILE).read_text(encoding="utf-8")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read skill {path}: {e}") from e
    return Skill(name=path.name, description=skill_description(text, str(path / SKILL_FILE)), path=path)


def valid_skill_name(name: str) -> bool:
    return _NAME.match(name) is not None


def skill_description(text: str, where: str) -> str:
    """The description of a ``SKILL.md`` (its front matter's, else its first paragraph).
    Raises :class:`InputError` for a front matter that is not YAML."""
    meta: dict[str, object] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            loaded = yaml.safe_load(match.group(1))
        except yaml.YAMLError as e:
            raise InputError(f"{where}: bad front matter: {e}") from e
        meta = loaded if isinstance(loaded, dict) else {}
        text = text[match.end():]
    description = str(meta.get("description") or _first_paragraph(text))
    return " ".join(description.split())


def _first_paragraph(text: str) -> str:
    for block in text.split("\n\n"):
        lines = [line for line in block.strip().splitlines() if not line.startswith("#")]
        if lines:
            return " ".join(lines)
    return ""
