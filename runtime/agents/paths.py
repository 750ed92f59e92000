"""Path types of agent files. Paths in an agent file are untrusted input.

* :data:`LocalPath` is a host file or folder (a skill, a data source). A relative path resolves
  against the folder of the agent file (validation context ``base_dir``); after resolving symlinks
  it must lie inside one of the allowed roots (context ``roots``, default: ``base_dir``), exist and
  be readable. Without a context only absolute, existing paths are accepted (a spec that was
  already resolved).
* :data:`WorkspacePath` is a place inside the sandbox workspace: relative, POSIX, no ``..``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, TypedDict

from pydantic import AfterValidator, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError


class PathContext(TypedDict, total=False):
    """Validation context of an agent file (``AgentSpec.model_validate(data, context=...)``)."""

    base_dir: Path
    """Folder of the agent file; relative paths resolve against it."""
    roots: Sequence[Path]
    """Folders local paths must stay inside (after resolving symlinks)."""


def _check_local(value: Path, info: ValidationInfo) -> Path:
    ctx: dict[str, Any] = info.context if isinstance(info.context, dict) else {}
    base_dir: Path | None = ctx.get("base_dir")
    if not value.is_absolute() and base_dir is None:
        raise PydanticCustomError(
            "path_context", "relative path '{path}' outside an agent file", {"path": str(value)}
        )
    resolved = (base_dir / value if base_dir is not None else value).resolve()
    roots: Sequence[Path] = ctx.get("roots") or ([base_dir] if base_dir is not None else [])
    if roots and not any(resolved.is_relative_to(root.resolve()) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise PydanticCustomError(
            "path_outside_roots", "'{path}' resolves outside the allowed folders ({allowed})",
            {"path": str(value), "allowed": allowed},
        )
    if not resolved.exists():
        raise PydanticCustomError("path_missing", "'{path}' does not exist ({resolved})",
                                  {"path": str(value), "resolved": str(resolved)})
    if not os.access(resolved, os.R_OK | (os.X_OK if resolved.is_dir() else 0)):
        raise PydanticCustomError("path_unreadable", "'{path}' is not readable", {"path": str(value)})
    return resolved


def check_workspace(value: str) -> str:
    """``value`` normalized; raises ``PydanticCustomError`` unless it is a relative POSIX path inside
    the workspace (not the workspace itself)."""
    if "\\" in value or "\x00" in value:
        raise PydanticCustomError("workspace_path", "'{path}' must be a POSIX path", {"path": value})
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts:
        raise PydanticCustomError(
            "workspace_path", "'{path}' must be relative to the workspace, without '..'", {"path": value}
        )
    normalized = str(path)
    if normalized in ("", "."):
        raise PydanticCustomError("workspace_path", "'{path}' names the workspace itself", {"path": value})
    return normalized


LocalPath = Annotated[Path, AfterValidator(_check_local), WithJsonSchema({"type": "string", "minLength": 1})]
WorkspacePath = Annotated[
    str,
    AfterValidator(check_workspace),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": r"^(?!/)(?!.*(^|/)\.\.(/|$)).+$"}),
]
